import { QwenVLError } from '@qwen-vl/core';
import { NEGLIGIBLE_EXPONENT, expNonPositive } from './fast-exp.js';
import type { SearchOptions } from './search-options.js';

/**
 * Hugging Face's logits processors and warpers for one row of logits (one vocabulary-sized
 * vector). Each step works in place, so the generation loop runs them in buffers it reuses
 * from token to token (`TokenChooser`); the exported `apply…` / `…Filter` / `processLogits`
 * functions run the same steps on a copy and leave their input untouched, so a row can be a
 * `subarray` view into the model's output.
 */

/**
 * The score of a token a processor has ruled out. A constant, not the expression
 * `-Infinity`, in the loops over the vocabulary: that is a negation, and in V8 (Node 20) one
 * without type feedback yet can deoptimise a long loop compiled on stack again on every call.
 */
export const FILTERED = -Infinity;

/** What the processors read of a row's history. */
export interface TokenHistory {
  /** Every token id of the sequence so far (prompt included), each once. */
  readonly distinctIds: Iterable<number>;
  /** Tokens in the sequence so far, prompt included. */
  readonly sequenceLength: number;
}

/**
 * For each distinct token id in the sequence so far (prompt included), a positive logit is
 * divided by `penalty` and any other is multiplied by it, making repeated tokens less likely
 * in both cases. A token that occurs many times is penalised once, as HF's gather/scatter does.
 */
export function applyRepetitionPenalty(logits: Float32Array, previousTokenIds: ArrayLike<number>, penalty: number): Float32Array {
  const out = logits.slice();
  if (penalty !== 1) penalizeRepeats(out, new Set(Array.from(previousTokenIds)), penalty);
  return out;
}

function penalizeRepeats(scores: Float32Array, distinctIds: Iterable<number>, penalty: number): void {
  for (const id of distinctIds) {
    if (!Number.isInteger(id) || id < 0 || id >= scores.length) {
      throw new QwenVLError('INVALID_ARGUMENT', `token id ${id} is outside the vocabulary of ${scores.length}`, {
        source: 'applyRepetitionPenalty previousTokenIds',
      });
    }
    const value = scores[id];
    scores[id] = value > 0 ? value / penalty : value * penalty;
  }
}

/**
 * Forbids EOS while the sequence (prompt + generated tokens, as HF's MinLengthLogitsProcessor
 * and genai count it) is shorter than `minLength`.
 */
export function applyMinLength(logits: Float32Array, sequenceLength: number, minLength: number, eosTokenIds: readonly number[]): Float32Array {
  const out = logits.slice();
  if (sequenceLength < minLength) forbidTokens(out, eosTokenIds);
  return out;
}

function forbidTokens(scores: Float32Array, ids: readonly number[]): void {
  for (const id of ids) {
    if (id >= scores.length) {
      throw new QwenVLError('INVALID_ARGUMENT', `EOS token id ${id} is outside the vocabulary of ${scores.length}`, { source: 'applyMinLength eosTokenIds' });
    }
    scores[id] = FILTERED;
  }
}

export function applyTemperature(logits: Float32Array, temperature: number): Float32Array {
  const out = logits.slice();
  divideBy(out, temperature);
  return out;
}

