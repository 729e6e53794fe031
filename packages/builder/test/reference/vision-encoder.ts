/**
 * Float64 reference of the Qwen2.5-VL vision tower (algorithms.md §3), the test oracle for
 * the exported ONNX graph. It follows the Hugging Face module structure stage by stage,
 * with plain loops and no bf16/float32 rounding of activations (only the rotary angles are
 * float32, exactly as Hugging Face builds them), so any difference to a faster
 * implementation is that implementation's rounding or a bug.
 */
import { QwenVLError } from '@qwen-vl/core';
import type { VisionConfig } from '@qwen-vl/core';
import { reorderRows, visionRotaryAngles, windowIndex } from '@qwen-vl/mrope';
import type { Grid } from '@qwen-vl/mrope';
import { gelu } from './erf.js';

/** Returns a checkpoint tensor by its full name (e.g. `visual.blocks.0.attn.qkv.weight`), row-major. */
export type WeightGetter = (name: string) => Float64Array | Float32Array;

const RMS_NORM_EPS = 1e-6;

/** `x[rows, inDim] · Wᵀ + b` with W stored `[outDim, inDim]` as in torch's Linear. */
function linear(x: Float64Array, rows: number, inDim: number, weight: Float64Array, bias: Float64Array | undefined, outDim: number): Float64Array {
  const out = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    const xRow = r * inDim;
    for (let o = 0; o < outDim; o++) {
      const wRow = o * inDim;
      let sum = bias === undefined ? 0 : bias[o];
      for (let i = 0; i < inDim; i++) sum += x[xRow + i] * weight[wRow + i];
      out[r * outDim + o] = sum;
    }
  }
  return out;
}

/** Conv3d with kernel = stride = one patch is a plain matrix product with each pixel row. */
export function patchEmbed(pixels: Float64Array, rows: number, patchDim: number, weight: Float64Array, hidden: number): Float64Array {
  return linear(pixels, rows, patchDim, weight, undefined, hidden);
}

export function rmsNorm(x: Float64Array, rows: number, dim: number, weight: Float64Array): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let sumSquares = 0;
    for (let i = 0; i < dim; i++) sumSquares += x[r * dim + i] ** 2;
    const scale = 1 / Math.sqrt(sumSquares / dim + RMS_NORM_EPS);
    for (let i = 0; i < dim; i++) out[r * dim + i] = weight[i] * x[r * dim + i] * scale;
  }
  return out;
}

export interface RotaryTables {
  /** `[N, headDim]`: cos and sin of `concat(angles, angles)` per row. */
  cos: Float64Array;
  sin: Float64Array;
}

