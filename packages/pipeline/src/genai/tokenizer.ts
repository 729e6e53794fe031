import { QwenVLError } from '@qwen-vl/core';
import { IncrementalDetokenizer } from '@qwen-vl/decoder';
import { ChatTemplate, validateMessages } from '@qwen-vl/preprocess';
import type { ChatMessage, QwenTokenizer } from '@qwen-vl/preprocess';
import type { Model } from './model.js';
import { modelParts } from './model-parts.js';

export interface DecodeOptions {
  /** Leave out special tokens such as `<|im_end|>` (default true, as genai's decode does). */
  skipSpecialTokens?: boolean;
}

export interface ApplyChatTemplateOptions {
  /** End with the opening of an assistant turn (default true). */
  addGenerationPrompt?: boolean;
  /** A Jinja template to use instead of the model's own (genai's `template_str`). */
  templateStr?: string;
}

/**
 * onnxruntime-genai's `TokenizerStream`: turns generated tokens into text one token at a
 * time. `decode(token)` returns the text the token completes: '' while a UTF-8 character is
 * still partial (a byte-level token may hold part of one) and for special tokens.
 */
export class TokenizerStream {
  private readonly detokenizer: IncrementalDetokenizer;

  constructor(private readonly tokenizer: QwenTokenizer) {
    this.detokenizer = new IncrementalDetokenizer((ids) => tokenizer.decode(ids, { skipSpecialTokens: true }));
  }

  decode(token: number): string {
    checkTokenIds([token], 'TokenizerStream.decode token');
    return this.detokenizer.push(token);
  }
}

/** Checks that `ids` are token ids: integers ≥ 0; `source` names the argument. */
export function checkTokenIds(ids: ArrayLike<unknown>, source: string, vocabSize?: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || (vocabSize !== undefined && id >= vocabSize)) {
      const range = vocabSize === undefined ? 'an integer ≥ 0' : `an integer from 0 to ${vocabSize - 1} (the vocabulary)`;
      throw new QwenVLError('INVALID_ARGUMENT', `must hold token ids; entry ${i} is ${typeof id === 'number' ? id : typeof id}, not ${range}`, { source });
    }
  }
}

/** Parses genai's messages argument: a JSON string of chat messages (or the messages themselves). */
export function parseMessages(messages: string | readonly ChatMessage[], source: string): ChatMessage[] {
  let parsed: unknown = messages;
  if (typeof messages === 'string') {
    try {
      parsed = JSON.parse(messages);
    } catch (cause) {
      throw new QwenVLError('INVALID_ARGUMENT', `is not valid JSON (${(cause as Error).message})`, { source, cause });
    }
  }
  validateMessages(parsed, source);
  return parsed;
}

/**
 * onnxruntime-genai's `og.Tokenizer`: the model folder's tokenizer and chat template
 * (`@qwen-vl/preprocess`'s `QwenTokenizer` and `ChatTemplate`).
 */
export class Tokenizer {
  private constructor(
    private readonly tokenizer: QwenTokenizer,
    private readonly template: ChatTemplate,
  ) {}

  static async create(model: Model): Promise<Tokenizer> {
    const { processor } = modelParts(model, 'Tokenizer.create').preparer;
    return new Tokenizer(processor.tokenizer, processor.chatTemplate);
  }

  /** Token ids of `text`, special tokens such as `<|image_pad|>` as single ids, nothing added around it. */
  encode(text: string): Int32Array {
    if (typeof text !== 'string') throw new QwenVLError('INVALID_ARGUMENT', `must be a string, got ${typeof text}`, { source: 'Tokenizer.encode text' });
    return this.tokenizer.encode(text);
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    checkTokenIds(ids, 'Tokenizer.decode ids');
    return this.tokenizer.decode(ids, { skipSpecialTokens: options.skipSpecialTokens ?? true });
  }

  /**
   * The prompt of a conversation: `messages` is a JSON string of chat messages (genai's form;
   * an array of them does too), rendered with the model's chat template.
   */
  applyChatTemplate(messages: string | readonly ChatMessage[], options: ApplyChatTemplateOptions = {}): string {
    const parsed = parseMessages(messages, 'Tokenizer.applyChatTemplate messages');
    const template =
      options.templateStr === undefined || options.templateStr === '' ? this.template : new ChatTemplate(options.templateStr, 'Tokenizer.applyChatTemplate templateStr', this.tokenizer.specialTokens);
    return template.render(parsed, { addGenerationPrompt: options.addGenerationPrompt ?? true });
  }

  createStream(): TokenizerStream {
    return new TokenizerStream(this.tokenizer);
  }
}
