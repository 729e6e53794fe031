/**
 * Below this exponent `expNonPositive` returns 0. As a softmax weight (logit − max) such a
 * term is under 4.3e-18 of the largest one, so even 150k of them move a softmax sum by less
 * than 1e-12; skipping them makes a peaked row's sum nearly free.
 */
export const NEGLIGIBLE_EXPONENT = -40;

/**
 * e^x for the x ≤ 0 that softmax sums see (a logit minus the row's largest), within 2.6e-9
 * relative error, and 0 below `NEGLIGIBLE_EXPONENT`. Summing 150k of them is the largest
 * per-token cost of a logprob or of a draw over the whole vocabulary, and Math.exp, exact to
 * the last bit, costs about twice as much there. The error is far below the float32
 * resolution of the logits.
 *
 * e^x = 2^d with d = x·log2(e) = k + f, k the nearest integer and |f| ≤ 1/2; 2^k comes from a
 * table and 2^f from a degree-6 polynomial interpolating it at the Chebyshev nodes of
 * [-1/2, 1/2] (coefficients from numpy.polyfit on those 7 nodes). The middle node is 0, so
 * e^0 is exactly 1. NaN stays NaN.
 */
export function expNonPositive(x: number): number {
  if (x < NEGLIGIBLE_EXPONENT) return 0;
  const d = x * Math.LOG2E;
  // n = -k = round(-d), computed as an int32 so that the table index is never -0 or a double.
  const n = (0.5 - d) | 0;
  const f = d + n;
  const twoToF = 1 + f * (C1 + f * (C2 + f * (C3 + f * (C4 + f * (C5 + f * C6)))));
  return twoToF * TWO_TO_MINUS[n];
}

/** 2^-n for every n that a non-negligible x can round to. */
const TWO_TO_MINUS = Float64Array.from({ length: Math.ceil(-NEGLIGIBLE_EXPONENT * Math.LOG2E) + 1 }, (_, n) => 2 ** -n);

const C1 = 0.6931472067028333;
const C2 = 0.24022650922288005;
const C3 = 0.055503272266688435;
const C4 = 0.00961805667859009;
const C5 = 0.0013400428178361574;
const C6 = 0.00015461444683652947;
