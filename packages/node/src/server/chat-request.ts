import { QwenVLError } from '@qwen-vl/core';
import { checkWellFormed } from '@qwen-vl/preprocess';
import type { ChatRole } from '@qwen-vl/preprocess';
import type { SearchOptionNames, SearchOptionsInput } from '@qwen-vl/decoder';
import { ApiError, invalidField } from './errors.js';

/**
 * The body of `POST /v1/chat/completions`, read field by field: a field of the wrong type or
 * out of range is a 400 naming it (`param`), an unknown one too, so a misspelt option never
 * passes silently. Ranges the model's settings decide (top_p, the length against the context)
 * are checked afterwards by `resolveSearchOptions` with `REQUEST_OPTION_NAMES`.
 */

/** A part of a message's content: text, or an image given by URL (`data:`, `file:`, `http(s):`). */
export type RequestContentPart = { type: 'text'; text: string } | { type: 'image'; url: string; param: string };

export interface RequestMessage {
  role: ChatRole;
  /** System and assistant messages are text; a user message's parts keep their order. */
  content: string | RequestContentPart[];
}

export interface ChatCompletionRequest {
  model: string;
  messages: RequestMessage[];
  stream: boolean;
  /** `stream_options.include_usage`: a last chunk with the usage and no choices. */
  includeUsage: boolean;
  /** The search options the request sets; the others come from generation_config.json. */
  search: SearchOptionsInput;
  logprobs: boolean;
  /** Alternatives reported per token with `logprobs` (0 to 20). */
  topLogprobs: number;
}

/** How the request spells each search option, so that `resolveSearchOptions` names the request's field. */
export function requestOptionNames(maxTokensField: string): SearchOptionNames {
  const fields: Readonly<Record<string, string>> = {
    maxNewTokens: maxTokensField,
    maxLength: maxTokensField,
    temperature: 'temperature',
    doSample: 'temperature',
    greedy: 'temperature',
    topP: 'top_p',
    topK: 'top_k',
    repetitionPenalty: 'repetition_penalty',
    ignoreEos: 'ignore_eos',
    randomSeed: 'seed',
    stopStrings: 'stop',
  };
  return { option: (name) => fields[name] ?? name, greedy: '"temperature": 0' };
}

/** Fields of OpenAI's API accepted and ignored: they change nothing about the answer. */
const IGNORED_FIELDS: ReadonlySet<string> = new Set(['user', 'metadata', 'store', 'service_tier', 'parallel_tool_calls']);
/** Fields read below. `top_k`, `repetition_penalty` and `ignore_eos` are extensions (vLLM has them too). */
const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'top_k',
  'repetition_penalty',
  'ignore_eos',
  'seed',
  'stop',
  'n',
  'logprobs',
  'top_logprobs',
  'frequency_penalty',
  'presence_penalty',
  'logit_bias',
  'response_format',
  'tools',
  'tool_choice',
  'functions',
  'function_call',
  'modalities',
]);

const MAX_TOP_LOGPROBS = 20;
const MAX_STOP_STRINGS = 4;

type Body = Record<string, unknown>;

