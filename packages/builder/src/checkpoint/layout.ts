import type { ModelConfig, TextConfig, VisionConfig } from '@qwen-vl/core';

/**
 * The Hugging Face Qwen2.5-VL checkpoint layout: every tensor's name and shape as implied by
 * config.json, written once for the exporters (shape checks), the tiny checkpoint generator
 * and the benchmarks (random weights).
 */

/**
 * What a tensor is, which is what an initialiser needs to know: `weight` is a matrix (Linear
 * `[out, in]`, the embedding table, the patch Conv3d `[hidden, C, T, P, P]`) whose fan-in is
 * the product of its dimensions after the first; `bias` a Linear bias; `norm` an RMSNorm
 * scale (around 1, not 0).
 */
export type TensorKind = 'weight' | 'bias' | 'norm';

export interface TensorSpec {
  /** Canonical name: the original key naming (`visual.*`, `model.*`, `lm_head.weight`). */
  readonly name: string;
  readonly shape: readonly number[];
  readonly kind: TensorKind;
}

/**
 * How a checkpoint's keys are spelled. `original`: as Qwen2.5-VL was released (`visual.*`,
 * `model.embed_tokens.*`, `model.layers.*`, `model.norm.*`, `lm_head.weight`). `nested`: as
 * newer transformers releases save it, the vision tower under `model.visual.*` and the
 * language model under `model.language_model.*` (`lm_head.weight` unchanged).
 */
export type KeyNaming = 'original' | 'nested';

export const KEY_NAMINGS: readonly KeyNaming[] = ['original', 'nested'];

const NESTED_VISION = 'model.visual.';
const NESTED_LANGUAGE = 'model.language_model.';

/** The canonical (original) name of a key in either naming; what the rest of the builder asks for. */
export function canonicalTensorName(key: string): string {
  if (key.startsWith(NESTED_VISION)) return key.slice('model.'.length);
  if (key.startsWith(NESTED_LANGUAGE)) return `model.${key.slice(NESTED_LANGUAGE.length)}`;
  return key;
}

/** The key a checkpoint of `naming` stores the canonical tensor `name` under. */
export function checkpointKey(name: string, naming: KeyNaming): string {
  if (naming === 'original') return name;
  if (name.startsWith('visual.')) return `model.${name}`;
  if (name.startsWith('model.')) return `${NESTED_LANGUAGE}${name.slice('model.'.length)}`;
  return name;
}

/** Collects specs in checkpoint order; a Linear is its `[out, in]` weight and, when it has one, its `[out]` bias. */
class SpecList {
  readonly specs: TensorSpec[] = [];

  add(kind: TensorKind, name: string, ...shape: number[]): void {
    this.specs.push({ name, shape, kind });
  }

  linear(name: string, out: number, inp: number, withBias: boolean): void {
    this.add('weight', `${name}.weight`, out, inp);
    if (withBias) this.add('bias', `${name}.bias`, out);
  }
}

/** The vision tower (patch embedding, blocks) and the patch merger, every Linear with a bias. */
export function visionTensors(vision: VisionConfig): TensorSpec[] {
  const { hiddenSize: hidden, intermediateSize: inner, spatialMergeSize: m } = vision;
  const list = new SpecList();
  list.add('weight', 'visual.patch_embed.proj.weight', hidden, vision.inChannels, vision.temporalPatchSize, vision.patchSize, vision.patchSize);
  for (let i = 0; i < vision.depth; i++) {
    const block = `visual.blocks.${i}`;
    list.add('norm', `${block}.norm1.weight`, hidden);
    list.add('norm', `${block}.norm2.weight`, hidden);
    list.linear(`${block}.attn.qkv`, 3 * hidden, hidden, true);
    list.linear(`${block}.attn.proj`, hidden, hidden, true);
    list.linear(`${block}.mlp.gate_proj`, inner, hidden, true);
    list.linear(`${block}.mlp.up_proj`, inner, hidden, true);
    list.linear(`${block}.mlp.down_proj`, hidden, inner, true);
  }
  const merged = hidden * m * m;
  list.add('norm', 'visual.merger.ln_q.weight', hidden);
  list.linear('visual.merger.mlp.0', merged, merged, true);
  list.linear('visual.merger.mlp.2', vision.outHiddenSize, merged, true);
  return list.specs;
}

/** The canonical name of the token embedding table, `[vocab, hidden]`. */
export const EMBEDDING_TABLE = 'model.embed_tokens.weight';

/**
 * The language model: embedding table, layers (biases on q/k/v only), final norm and
 * `lm_head` unless the config ties it to the embedding table.
 */
export function textTensors(text: TextConfig): TensorSpec[] {
  const { hiddenSize: hidden, intermediateSize: inner } = text;
  const qDim = text.numAttentionHeads * text.headDim;
  const kvDim = text.numKeyValueHeads * text.headDim;
  const list = new SpecList();
  list.add('weight', EMBEDDING_TABLE, text.vocabSize, hidden);
  for (let i = 0; i < text.numHiddenLayers; i++) {
    const layer = `model.layers.${i}`;
    list.add('norm', `${layer}.input_layernorm.weight`, hidden);
    list.linear(`${layer}.self_attn.q_proj`, qDim, hidden, true);
    list.linear(`${layer}.self_attn.k_proj`, kvDim, hidden, true);
    list.linear(`${layer}.self_attn.v_proj`, kvDim, hidden, true);
    list.linear(`${layer}.self_attn.o_proj`, hidden, qDim, false);
    list.add('norm', `${layer}.post_attention_layernorm.weight`, hidden);
    list.linear(`${layer}.mlp.gate_proj`, inner, hidden, false);
    list.linear(`${layer}.mlp.up_proj`, inner, hidden, false);
    list.linear(`${layer}.mlp.down_proj`, hidden, inner, false);
  }
  list.add('norm', 'model.norm.weight', hidden);
  if (!text.tieWordEmbeddings) list.linear('lm_head', text.vocabSize, hidden, false);
  return list.specs;
}

/** The Linear that turns final hidden states into logits: `lm_head`, or the embedding table when tied (3B). */
export function outputProjection(text: TextConfig): string {
  return text.tieWordEmbeddings ? 'model.embed_tokens' : 'lm_head';
}

/** Every tensor of the checkpoint: the vision tower's, then the language model's. */
export function checkpointTensors(config: ModelConfig): TensorSpec[] {
  return [...visionTensors(config.vision), ...textTensors(config.text)];
}
