import { QwenVLError } from '@qwen-vl/core';
import type { SearchOptions } from './search-options.js';

/**
 * Hugging Face's logits processors and warpers for one row of logits (one vocabulary-sized
 * vector). Each function leaves its input untouched and returns a new array, so a row can be
 * a `subarray` view into the model's `[B, S, V]` output.
 */

/**
 * For each distinct token id in the sequence so far (prompt included), a positive logit is
 * divided by `penalty` and any other is multiplied by it, making repeated tokens less likely
 * in both cases. A token that occurs many times is penalised once, as HF's gather/scatter does.
 */
export function applyRepetitionPenalty(logits: Float32Array, previousTokenIds: ArrayLike<number>, penalty: number): Float32Array {
  const out = logits.slice();
  if (penalty === 1) return out;
  const seen = new Set<number>();
  for (let i = 0; i < previousTokenIds.length; i++) {
    const id = previousTokenIds[i];
    if (seen.has(id)) continue;
    if (!Number.isInteger(id) || id < 0 || id >= logits.length) {
      throw new QwenVLError('INVALID_ARGUMENT', `token id ${id} at position ${i} is outside the vocabulary of ${logits.length}`, {
        source: 'applyRepetitionPenalty previousTokenIds',
      });
    }
    seen.add(id);
    const value = logits[id];
    out[id] = value > 0 ? value / penalty : value * penalty;
  }
  return out;
}

/**
 * Forbids EOS while the sequence (prompt + generated tokens, as HF's MinLengthLogitsProcessor
 * and genai count it) is shorter than `minLength`.
 */
export function applyMinLength(logits: Float32Array, sequenceLength: number, minLength: number, eosTokenIds: readonly number[]): Float32Array {
  const out = logits.slice();
  if (sequenceLength >= minLength) return out;
  for (const id of eosTokenIds) {
    if (id >= out.length) {
      throw new QwenVLError('INVALID_ARGUMENT', `EOS token id ${id} is outside the vocabulary of ${out.length}`, { source: 'applyMinLength eosTokenIds' });
    }
    out[id] = -Infinity;
  }
  return out;
}

