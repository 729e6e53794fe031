/** A mistake in the command line itself: the CLI answers it with exit code 2 and a hint to --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `util.parseArgs` reports bad options as TypeErrors with an `ERR_PARSE_ARGS_*` code. */
export function isParseArgsError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
