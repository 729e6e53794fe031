/**
 * Float64 reference of the Qwen2.5-VL language model (algorithms.md §4), the test oracle for
 * exported text graphs whose weights are not the checkpoint's (int4: the oracle runs on the
 * dequantized weights). Plain loops, no cache: every step recomputes the whole sequence, so a
 * cache bug in a graph cannot be mirrored here. Only the rotary tables are float32, as
 * Hugging Face builds them (`mropeCosSin`).
 */
import type { TextConfig } from '@qwen-vl/core';
import { mropeCosSin } from '@qwen-vl/mrope';

/** A checkpoint tensor by its full name (`model.layers.0.self_attn.q_proj.weight`), row-major. */
export type WeightGetter = (name: string) => Float64Array | Float32Array;

export interface ReferencePrompt {
  /** `[L, hidden]`: token embeddings with the vision features in place. */
  readonly embeds: Float64Array;
  /** `[3, L]` MRoPE position ids of the prompt. */
  readonly positions: Int32Array;
  /** What a generated token's position adds to its index in the sequence. */
  readonly ropeDelta: number;
}

function linear(x: Float64Array, rows: number, inDim: number, weight: ArrayLike<number>, bias: ArrayLike<number> | undefined, outDim: number): Float64Array {
  const out = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let sum = bias === undefined ? 0 : bias[o];
      for (let i = 0; i < inDim; i++) sum += x[r * inDim + i] * weight[o * inDim + i];
      out[r * outDim + o] = sum;
    }
  }
  return out;
}

function rmsNorm(x: Float64Array, rows: number, dim: number, weight: ArrayLike<number>, eps: number): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let squares = 0;
    for (let i = 0; i < dim; i++) squares += x[r * dim + i] ** 2;
    const inv = 1 / Math.sqrt(squares / dim + eps);
    for (let i = 0; i < dim; i++) out[r * dim + i] = x[r * dim + i] * inv * weight[i];
  }
  return out;
}

/** `x · cos + rotate_half(x) · sin` on each `headDim` slice of every row. */
function rotate(x: Float64Array, rows: number, heads: number, headDim: number, cos: Float32Array, sin: Float32Array): void {
  const half = headDim / 2;
  const slice = new Float64Array(headDim);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < heads; h++) {
      const at = (r * heads + h) * headDim;
      slice.set(x.subarray(at, at + headDim));
      for (let j = 0; j < headDim; j++) {
        const rotated = j < half ? -slice[j + half] : slice[j - half];
        x[at + j] = slice[j] * cos[r * headDim + j] + rotated * sin[r * headDim + j];
      }
    }
  }
}

/** Causal grouped-query attention over `[L, heads · headDim]` queries and `[L, kvHeads · headDim]` keys and values. */
function attention(q: Float64Array, k: Float64Array, v: Float64Array, length: number, heads: number, kvHeads: number, headDim: number): Float64Array {
  const out = new Float64Array(length * heads * headDim);
  const scores = new Float64Array(length);
  for (let h = 0; h < heads; h++) {
    const kv = Math.floor(h / (heads / kvHeads));
    for (let i = 0; i < length; i++) {
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[(i * heads + h) * headDim + d] * k[(j * kvHeads + kv) * headDim + d];
        scores[j] = dot / Math.sqrt(headDim);
        max = Math.max(max, scores[j]);
      }
      let total = 0;
      for (let j = 0; j <= i; j++) total += scores[j] = Math.exp(scores[j] - max);
      for (let j = 0; j <= i; j++) {
        for (let d = 0; d < headDim; d++) out[(i * heads + h) * headDim + d] += (scores[j] / total) * v[(j * kvHeads + kv) * headDim + d];
      }
    }
  }
  return out;
}

/** The logits of the last position of `embeds` (`[L, hidden]`, positions `[3, L]`). */
function lastLogits(embeds: Float64Array, positions: Int32Array, weight: WeightGetter, text: TextConfig): Float64Array {
  const { hiddenSize: hidden, numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim, intermediateSize: inner, rmsNormEps: eps } = text;
  const length = embeds.length / hidden;
  const { cos, sin } = mropeCosSin(positions, 1, length, { headDim, ropeTheta: text.ropeTheta, mropeSection: text.mropeSection });
  const x = Float64Array.from(embeds);
  for (let layer = 0; layer < text.numHiddenLayers; layer++) {
    const p = `model.layers.${layer}`;
    const h = rmsNorm(x, length, hidden, weight(`${p}.input_layernorm.weight`), eps);
    const project = (name: string, out: number) => linear(h, length, hidden, weight(`${p}.self_attn.${name}.weight`), weight(`${p}.self_attn.${name}.bias`), out);
    const q = project('q_proj', heads * headDim);
    const k = project('k_proj', kvHeads * headDim);
    const v = project('v_proj', kvHeads * headDim);
    rotate(q, length, heads, headDim, cos, sin);
    rotate(k, length, kvHeads, headDim, cos, sin);
    const attended = linear(attention(q, k, v, length, heads, kvHeads, headDim), length, heads * headDim, weight(`${p}.self_attn.o_proj.weight`), undefined, hidden);
    for (let i = 0; i < x.length; i++) x[i] += attended[i];
    const m = rmsNorm(x, length, hidden, weight(`${p}.post_attention_layernorm.weight`), eps);
    const gate = linear(m, length, hidden, weight(`${p}.mlp.gate_proj.weight`), undefined, inner);
    const up = linear(m, length, hidden, weight(`${p}.mlp.up_proj.weight`), undefined, inner);
    for (let i = 0; i < gate.length; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
    const down = linear(gate, length, inner, weight(`${p}.mlp.down_proj.weight`), undefined, hidden);
    for (let i = 0; i < x.length; i++) x[i] += down[i];
  }
  const last = rmsNorm(x.subarray((length - 1) * hidden), 1, hidden, weight('model.norm.weight'), eps);
  return linear(last, 1, hidden, weight(text.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'), undefined, text.vocabSize);
}

/**
 * Greedy decoding from `prompt` for `steps` tokens (eos ignored): the logits of each step
 * (step 0: the prompt's last position) and the tokens chosen, each fed back through the
 * embedding table at position `index + ropeDelta`.
 */
export function greedyReference(prompt: ReferencePrompt, steps: number, weight: WeightGetter, text: TextConfig): { logits: Float64Array[]; tokens: number[] } {
  const hidden = text.hiddenSize;
  const table = weight('model.embed_tokens.weight');
  let embeds = prompt.embeds;
  let positions = prompt.positions;
  const logits: Float64Array[] = [];
  const tokens: number[] = [];
  for (let step = 0; step < steps; step++) {
    const stepLogits = lastLogits(embeds, positions, weight, text);
    let best = 0;
    for (let i = 1; i < stepLogits.length; i++) if (stepLogits[i] > stepLogits[best]) best = i;
    logits.push(stepLogits);
    tokens.push(best);
    const length = embeds.length / hidden;
    const grown = new Float64Array(embeds.length + hidden);
    grown.set(embeds);
    grown.set(table.subarray(best * hidden, (best + 1) * hidden), embeds.length);
    const next = new Int32Array(3 * (length + 1));
    for (let axis = 0; axis < 3; axis++) {
      next.set(positions.subarray(axis * length, (axis + 1) * length), axis * (length + 1));
      next[axis * (length + 1) + length] = length + prompt.ropeDelta;
    }
    embeds = grown;
    positions = next;
  }
  return { logits, tokens };
}