export function applyTemperature(logits: Float32Array, temperature: number): Float32Array {
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be a finite number > 0, got ${temperature}`, { source: 'applyTemperature temperature' });
  }
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] / temperature;
  return out;
}

/**
 * The k-th largest value, found with a size-k min-heap in one pass: O(V log k) and, for a
 * peaked distribution, barely more than V comparisons, instead of sorting the whole vocabulary.
 */
function kthLargest(values: Float32Array, k: number): number {
  const heap = new Float64Array(k);
  const siftDown = (start: number): void => {
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
  };
  for (let i = 0; i < k; i++) heap[i] = values[i];
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(i);
  for (let i = k; i < values.length; i++) {
    if (values[i] > heap[0]) {
      heap[0] = values[i];
      siftDown(0);
    }
  }
  return heap[0];
}

/**
 * Keeps the `k` largest logits and sets the rest to -Infinity; like HF's TopKLogitsWarper,
 * every logit equal to the k-th largest survives, so ties can keep more than k. `k` = 0 or
 * k ≥ V keeps everything.
 */
export function topKFilter(logits: Float32Array, k: number): Float32Array {
  const out = logits.slice();
  if (k === 0 || k >= logits.length) return out;
  const threshold = kthLargest(logits, k);
  for (let i = 0; i < out.length; i++) {
    if (out[i] < threshold) out[i] = -Infinity;
  }
  return out;
}

/**
 * exp(logit − max) for every entry, and their sum: unnormalised probabilities that cannot
 * overflow. Filtered (-Infinity) entries get weight 0 without an exp, which after top-k is
 * nearly the whole vocabulary. Shared with the sampler, which needs no normalised copy.
 */
export function softmaxWeights(logits: Float32Array): { weights: Float64Array; total: number; max: number } {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (max === -Infinity) {
    throw new QwenVLError('INVALID_ARGUMENT', `all ${logits.length} logits are -Infinity (or the row is empty): no token is possible`, {
      source: 'logits',
    });
  }
  const weights = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] === -Infinity) continue;
    const w = Math.exp(logits[i] - max);
    weights[i] = w;
    total += w;
  }
  return { weights, total, max };
}

/**
 * HF's TopPLogitsWarper: sort ascending, accumulate the softmax, and remove every token whose
 * cumulative probability is ≤ 1 − p, always keeping the most likely one. The removed set is a
 * low-probability tail, so this walks the tokens from the most likely down (a heap over the
 * tokens with non-zero probability) and stops once the rest is the tail — without sorting V.
 * A token is kept when the probability at or below it, 1 − (mass ranked above it), exceeds
 * 1 − p.
 */
export function topPFilter(logits: Float32Array, p: number): Float32Array {
  if (p >= 1) return logits.slice();
  const { weights, total } = softmaxWeights(logits);
  const heap = new ProbabilityHeap(weights);
  const out = new Float32Array(logits.length).fill(-Infinity);
  const tailMass = (1 - p) * total;
  let massAbove = 0;
  while (heap.size > 0) {
    const id = heap.pop();
    if (total - massAbove <= tailMass) break;
    out[id] = logits[id];
    massAbove += weights[id];
  }
  return out;
}

/**
 * A binary max-heap of the token ids with non-zero weight, built in O(n) so that only the
 * popped head costs log n per token. Equal weights are ranked as a stable ascending sort ranks
 * them (torch's CPU sort): the higher index counts as more likely, so top-p removes the lower
 * index first.
 */
class ProbabilityHeap {
  private readonly ids: Int32Array;
  size = 0;

  constructor(private readonly weights: Float64Array) {
    let count = 0;
    for (let i = 0; i < weights.length; i++) if (weights[i] > 0) count++;
    this.ids = new Int32Array(count);
    for (let i = 0; i < weights.length; i++) if (weights[i] > 0) this.ids[this.size++] = i;
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  pop(): number {
    const top = this.ids[0];
    this.size--;
    if (this.size > 0) {
      this.ids[0] = this.ids[this.size];
      this.siftDown(0);
    }
    return top;
  }

  private before(a: number, b: number): boolean {
    const wa = this.weights[a];
    const wb = this.weights[b];
    return wa > wb || (wa === wb && a > b);
  }

  private siftDown(start: number): void {
    const ids = this.ids;
    let i = start;
    const moving = ids[i];
    for (;;) {
      const left = 2 * i + 1;
      if (left >= this.size) break;
      const right = left + 1;
      const child = right < this.size && this.before(ids[right], ids[left]) ? right : left;
      if (!this.before(ids[child], moving)) break;
      ids[i] = ids[child];
      i = child;
    }
    ids[i] = moving;
  }
}

/** Probabilities of the row, in float64 so that sampling sums stay exact enough over 150k tokens. */
export function softmax(logits: Float32Array): Float64Array {
  const { weights, total } = softmaxWeights(logits);
  for (let i = 0; i < weights.length; i++) weights[i] /= total;
  return weights;
}

export function logSoftmax(logits: Float32Array): Float32Array {
  const { total, max } = softmaxWeights(logits);
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
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * All processors for one row in Hugging Face's order: repetition penalty and min length
 * always; temperature → top-k → top-p only when sampling (HF leaves greedy logits unwarped).
 * `sequence` is every token id of the row so far, prompt included.
 */
export function processLogits(logits: Float32Array, options: SearchOptions, sequence: ArrayLike<number>): Float32Array {
  let out = applyRepetitionPenalty(logits, sequence, options.repetitionPenalty);
  out = applyMinLength(out, sequence.length, options.minLength, options.eosTokenIds);
  if (!options.doSample) return out;
  out = applyTemperature(out, options.temperature);
  out = topKFilter(out, options.topK);
  return topPFilter(out, options.topP);
}
