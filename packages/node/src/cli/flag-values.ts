import { UsageError } from './usage-error.js';

/** Numeric flag values, read strictly: a value that is not exactly a number of the asked kind is a UsageError naming the flag. */

/** A whole number of at least 1, written without sign or leading zeros; undefined when the flag is absent. */
export function positiveIntegerFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(value)) throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** A safe integer of at least `minimum`, digits only; undefined when the flag is absent. */
export function integerFlag(value: string | undefined, flag: string, minimum: number): number | undefined {
  if (value === undefined) return undefined;
  const parsed = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < minimum) throw new UsageError(`${flag} must be an integer ≥ ${minimum}, got ${JSON.stringify(value)}`);
  return parsed;
}

/** A finite number in any form `Number` reads (1, 0.5, 1e-3); undefined when the flag is absent. */
export function decimalFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(parsed)) throw new UsageError(`${flag} must be a number, got ${JSON.stringify(value)}`);
  return parsed;
}

/** One of `allowed`, exactly as written; undefined when the flag is absent. */
export function choiceFlag<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}
