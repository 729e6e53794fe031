/**
 * Every failure the library reports on purpose is a `QwenVLError`: callers can branch on
 * `code`, and `source` names the file, field or argument at fault so the message is
 * actionable without a stack trace.
 */
export type QwenVLErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_CONFIG'
  | 'MISSING_FILE'
  | 'INVALID_IMAGE'
  | 'UNSUPPORTED_IMAGE'
  | 'PLACEHOLDER_MISMATCH'
  | 'PROMPT_TOO_LONG'
  | 'INVALID_TEMPLATE'
  | 'INVALID_WEIGHTS'
  | 'INVALID_MODEL'
  | 'BACKEND_UNAVAILABLE'
  | 'ABORTED';

export class QwenVLError extends Error {
  readonly code: QwenVLErrorCode;
  /** The file, config field or argument the error is about, when there is one. */
  readonly source: string | undefined;
  /**
   * What is wrong, without the source: `message` is `${source}: ${reason}` when there is a
   * source, the reason alone when there is none.
   */
  readonly reason: string;

  constructor(code: QwenVLErrorCode, reason: string, options: { source?: string; cause?: unknown } = {}) {
    super(options.source !== undefined ? `${options.source}: ${reason}` : reason, { cause: options.cause });
    this.name = 'QwenVLError';
    this.code = code;
    this.source = options.source;
    this.reason = reason;
  }

  /**
   * The same failure reported about another source, for a caller that knows better what the
   * file, field or argument is called: code, reason and cause are kept. `undefined` gives the
   * error without a source.
   */
  withSource(source: string | undefined): QwenVLError {
    return new QwenVLError(this.code, this.reason, { source, cause: this.cause });
  }
}

export function isQwenVLError(value: unknown, code?: QwenVLErrorCode): value is QwenVLError {
  return value instanceof QwenVLError && (code === undefined || value.code === code);
}

/**
 * An error as it crosses to another thread (a worker's message): structured cloning keeps
 * neither a QwenVLError's class nor its code and source.
 */
export type PostedError =
  | { readonly kind: 'qwen-vl'; readonly code: QwenVLErrorCode; readonly reason: string; readonly source: string | undefined }
  | { readonly kind: 'other'; readonly name: string; readonly message: string };

export function postedError(error: unknown): PostedError {
  if (error instanceof QwenVLError) return { kind: 'qwen-vl', code: error.code, reason: error.reason, source: error.source };
  return error instanceof Error ? { kind: 'other', name: error.name, message: error.message } : { kind: 'other', name: 'Error', message: String(error) };
}

/** The error another thread posted, as this thread's own: a QwenVLError keeps its code, source and message. */
export function receivedError(posted: PostedError): Error {
  if (posted.kind === 'qwen-vl') return new QwenVLError(posted.code, posted.reason, { source: posted.source });
  const error = new Error(posted.message);
  error.name = posted.name;
  return error;
}
