import { QwenVLError } from '@qwen-vl/core';
import type { QwenVLErrorCode } from '@qwen-vl/core';

/** The `type` of an OpenAI error object; clients branch on the HTTP status, this says the family. */
export type ApiErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_error' | 'server_error' | 'unavailable_error';

/** The body OpenAI's API answers a failure with, which its clients parse. */
export interface ApiErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

export interface ApiErrorOptions {
  /** The request field at fault, as the request spells it (`messages[0].content[1].image_url.url`). */
  param?: string;
  /** A stable machine-readable code (`invalid_value`, `image_too_large`, `queue_full`, ...). */
  code?: string;
  /** Seconds to wait before retrying (429, 503): sent as `Retry-After`. */
  retryAfter?: number;
  cause?: unknown;
}

const TYPE_OF_STATUS: Readonly<Record<number, ApiErrorType>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  503: 'unavailable_error',
};

/** A failure the server answers with `status` and an OpenAI-shaped body. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly param: string | undefined;
  readonly code: string | undefined;
  readonly retryAfter: number | undefined;

  constructor(
    readonly status: number,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.param = options.param;
    this.code = options.code;
    this.retryAfter = options.retryAfter;
  }

  get type(): ApiErrorType {
    return TYPE_OF_STATUS[this.status] ?? (this.status >= 500 ? 'server_error' : 'invalid_request_error');
  }

  body(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param ?? null, code: this.code ?? null } };
  }
}

/** A bad request field: 400 naming it. */
export function invalidField(param: string, message: string, code = 'invalid_value'): ApiError {
  return new ApiError(400, `${param}: ${message}`, { param, code });
}

/** The library's errors that a request caused (a bad image, a prompt too long): 400; anything else is the server's fault. */
const CLIENT_CODES: ReadonlySet<QwenVLErrorCode> = new Set(['INVALID_ARGUMENT', 'INVALID_IMAGE', 'UNSUPPORTED_IMAGE', 'PLACEHOLDER_MISMATCH', 'PROMPT_TOO_LONG']);

/**
 * Any failure as an ApiError: ApiErrors as they are, a QwenVLError a request caused as a 400
 * (about `param(source)`, the request's name for what the library called `source`, when given),
 * everything else as a 500 whose message does not leak internals.
 */
export function toApiError(error: unknown, param: (source: string | undefined) => string | undefined = (source) => source): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof QwenVLError && CLIENT_CODES.has(error.code)) {
    const field = param(error.source);
    return new ApiError(400, field === undefined ? error.reason : `${field}: ${error.reason}`, { param: field, code: error.code.toLowerCase(), cause: error });
  }
  return new ApiError(500, 'the server failed to answer this request; see its log', { code: 'internal_error', cause: error });
}
