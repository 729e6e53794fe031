import type { VisionConfig } from '@qwen-vl/core';

/**
 * The contract between the exported graph and the code that feeds it: input and output
 * names, and which attention inputs a given config needs. Export and run both read it, so
 * the two sides cannot drift apart.
 */

/**
 * - `segmented`: each attention segment (a window, or one frame of an image) is gathered
 *   into its own padded row of a `[segments, length]` batch; the cost grows with N times
 *   the segment length, never N².
 * - `dense-mask`: one `[N, N]` attention with an additive block-diagonal mask; quadratic in
 *   N. Kept only to measure what the segmented layout saves.
 */
export type AttentionLayout = 'segmented' | 'dense-mask';

/**
 * Full-attention blocks score a frame's queries against its keys in this many chunks, one
 * after another, so a block holds `heads · (L / 16) · L` scores at a time rather than
 * `heads · L²` (L = patches per frame; 16384 at the default max_pixels, where 16 heads' full
 * scores take 17 GB). The segment length is padded to a multiple of it (`paddedSegments`).
 */
export const FULL_ATTENTION_QUERY_CHUNKS = 16;

/** Windowed blocks attend inside windows, full blocks inside each frame of each image. */
export type AttentionKind = 'window' | 'full';

export const VISION_INPUTS = {
  pixelValues: 'pixel_values',
  windowIndex: 'window_index',
  reverseIndex: 'reverse_index',
  rotaryCos: 'rotary_cos',
  rotarySin: 'rotary_sin',
} as const;

export const VISION_OUTPUT = 'image_features';

/**
 * The other contract a vision graph may have: `pixel_values` and int64 `image_grid_thw`
 * `[images, 3]` only, the rotary tables and attention segments computed inside the graph
 * from the grids. onnxruntime-genai's and transformers.js's Qwen2.5-VL vision models take
 * these (and `qwen-vl build --layout genai` and `--layout transformers.js` write one).
 */
export const VISION_GRID_INPUTS = {
  pixelValues: 'pixel_values',
  imageGridThw: 'image_grid_thw',
} as const;

/** What transformers.js's Qwen2-VL exports (same contract) call `image_grid_thw`. */
export const QWEN2_VL_GRID_INPUT = 'grid_thw';

/** Names of the inputs that describe the segments of one attention kind. */
export function attentionInputs(kind: AttentionKind): { gather: string; mask: string; scatter: string } {
  return { gather: `${kind}_gather`, mask: `${kind}_mask`, scatter: `${kind}_scatter` };
}

export function blockAttentionKind(config: VisionConfig, block: number): AttentionKind {
  return config.fullAttBlockIndexes.includes(block) ? 'full' : 'window';
}

/** The kinds some block of the tower uses, in a fixed order; the graph has inputs for these only. */
export function usedAttentionKinds(config: VisionConfig): AttentionKind[] {
  const kinds = new Set(Array.from({ length: config.depth }, (_, block) => blockAttentionKind(config, block)));
  return (['window', 'full'] as const).filter((kind) => kinds.has(kind));
}

/** Every input name of the graph built for `config` and `attention`, in declaration order. */
export function visionInputNames(config: VisionConfig, attention: AttentionLayout): string[] {
  const names: string[] = Object.values(VISION_INPUTS);
  for (const kind of usedAttentionKinds(config)) {
    const inputs = attentionInputs(kind);
    names.push(...(attention === 'segmented' ? [inputs.gather, inputs.mask, inputs.scatter] : [inputs.mask]));
  }
  return names;
}

/** Additive mask value of a key a query must not see: finite, so no EP meets inf − inf. */
export const MASKED = -3.4028234663852886e38;
