import { isQwenVLError } from '@qwen-vl/core';
import type { QwenVLErrorCode } from '@qwen-vl/core';

/**
 * Asserts that `fn` throws a QwenVLError with `code` whose message matches `pattern`; throws
 * an Error saying what came instead, so it works under any test runner.
 */
export function expectQwenVLError(fn: () => unknown, code: QwenVLErrorCode, pattern: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error(`expected a QwenVLError ${code}, but nothing was thrown`);
  if (!isQwenVLError(thrown, code)) throw new Error(`expected a QwenVLError ${code}, got ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : typeof thrown}`);
  if (!pattern.test(thrown.message)) throw new Error(`expected the ${code} message to match ${String(pattern)}, got ${JSON.stringify(thrown.message)}`);
}