function isObject(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON null means "not given" for every optional field, as in OpenAI's API. */
function given(body: Body, field: string): boolean {
  return body[field] !== undefined && body[field] !== null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? 'a string' : `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  if (value === undefined) return 'nothing (the field is missing)';
  // Not JSON.stringify for numbers: one too large for a double parses to Infinity, which JSON writes as null.
  if (typeof value === 'number') return `number ${value}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function text(value: unknown, param: string): string {
  if (typeof value !== 'string') throw invalidField(param, `must be a string, got ${describe(value)}`, 'invalid_type');
  try {
    checkWellFormed(value, param);
  } catch (cause) {
    throw invalidField(param, cause instanceof QwenVLError ? cause.reason : String(cause));
  }
  return value;
}

function optionalBoolean(body: Body, field: string): boolean | undefined {
  if (!given(body, field)) return undefined;
  if (typeof body[field] !== 'boolean') throw invalidField(field, `must be true or false, got ${describe(body[field])}`, 'invalid_type');
  return body[field];
}

function optionalNumber(body: Body, field: string): number | undefined {
  if (!given(body, field)) return undefined;
  const value = body[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidField(field, `must be a number, got ${describe(value)}`, 'invalid_type');
  return value;
}

function optionalInteger(body: Body, field: string, minimum: number, maximum = Number.MAX_SAFE_INTEGER): number | undefined {
  const value = optionalNumber(body, field);
  if (value !== undefined && (!Number.isSafeInteger(value) || value < minimum || value > maximum)) {
    throw invalidField(field, `must be an integer from ${minimum}${maximum === Number.MAX_SAFE_INTEGER ? '' : ` to ${maximum}`}, got ${value}`);
  }
  return value;
}

/** Refuses a feature this server does not have, unless the field holds its "off" value. */
function unsupportedUnless(body: Body, field: string, isOff: (value: unknown) => boolean, why: string): void {
  if (given(body, field) && !isOff(body[field])) throw invalidField(field, `is not supported: ${why}`, 'unsupported_parameter');
}

function parseContentPart(part: unknown, role: ChatRole, param: string): RequestContentPart {
  if (!isObject(part)) throw invalidField(param, `must be a content part object, got ${describe(part)}`, 'invalid_type');
  if (part.type === 'text') return { type: 'text', text: text(part.text, `${param}.text`) };
  if (part.type === 'image_url') {
    if (role !== 'user') throw invalidField(`${param}.type`, `images are allowed in user messages only, not in a ${role} message`);
    const imageUrl = part.image_url;
    if (!isObject(imageUrl)) throw invalidField(`${param}.image_url`, `must be an object {"url": ...}, got ${describe(imageUrl)}`, 'invalid_type');
    const url = text(imageUrl.url, `${param}.image_url.url`);
    if (imageUrl.detail !== undefined && !['auto', 'low', 'high'].includes(imageUrl.detail as string)) {
      throw invalidField(`${param}.image_url.detail`, `must be "auto", "low" or "high", got ${describe(imageUrl.detail)}`);
    }
    return { type: 'image', url, param: `${param}.image_url.url` };
  }
  throw invalidField(`${param}.type`, `must be "text" or "image_url", got ${describe(part.type)}`, 'unsupported_content');
}

/** OpenAI's roles as the chat template knows them: "developer" is the newer name of "system". */
function parseRole(value: unknown, param: string): ChatRole {
  if (value === 'developer') return 'system';
  if (value === 'system' || value === 'user' || value === 'assistant') return value;
  if (value === 'tool' || value === 'function') throw invalidField(param, `"${value}" messages are not supported: this server does not call tools`, 'unsupported_value');
  throw invalidField(param, `must be "system", "developer", "user" or "assistant", got ${describe(value)}`);
}

function parseMessage(message: unknown, param: string): RequestMessage {
  if (!isObject(message)) throw invalidField(param, `must be a message object, got ${describe(message)}`, 'invalid_type');
  const role = parseRole(message.role, `${param}.role`);
  for (const field of ['tool_calls', 'function_call', 'audio']) {
    if (given(message, field)) throw invalidField(`${param}.${field}`, 'is not supported: this server does not call tools or make audio', 'unsupported_parameter');
  }
  const content = message.content;
  if (typeof content === 'string') return { role, content: text(content, `${param}.content`) };
  if (!Array.isArray(content) || content.length === 0) {
    throw invalidField(`${param}.content`, `must be a string or a non-empty array of content parts, got ${Array.isArray(content) ? 'an empty array' : describe(content)}`, 'invalid_type');
  }
  const parts = content.map((part, j) => parseContentPart(part, role, `${param}.content[${j}]`));
  // The template reads system and assistant turns as text: their parts are all text (checked above).
  if (role !== 'user') return { role, content: parts.map((part) => (part.type === 'text' ? part.text : '')).join('') };
  return { role, content: parts };
}

function parseMessages(value: unknown): RequestMessage[] {
  if (!Array.isArray(value) || value.length === 0)
    throw invalidField('messages', `must be a non-empty array of messages, got ${Array.isArray(value) ? 'an empty array' : describe(value)}`, 'invalid_type');
  const messages = value.map((message, i) => parseMessage(message, `messages[${i}]`));
  if (messages.filter((message) => message.role === 'system').length > 1) throw invalidField('messages', 'may hold one system (or developer) message only');
  if (messages.findIndex((message) => message.role === 'system') > 0) throw invalidField('messages', 'the system (or developer) message must come first');
  return messages;
}

function parseStop(body: Body): string[] | undefined {
  if (!given(body, 'stop')) return undefined;
  const stop = body.stop;
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || list.length > MAX_STOP_STRINGS || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw invalidField('stop', `must be a non-empty string or an array of up to ${MAX_STOP_STRINGS} of them, got ${describe(stop)}`);
  }
  return list.length === 0 ? undefined : (list as string[]);
}

/** `max_tokens` and its newer name `max_completion_tokens`; both may be given only with one value. */
function parseMaxTokens(body: Body): { maxNewTokens: number | undefined; field: string } {
  const maxTokens = optionalInteger(body, 'max_tokens', 1);
  const maxCompletionTokens = optionalInteger(body, 'max_completion_tokens', 1);
  if (maxTokens !== undefined && maxCompletionTokens !== undefined && maxTokens !== maxCompletionTokens) {
    throw invalidField('max_completion_tokens', `is ${maxCompletionTokens} but max_tokens is ${maxTokens}; give one of them`);
  }
  return maxCompletionTokens !== undefined ? { maxNewTokens: maxCompletionTokens, field: 'max_completion_tokens' } : { maxNewTokens: maxTokens, field: 'max_tokens' };
}

/**
 * The search options the request sets. `temperature: 0` is greedy decoding (what
 * `qwen-vl run --greedy` does); a temperature above 0 samples at it, whatever
 * generation_config.json's do_sample says. A field left out keeps generation_config.json's value.
 */
function parseSearch(body: Body, maxNewTokens: number | undefined): SearchOptionsInput {
  const temperature = optionalNumber(body, 'temperature');
  if (temperature !== undefined && (temperature < 0 || temperature > 2)) throw invalidField('temperature', `must be from 0 to 2, got ${temperature}`);
  const search: SearchOptionsInput = {
    maxNewTokens,
    ...(temperature === 0 && { greedy: true }),
    ...(temperature !== undefined && temperature > 0 && { doSample: true, temperature }),
    topP: optionalNumber(body, 'top_p'),
    topK: optionalInteger(body, 'top_k', 0),
    repetitionPenalty: optionalNumber(body, 'repetition_penalty'),
    ignoreEos: optionalBoolean(body, 'ignore_eos'),
    randomSeed: optionalInteger(body, 'seed', 0),
    stopStrings: parseStop(body),
  };
  return Object.fromEntries(Object.entries(search).filter(([, value]) => value !== undefined));
}

/** The request `body` (parsed JSON), checked; throws a 400 ApiError naming the first bad field. */
export function parseChatRequest(body: unknown): { request: ChatCompletionRequest; maxTokensField: string } {
  if (!isObject(body)) throw new ApiError(400, `the request body must be a JSON object, got ${describe(body)}`, { code: 'invalid_body' });
  for (const field of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(field) && !IGNORED_FIELDS.has(field)) throw invalidField(field, 'is not a parameter of this API (unrecognized request argument)', 'unknown_parameter');
  }
  if (typeof body.model !== 'string' || body.model === '') throw invalidField('model', `must be the model's id (GET /v1/models lists it), got ${describe(body.model)}`, 'invalid_type');
  const messages = parseMessages(body.messages);

  const n = optionalInteger(body, 'n', 1);
  if (n !== undefined && n !== 1) throw invalidField('n', `only 1 choice per request is supported, got ${n}`, 'unsupported_value');
  unsupportedUnless(body, 'frequency_penalty', (value) => value === 0, 'use repetition_penalty');
  unsupportedUnless(body, 'presence_penalty', (value) => value === 0, 'use repetition_penalty');
  unsupportedUnless(body, 'logit_bias', (value) => isObject(value) && Object.keys(value).length === 0, 'biasing tokens is not implemented');
  unsupportedUnless(body, 'response_format', (value) => isObject(value) && value.type === 'text', 'only {"type": "text"} answers are made');
  unsupportedUnless(body, 'modalities', (value) => Array.isArray(value) && value.every((m) => m === 'text'), 'only text answers are made');
  for (const field of ['tools', 'functions']) unsupportedUnless(body, field, (value) => Array.isArray(value) && value.length === 0, 'this server does not call tools');
  for (const field of ['tool_choice', 'function_call']) unsupportedUnless(body, field, (value) => value === 'none', 'this server does not call tools');

  const stream = optionalBoolean(body, 'stream') ?? false;
  let includeUsage = false;
  if (given(body, 'stream_options')) {
    if (!stream) throw invalidField('stream_options', 'is only allowed with "stream": true');
    const options = body.stream_options;
    if (!isObject(options)) throw invalidField('stream_options', `must be an object, got ${describe(options)}`, 'invalid_type');
    if (given(options, 'include_usage') && typeof options.include_usage !== 'boolean') {
      throw invalidField('stream_options.include_usage', `must be true or false, got ${describe(options.include_usage)}`, 'invalid_type');
    }
    includeUsage = options.include_usage === true;
  }
  const logprobs = optionalBoolean(body, 'logprobs') ?? false;
  const topLogprobs = optionalInteger(body, 'top_logprobs', 0, MAX_TOP_LOGPROBS) ?? 0;
  if (topLogprobs > 0 && !logprobs) throw invalidField('top_logprobs', 'needs "logprobs": true');

  const { maxNewTokens, field } = parseMaxTokens(body);
  return {
    request: { model: body.model, messages, stream, includeUsage, search: parseSearch(body, maxNewTokens), logprobs, topLogprobs },
    maxTokensField: field,
  };
}
