/**
 * The error function to float64 accuracy (|err| < 1e-15 in tests), for the exact-erf GELU of
 * the patch merger. Two expansions, each used where it converges fast and stays free of
 * cancellation:
 *  - |x| < 3: erf(x) = 2/√π · e^(−x²) · Σ (2x²)^n · x / (1·3·…·(2n+1)), all terms positive.
 *  - |x| ≥ 3: erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated
 *    backwards from a fixed depth, which is far more than enough at x ≥ 3.
 */
const SERIES_LIMIT = 3;
const CONTINUED_FRACTION_DEPTH = 60;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** For 0 ≤ x: the loop's stopping test relies on positive terms. */
function erfSeries(x: number): number {
  const twoX2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= twoX2 / (2 * n + 1);
    sum += term;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
}

function erfcContinuedFraction(x: number): number {
  let tail = x;
  for (let k = CONTINUED_FRACTION_DEPTH; k >= 1; k--) tail = x + k / 2 / tail;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / tail;
}

export function erf(x: number): number {
  const a = Math.abs(x);
  const value = a < SERIES_LIMIT ? erfSeries(a) : 1 - erfcContinuedFraction(a);
  return x < 0 ? -value : value;
}

/** 1 − erf(x), accurate also where erf(x) rounds to ±1. */
export function erfc(x: number): number {
  if (x >= SERIES_LIMIT) return erfcContinuedFraction(x);
  return 1 - erf(x);
}

/** nn.GELU's default (approximate = 'none'): x · Φ(x), with Φ written through erfc so that
 * large negative inputs keep their tiny, non-zero output. */
export function gelu(x: number): number {
  return 0.5 * x * erfc(-x / Math.SQRT2);
}
