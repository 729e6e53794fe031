import { randomUUID } from 'node:crypto';
import type { FinishReason } from '@qwen-vl/decoder';
import type { TokenLogprob } from './logprobs.js';

/** What every object of one completion repeats. */
export interface CompletionIdentity {
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
  readonly model: string;
}

export function completionIdentity(model: string): CompletionIdentity {
  return { id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model };
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usage(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

/** OpenAI's finish reasons: an end-of-sequence token and a stop string are both "stop". */
export function openAIFinishReason(reason: FinishReason): 'stop' | 'length' {
  return reason === 'length' ? 'length' : 'stop';
}

function logprobsField(logprobs: TokenLogprob[] | undefined) {
  return logprobs === undefined ? null : { content: logprobs, refusal: null };
}

/** The `chat.completion` object of a whole answer. */
export function completionObject(identity: CompletionIdentity, text: string, finishReason: FinishReason, logprobs: TokenLogprob[] | undefined, tokens: Usage) {
  return {
    ...identity,
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: logprobsField(logprobs), finish_reason: openAIFinishReason(finishReason) }],
    usage: tokens,
  };
}

/**
 * One `chat.completion.chunk`: a piece of the answer (`delta`), or with `finishReason` the
 * last one of the choice. With `stream_options.include_usage` every chunk carries
 * `usage: null` and a last chunk without choices carries the usage (`usageChunk`).
 */
export function chunkObject(identity: CompletionIdentity, delta: { role?: 'assistant'; content?: string }, options: { finishReason?: FinishReason; logprobs?: TokenLogprob[]; includeUsage: boolean }) {
  return {
    ...identity,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: logprobsField(options.logprobs), finish_reason: options.finishReason === undefined ? null : openAIFinishReason(options.finishReason) }],
    ...(options.includeUsage && { usage: null }),
  };
}

export function usageChunk(identity: CompletionIdentity, tokens: Usage) {
  return { ...identity, object: 'chat.completion.chunk', choices: [], usage: tokens };
}