export function rotaryTables(angles: Float64Array, rows: number, headDim: number): RotaryTables {
  const half = headDim / 2;
  const cos = new Float64Array(rows * headDim);
  const sin = new Float64Array(rows * headDim);
  for (let r = 0; r < rows; r++) {
    for (let d = 0; d < headDim; d++) {
      const angle = angles[r * half + (d % half)];
      cos[r * headDim + d] = Math.cos(angle);
      sin[r * headDim + d] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * One part (0 = q, 1 = k, 2 = v) of the fused qkv output, split into heads `[numHeads, N,
 * headDim]` so the attention loops read contiguous rows; q and k get the rotary embedding
 * `x·cos + rotate_half(x)·sin` with `rotate_half(x) = concat(−x[half:], x[:half])`.
 */
function headsOf(qkv: Float64Array, part: number, rows: number, hidden: number, headDim: number, rotary: RotaryTables | undefined): Float64Array {
  const half = headDim / 2;
  const numHeads = hidden / headDim;
  const out = new Float64Array(rows * hidden);
  for (let h = 0; h < numHeads; h++) {
    for (let r = 0; r < rows; r++) {
      const src = r * 3 * hidden + part * hidden + h * headDim;
      const dst = (h * rows + r) * headDim;
      for (let d = 0; d < headDim; d++) {
        const rotated = d < half ? -qkv[src + d + half] : qkv[src + d - half];
        out[dst + d] = rotary === undefined ? qkv[src + d] : qkv[src + d] * rotary.cos[r * headDim + d] + rotated * rotary.sin[r * headDim + d];
      }
    }
  }
  return out;
}

export interface AttentionWeights {
  qkvWeight: Float64Array;
  qkvBias: Float64Array;
  projWeight: Float64Array;
  projBias: Float64Array;
}

/**
 * Non-causal multi-head attention that only looks inside each segment `[cu[s], cu[s+1])`:
 * the block-diagonal mask of the windowed and of the full-attention blocks alike.
 */
export function visionAttention(x: Float64Array, rows: number, hidden: number, numHeads: number, weights: AttentionWeights, rotary: RotaryTables, cu: ArrayLike<number>): Float64Array {
  const headDim = hidden / numHeads;
  const qkv = linear(x, rows, hidden, weights.qkvWeight, weights.qkvBias, 3 * hidden);
  const q = headsOf(qkv, 0, rows, hidden, headDim, rotary);
  const k = headsOf(qkv, 1, rows, hidden, headDim, rotary);
  const v = headsOf(qkv, 2, rows, hidden, headDim, undefined);
  const scale = 1 / Math.sqrt(headDim);
  const attended = new Float64Array(rows * hidden);
  const scores = new Float64Array(rows);

  for (let s = 0; s + 1 < cu.length; s++) {
    const start = cu[s];
    const end = cu[s + 1];
    for (let h = 0; h < numHeads; h++) {
      const head = h * rows * headDim;
      for (let i = start; i < end; i++) {
        const qi = head + i * headDim;
        let max = -Infinity;
        for (let j = start; j < end; j++) {
          const kj = head + j * headDim;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[qi + d] * k[kj + d];
          const score = dot * scale;
          scores[j] = score;
          if (score > max) max = score;
        }
        let total = 0;
        for (let j = start; j < end; j++) {
          const weight = Math.exp(scores[j] - max);
          scores[j] = weight;
          total += weight;
        }
        const out = i * hidden + h * headDim;
        for (let j = start; j < end; j++) {
          const p = scores[j] / total;
          const vj = head + j * headDim;
          for (let d = 0; d < headDim; d++) attended[out + d] += p * v[vj + d];
        }
      }
    }
  }
  return linear(attended, rows, hidden, weights.projWeight, weights.projBias, hidden);
}

export interface MlpWeights {
  gateWeight: Float64Array;
  gateBias: Float64Array;
  upWeight: Float64Array;
  upBias: Float64Array;
  downWeight: Float64Array;
  downBias: Float64Array;
}

/** SwiGLU: `down(silu(gate(x)) · up(x))`. */
export function mlp(x: Float64Array, rows: number, hidden: number, intermediate: number, weights: MlpWeights): Float64Array {
  const gate = linear(x, rows, hidden, weights.gateWeight, weights.gateBias, intermediate);
  const up = linear(x, rows, hidden, weights.upWeight, weights.upBias, intermediate);
  for (let i = 0; i < gate.length; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
  return linear(gate, rows, intermediate, weights.downWeight, weights.downBias, hidden);
}

export interface MergerWeights {
  normWeight: Float64Array;
  fc1Weight: Float64Array;
  fc1Bias: Float64Array;
  fc2Weight: Float64Array;
  fc2Bias: Float64Array;
}

/**
 * Patch merger: RMSNorm per patch row, then each `unit` consecutive rows (one merge block)
 * read as a single row of `unit · hidden`, then Linear → exact GELU → Linear.
 */
export function merger(x: Float64Array, rows: number, hidden: number, unit: number, outHidden: number, weights: MergerWeights): Float64Array {
  const normed = rmsNorm(x, rows, hidden, weights.normWeight);
  const tokens = rows / unit;
  const width = hidden * unit;
  const inner = linear(normed, tokens, width, weights.fc1Weight, weights.fc1Bias, width);
  for (let i = 0; i < inner.length; i++) inner[i] = gelu(inner[i]);
  return linear(inner, tokens, width, weights.fc2Weight, weights.fc2Bias, outHidden);
}

function addInPlace(target: Float64Array, delta: Float64Array): void {
  for (let i = 0; i < target.length; i++) target[i] += delta[i];
}

/**
 * The whole tower: `pixels` `[N, C·T·P·P]` in preprocessor row order, `grids` one
 * `(t, h, w)` per image; returns `[N / m², outHiddenSize]`, merged tokens in natural order
 * (image, frame, merged row, merged column).
 */
export function encodeVision(pixels: Float32Array, grids: readonly Grid[], weight: WeightGetter, config: VisionConfig): Float64Array {
  const { hiddenSize: hidden, numHeads, spatialMergeSize: m, outHiddenSize } = config;
  const headDim = hidden / numHeads;
  const unit = m * m;
  const patchDim = config.inChannels * config.temporalPatchSize * config.patchSize ** 2;
  const rows = grids.reduce((sum, [t, h, w]) => sum + t * h * w, 0);
  if (pixels.length !== rows * patchDim) {
    const shapes = grids.map((g) => g.join('×')).join(', ');
    throw new QwenVLError('INVALID_ARGUMENT', `holds ${pixels.length} values, but grids [${shapes}] need ${rows} rows of ${patchDim}`, { source: 'encodeVision pixels' });
  }
  // Everything is widened to Float64Array up front: hot loops that meet both Float32Array
  // and Float64Array are polymorphic in V8 and run several times slower.
  const float64 = (name: string) => Float64Array.from(weight(name));

  // The patch embedding works row by row, so window-ordering the pixel rows before it is
  // the same as reordering its output, as Hugging Face does.
  const windows = windowIndex(grids, config);
  const windowOrderedPixels = Float64Array.from(reorderRows(pixels, patchDim, unit, windows.windowIndex));
  const x = patchEmbed(windowOrderedPixels, rows, patchDim, float64('visual.patch_embed.proj.weight'), hidden);
  const angles = reorderRows(visionRotaryAngles(grids, { headDim, spatialMergeSize: m }), headDim / 2, unit, windows.windowIndex);
  const rotary = rotaryTables(Float64Array.from(angles), rows, headDim);

  for (let block = 0; block < config.depth; block++) {
    const p = `visual.blocks.${block}.`;
    const cu = config.fullAttBlockIndexes.includes(block) ? windows.cuSeqlens : windows.cuWindowSeqlens;
    addInPlace(
      x,
      visionAttention(
        rmsNorm(x, rows, hidden, float64(`${p}norm1.weight`)),
        rows,
        hidden,
        numHeads,
        {
          qkvWeight: float64(`${p}attn.qkv.weight`),
          qkvBias: float64(`${p}attn.qkv.bias`),
          projWeight: float64(`${p}attn.proj.weight`),
          projBias: float64(`${p}attn.proj.bias`),
        },
        rotary,
        cu,
      ),
    );
    addInPlace(
      x,
      mlp(rmsNorm(x, rows, hidden, float64(`${p}norm2.weight`)), rows, hidden, config.intermediateSize, {
        gateWeight: float64(`${p}mlp.gate_proj.weight`),
        gateBias: float64(`${p}mlp.gate_proj.bias`),
        upWeight: float64(`${p}mlp.up_proj.weight`),
        upBias: float64(`${p}mlp.up_proj.bias`),
        downWeight: float64(`${p}mlp.down_proj.weight`),
        downBias: float64(`${p}mlp.down_proj.bias`),
      }),
    );
  }

  const merged = merger(x, rows, hidden, unit, outHiddenSize, {
    normWeight: float64('visual.merger.ln_q.weight'),
    fc1Weight: float64('visual.merger.mlp.0.weight'),
    fc1Bias: float64('visual.merger.mlp.0.bias'),
    fc2Weight: float64('visual.merger.mlp.2.weight'),
    fc2Bias: float64('visual.merger.mlp.2.bias'),
  });
  const natural = new Float64Array(merged.length);
  windows.reverseIndex.forEach((position, token) => {
    natural.set(merged.subarray(position * outHiddenSize, (position + 1) * outHiddenSize), token * outHiddenSize);
  });
  return natural;
}