function divideBy(scores: Float32Array, temperature: number): void {
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a finite number > 0, got ${temperature}`, { source: 'applyTemperature temperature' });
  }
  if (temperature === 1) return;
  const max = maxScore(scores);
  if (Number.isFinite(max) && !Number.isFinite(Math.fround(max / temperature))) {
    // A temperature so small that the top score overflows float32 (1e-300) would give
    // softmax(±∞) = NaN. Softmax ignores a shift, so dividing `score − max` instead keeps
    // the distribution and its limit: the top scores at 0, the rest far below, as greedy.
    for (let i = 0; i < scores.length; i++) scores[i] = (scores[i] - max) / temperature;
    return;
  }
  for (let i = 0; i < scores.length; i++) scores[i] = scores[i] / temperature;
}

function maxScore(scores: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
  return max;
}

/**
 * The k-th largest value, found with a size-k min-heap in one pass: O(V log k) and, for a
 * peaked distribution, barely more than V comparisons, instead of sorting the whole vocabulary.
 */
function kthLargest(values: Float32Array, k: number): number {
  const heap = new Float64Array(k);
  for (let i = 0; i < k; i++) heap[i] = values[i];
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDownMin(heap, i);
  let smallestKept = heap[0];
  for (let i = k; i < values.length; i++) {
    if (values[i] > smallestKept) {
      heap[0] = values[i];
      siftDownMin(heap, 0);
      smallestKept = heap[0];
    }
  }
  return smallestKept;
}

/** Moves `heap[start]` down until the min-heap below it is in order again. */
function siftDownMin(heap: Float64Array, start: number): void {
  const k = heap.length;
  let i = start;
  const moving = heap[i];
  for (;;) {
    const left = 2 * i + 1;
    if (left >= k) break;
    const child = left + 1 < k && heap[left + 1] < heap[left] ? left + 1 : left;
    if (heap[child] >= moving) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = moving;
}

/**
 * Keeps the `k` largest logits and sets the rest to -Infinity; like HF's TopKLogitsWarper,
 * every logit equal to the k-th largest survives, so ties can keep more than k. `k` = 0 or
 * k ≥ V keeps everything.
 */
export function topKFilter(logits: Float32Array, k: number): Float32Array {
  const ids = new Int32Array(logits.length);
  const scores = new Float32Array(logits.length);
  const count = gatherTopK(logits, k, ids, scores);
  const out = new Float32Array(logits.length).fill(FILTERED);
  for (let j = 0; j < count; j++) out[ids[j]] = scores[j];
  return out;
}

/**
 * What `topKFilter` keeps, listed rather than written over the whole row: the ids of the
 * tokens still possible in ascending order in `ids`, their scores in `scores`, and how many
 * there are as the result. A draw or top-p over those few then costs next to nothing.
 */
export function gatherTopK(logits: Float32Array, k: number, ids: Int32Array, scores: Float32Array): number {
  const threshold = k === 0 || k >= logits.length ? FILTERED : kthLargest(logits, k);
  let count = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i];
    if (x >= threshold && x !== FILTERED) {
      ids[count] = i;
      scores[count++] = x;
    }
  }
  return count;
}

/**
 * The largest logit and the sum of e^(logit − max): softmax is e^(x − max) / total, and no
 * term can overflow. Throws when every logit is -Infinity (no token is possible).
 */
export function softmaxNormaliser(logits: Float32Array): { max: number; total: number } {
  const normaliser = sumOfExponentials(logits);
  if (normaliser.total === 0) {
    throw new QwenVLError('INVALID_ARGUMENT', `all ${logits.length} logits are -Infinity (or the row is empty): no token is possible`, { source: 'logits' });
  }
  return normaliser;
}

/**
 * One pass: the sum is kept relative to the largest value seen so far and rescaled when a
 * larger one turns up (a few dozen times in 150k logits in any order), so the vocabulary is
 * read once. Filtered entries add nothing. Every check is left to the caller: V8 compiles
 * this loop on stack, and code after such a loop that deoptimises tends to do so on every call.
 */
function sumOfExponentials(logits: Float32Array): { max: number; total: number } {
  let max = FILTERED;
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i];
    if (x > max) {
      total = total * Math.exp(max - x) + 1;
      max = x;
    } else if (x !== FILTERED) {
      total += expNonPositive(x - max);
    }
  }
  return { max, total };
}

/**
 * HF's TopPLogitsWarper: sort ascending, accumulate the softmax, and remove every token whose
 * cumulative probability is ≤ 1 − p, always keeping the most likely one. The removed set is a
 * low-probability tail, so this walks the tokens from the most likely down (a heap over the
 * tokens heavy enough to matter) and stops once the rest is the tail — without sorting V.
 * A token is kept when the probability at or below it, 1 − (mass ranked above it), exceeds
 * 1 − p.
 */
export function topPFilter(logits: Float32Array, p: number): Float32Array {
  const out = logits.slice();
  keepTopP(out, p);
  return out;
}

/** Filters, in place, what `topPFilter` removes; `scores` may be a whole row or the survivors listed by `gatherTopK`. */
export function keepTopP(scores: Float32Array, p: number): void {
  if (p >= 1) return;
  const { max, total } = softmaxNormaliser(scores);
  const tailMass = (1 - p) * total;
  // Every token lighter than tailMass / n is in the tail, whatever the others weigh: all of them
  // together weigh less than tailMass. Only the heavier ones (after top-k, or from a peaked
  // distribution, a handful) need ranking. The margin covers the rounding of the weights.
  // Tokens of negligible weight (0 to expNonPositive) go too, as zero-probability tokens do.
  const lightBelow = max + Math.max(Math.log(tailMass / scores.length) - 1e-6, NEGLIGIBLE_EXPONENT);
  const heavy = countAtLeast(scores, lightBelow);
  const ids = new Int32Array(heavy);
  const weights = new Float64Array(heavy);
  weighHeavyTokens(scores, max, lightBelow, ids, weights);
  const heap = new ProbabilityHeap(weights);
  let massAbove = 0;
  while (heap.size > 0 && total - massAbove > tailMass) massAbove += weights[heap.pop()];
  for (const candidate of heap.remaining()) scores[ids[candidate]] = FILTERED;
}

function countAtLeast(scores: Float32Array, bound: number): number {
  let count = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] >= bound) count++;
  return count;
}

/**
 * Lists the tokens at or above `lightBelow` with their weights e^(x − max) in `ids` and
 * `weights` (ascending ids; `countAtLeast` sized them) and filters the rest.
 */
function weighHeavyTokens(scores: Float32Array, max: number, lightBelow: number, ids: Int32Array, weights: Float64Array): void {
  let count = 0;
  for (let i = 0; i < scores.length; i++) {
    const x = scores[i];
    if (x >= lightBelow) {
      ids[count] = i;
      weights[count++] = expNonPositive(x - max);
    } else {
      scores[i] = FILTERED;
    }
  }
}

/**
 * A binary max-heap of candidates 0 … n−1 by weight, built in O(n) so that only the popped
 * head costs log n. Candidates are numbered in ascending token id order, and equal weights
 * are ranked as a stable ascending sort ranks them (torch's CPU sort): the higher id counts
 * as more likely, so top-p removes the lower id first.
 */
class ProbabilityHeap {
  private readonly order: Int32Array;
  size: number;

  constructor(private readonly weights: Float64Array) {
    this.size = weights.length;
    this.order = new Int32Array(this.size);
    for (let i = 0; i < this.size; i++) this.order[i] = i;
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  pop(): number {
    const top = this.order[0];
    this.size--;
    if (this.size > 0) {
      this.order[0] = this.order[this.size];
      this.siftDown(0);
    }
    return top;
  }

  /** The candidates not popped yet, in no particular order. */
  remaining(): Int32Array {
    return this.order.subarray(0, this.size);
  }

  private before(a: number, b: number): boolean {
    const wa = this.weights[a];
    const wb = this.weights[b];
    return wa > wb || (wa === wb && a > b);
  }

  private siftDown(start: number): void {
    const order = this.order;
    let i = start;
    const moving = order[i];
    for (;;) {
      const left = 2 * i + 1;
      if (left >= this.size) break;
      const right = left + 1;
      const child = right < this.size && this.before(order[right], order[left]) ? right : left;
      if (!this.before(order[child], moving)) break;
      order[i] = order[child];
      i = child;
    }
    order[i] = moving;
  }
}

/** Probabilities of the row, in float64 so that sampling sums stay exact enough over 150k tokens. */
export function softmax(logits: Float32Array): Float64Array {
  const { max, total } = softmaxNormaliser(logits);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = expNonPositive(logits[i] - max) / total;
  return out;
}

export function logSoftmax(logits: Float32Array): Float32Array {
  const { max, total } = softmaxNormaliser(logits);
  const logTotal = max + Math.log(total);
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - logTotal;
  return out;
}

/** Index of the largest logit; the lowest index wins ties, as torch.argmax does. */
export function argmax(logits: Float32Array): number {
  if (logits.length === 0) {
    throw new QwenVLError('INVALID_ARGUMENT', 'is empty', { source: 'argmax logits' });
  }
  let best = 0;
  let bestValue = logits[0];
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > bestValue) {
      best = i;
      bestValue = logits[i];
    }
  }
  return best;
}

/**
 * All processors for one row in Hugging Face's order: repetition penalty and min length
 * always; temperature → top-k → top-p only when sampling (HF leaves greedy logits unwarped).
 * `sequence` is every token id of the row so far, prompt included.
 */
export function processLogits(logits: Float32Array, options: SearchOptions, sequence: ArrayLike<number>): Float32Array {
  const processed = logits.slice();
  applyProcessors(processed, options, { distinctIds: new Set(Array.from(sequence)), sequenceLength: sequence.length });
  if (!options.doSample) return processed;
  const out = topKFilter(processed, options.topK);
  keepTopP(out, options.topP);
  return out;
}

/**
 * Whether `applyProcessors` would leave the row as it is: no repetition penalty, min length
 * reached, and no temperature to apply. Then greedy search needs no copy of the logits at all.
 */
export function processorsChangeNothing(options: SearchOptions, history: TokenHistory): boolean {
  return options.repetitionPenalty === 1 && history.sequenceLength >= options.minLength && (!options.doSample || options.temperature === 1);
}

/** The processors before top-k and top-p, in place: repetition penalty, min length, and the temperature when sampling. */
export function applyProcessors(scores: Float32Array, options: SearchOptions, history: TokenHistory): void {
  if (options.repetitionPenalty !== 1) penalizeRepeats(scores, history.distinctIds, options.repetitionPenalty);
  if (history.sequenceLength < options.minLength) forbidTokens(scores, options.eosTokenIds);
  if (options.doSample) divideBy(scores, options.temperature);
}
