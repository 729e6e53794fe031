import { parseModelConfig, QwenVLError, float32ToBf16 } from '@qwen-vl/core';
import { concatBytes, encodeSafetensors } from '../safetensors/writer.js';
import type { SafetensorsTensorInput } from '../safetensors/writer.js';
import { KEY_NAMINGS, checkpointKey, checkpointTensors } from './layout.js';
import type { KeyNaming, TensorSpec } from './layout.js';

/**
 * A deterministic, randomly initialised Qwen2.5-VL checkpoint in the Hugging Face folder
 * layout (config.json, model.safetensors with HF key names, generation and preprocessor
 * configs), small enough to generate in tests or ship as a default model. Tokenizer files
 * are not generated: the default vocabulary size matches the real Qwen2.5 tokenizer, which
 * callers copy next to these files.
 */
export interface TinyTextOptions {
  hiddenSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediateSize: number;
  vocabSize: number;
  mropeSection: [number, number, number];
  tieWordEmbeddings: boolean;
}

export interface TinyVisionOptions {
  hiddenSize: number;
  depth: number;
  heads: number;
  intermediateSize: number;
  windowSize: number;
  fullAttBlockIndexes: number[];
  /** Defaults to the text hidden size, which the merger must project to. */
  outHiddenSize: number;
}

export interface TinyCheckpointOptions {
  /** Integer in [0, 2^32). */
  seed?: number;
  dtype?: 'bf16' | 'f32';
  /** How the tensors are keyed (default `original`); values are the same either way. */
  keyNaming?: KeyNaming;
  text?: Partial<TinyTextOptions>;
  vision?: Partial<TinyVisionOptions>;
}

export interface TinyCheckpoint {
  /** File name → contents: JSON files as text, `model.safetensors` as bytes. */
  files: Map<string, Uint8Array | string>;
}

// The sizes of the golden tiny model, so a default generated checkpoint is shaped like it.
const TEXT_DEFAULTS: TinyTextOptions = {
  hiddenSize: 32,
  layers: 2,
  heads: 2,
  kvHeads: 1,
  intermediateSize: 64,
  vocabSize: 151936,
  mropeSection: [2, 3, 3],
  tieWordEmbeddings: false,
};

const VISION_DEFAULTS: Omit<TinyVisionOptions, 'outHiddenSize'> = {
  hiddenSize: 32,
  depth: 4,
  heads: 2,
  intermediateSize: 64,
  windowSize: 112,
  fullAttBlockIndexes: [1, 3],
};

const TOKEN_IDS = {
  bos_token_id: 151643,
  eos_token_id: 151645,
  vision_start_token_id: 151652,
  vision_end_token_id: 151653,
  vision_token_id: 151654,
  image_token_id: 151655,
  video_token_id: 151656,
};

function configJson(text: TinyTextOptions, vision: TinyVisionOptions, dtype: 'bf16' | 'f32'): Record<string, unknown> {
  const torchDtype = dtype === 'bf16' ? 'bfloat16' : 'float32';
  return {
    architectures: ['Qwen2_5_VLForConditionalGeneration'],
    model_type: 'qwen2_5_vl',
    attention_dropout: 0.0,
    hidden_act: 'silu',
    initializer_range: 0.02,
    hidden_size: text.hiddenSize,
    intermediate_size: text.intermediateSize,
    num_hidden_layers: text.layers,
    num_attention_heads: text.heads,
    num_key_value_heads: text.kvHeads,
    max_position_embeddings: 128000,
    max_window_layers: text.layers,
    sliding_window: 32768,
    use_sliding_window: false,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    rope_scaling: { type: 'mrope', mrope_section: text.mropeSection },
    vocab_size: text.vocabSize,
    tie_word_embeddings: text.tieWordEmbeddings,
    torch_dtype: torchDtype,
    use_cache: true,
    transformers_version: '4.49.0',
    ...TOKEN_IDS,
    vision_config: {
      depth: vision.depth,
      hidden_act: 'silu',
      hidden_size: vision.hiddenSize,
      intermediate_size: vision.intermediateSize,
      num_heads: vision.heads,
      in_chans: 3,
      out_hidden_size: vision.outHiddenSize,
      patch_size: 14,
      spatial_patch_size: 14,
      spatial_merge_size: 2,
      temporal_patch_size: 2,
      window_size: vision.windowSize,
      fullatt_block_indexes: vision.fullAttBlockIndexes,
      tokens_per_second: 2,
      torch_dtype: torchDtype,
    },
  };
}

