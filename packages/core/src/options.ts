import { QwenVLError } from './errors.js';

/**
 * Checks an options argument as TypeScript would for a typed caller, for every caller:
 * `undefined`, or an object whose every key is one of `known`. A misspelt option would
 * otherwise be ignored without a word. Throws INVALID_ARGUMENT naming `source` (and the key).
 */
export function checkOptionNames(options: unknown, known: readonly string[], source: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be an object, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`, { source });
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new QwenVLError('INVALID_ARGUMENT', `is not an option here; the options are ${known.join(', ')}`, { source: `${source}.${key}` });
  }
}
