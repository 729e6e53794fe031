import { applyProcessors, argmax, gatherTopK, keepTopP, processorsChangeNothing } from './logits-processors.js';
import type { TokenHistory } from './logits-processors.js';
import { drawIndex } from './sampler.js';
import type { RandomSource } from './sampler.js';
import type { SearchOptions } from './search-options.js';

/**
 * `sampleToken(processLogits(logits, …))` for the generation loop: the same token, chosen in
 * buffers allocated once per generation and reused for every row and step, and with as few
 * reads of the vocabulary as each search needs.
 *
 * - Greedy search without repetition penalty, once min length is reached: the argmax of the
 *   model's logits, nothing copied.
 * - Otherwise the processors run on a copy; greedy search takes its argmax.
 * - Sampling lists top-k's survivors (`gatherTopK`, ascending ids) instead of filtering the
 *   whole row, so top-p and the draw work on a few dozen scores, not 150k; without top-k and
 *   top-p it draws from the row as it is.
 */
export class TokenChooser {
  private readonly processed: Float32Array;
  private readonly survivorIds: Int32Array;
  private readonly survivorScores: Float32Array;

  constructor(vocabSize: number) {
    this.processed = new Float32Array(vocabSize);
    this.survivorIds = new Int32Array(vocabSize);
    this.survivorScores = new Float32Array(vocabSize);
  }

  get vocabSize(): number {
    return this.processed.length;
  }

  /** The next token of a row from its raw logits (`vocabSize` of them, left untouched). */
  choose(logits: Float32Array, options: SearchOptions, history: TokenHistory, rng: RandomSource): number {
    let scores = logits;
    if (!processorsChangeNothing(options, history)) {
      scores = this.processed;
      scores.set(logits);
      applyProcessors(scores, options, history);
    }
    if (!options.doSample) return argmax(scores);
    if ((options.topK === 0 || options.topK >= scores.length) && options.topP >= 1) return drawIndex(scores, rng);
    const count = gatherTopK(scores, options.topK, this.survivorIds, this.survivorScores);
    const survivors = this.survivorScores.subarray(0, count);
    keepTopP(survivors, options.topP);
    return this.survivorIds[drawIndex(survivors, rng)];
  }
}