const GENERATION_CONFIG = {
  bos_token_id: 151643,
  pad_token_id: 151643,
  do_sample: true,
  eos_token_id: [151645, 151643],
  repetition_penalty: 1.05,
  temperature: 1e-6,
  transformers_version: '4.49.0',
};

// The values every Qwen2.5-VL size ships with.
const PREPROCESSOR_CONFIG = {
  min_pixels: 3136,
  max_pixels: 12845056,
  patch_size: 14,
  temporal_patch_size: 2,
  merge_size: 2,
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_std: [0.26862954, 0.26130258, 0.27577711],
  image_processor_type: 'Qwen2VLImageProcessor',
  processor_class: 'Qwen2_5_VLProcessor',
};

/** The murmur3 32-bit finaliser: a bijection that scrambles every input bit into every output bit. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Each tensor gets its own stream keyed by (seed, canonical name), so changing one size
 * leaves every other tensor's values unchanged. Only integer and correctly rounded float operations are
 * used, so every JS engine produces the same bytes.
 */
class TensorRandom {
  private state: number;

  constructor(seed: number, name: string) {
    let hash = 0x811c9dc5; // FNV-1a over the name's UTF-16 code units
    for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
    this.state = mix32(hash ^ mix32(seed));
  }

  private next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    return mix32(this.state);
  }

  /** Mean 0, variance 1, bounded by ±2√3: the sum of four centred 16-bit uniforms, rescaled. */
  normal(): number {
    const a = this.next();
    const b = this.next();
    const sum = (a & 0xffff) + (a >>> 16) + (b & 0xffff) + (b >>> 16);
    return ((sum + 2) / 65536 - 2) * Math.sqrt(3);
  }
}

/**
 * Initialiser scales chosen so activations stay O(1) at any size: matrices get a standard
 * deviation of 0.5/√fan_in, biases 0.02, and norm weights 1 ± 0.05.
 */
function tensorValues(spec: TensorSpec, seed: number): Float32Array {
  const random = new TensorRandom(seed, spec.name);
  const count = spec.shape.reduce((a, b) => a * b, 1);
  const fanIn = spec.shape.slice(1).reduce((a, b) => a * b, 1);
  const [mean, std] = spec.kind === 'weight' ? [0, 0.5 / Math.sqrt(fanIn)] : spec.kind === 'bias' ? [0, 0.02] : [1, 0.05];
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = mean + std * random.normal();
  return values;
}

function encodeTensor(spec: TensorSpec, seed: number, dtype: 'bf16' | 'f32', naming: KeyNaming): SafetensorsTensorInput {
  const values = tensorValues(spec, seed);
  const stored = dtype === 'bf16' ? float32ToBf16(values) : values;
  return { name: checkpointKey(spec.name, naming), dtype: dtype === 'bf16' ? 'BF16' : 'F32', shape: spec.shape, data: new Uint8Array(stored.buffer) };
}

export function generateTinyCheckpoint(options: TinyCheckpointOptions = {}): TinyCheckpoint {
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be an integer in [0, 2^32), got ${seed}`, { source: 'seed' });
  }
  const dtype = options.dtype ?? 'bf16';
  if (dtype !== 'bf16' && dtype !== 'f32') {
    throw new QwenVLError('INVALID_ARGUMENT', `must be "bf16" or "f32", got ${JSON.stringify(dtype)}`, { source: 'dtype' });
  }
  const naming = options.keyNaming ?? 'original';
  if (!KEY_NAMINGS.includes(naming)) {
    throw new QwenVLError('INVALID_ARGUMENT', `must be one of ${KEY_NAMINGS.map((n) => JSON.stringify(n)).join(', ')}, got ${JSON.stringify(naming)}`, { source: 'keyNaming' });
  }
  const text = { ...TEXT_DEFAULTS, ...options.text };
  const vision = { ...VISION_DEFAULTS, outHiddenSize: text.hiddenSize, ...options.vision };
  const config = configJson(text, vision, dtype);
  // Parsing our own output validates the sizes (head divisibility, mrope sections) and gives
  // the derived numbers (head_dim, merge size) the shapes are computed from.
  const specs = checkpointTensors(parseModelConfig(config, 'generated config.json'));
  const weights = encodeSafetensors(
    specs.map((spec) => encodeTensor(spec, seed, dtype, naming)),
    { format: 'pt' },
  );
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  return {
    files: new Map<string, Uint8Array | string>([
      ['config.json', json(config)],
      ['generation_config.json', json(GENERATION_CONFIG)],
      ['preprocessor_config.json', json(PREPROCESSOR_CONFIG)],
      ['model.safetensors', concatBytes(weights)],
    ]),
  };
}
