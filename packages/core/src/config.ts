import { QwenVLError } from './errors.js';

/**
 * The parts of a Hugging Face Qwen2.5-VL folder's JSON files that inference needs, read
 * from plain parsed JSON and checked field by field. Text fields may sit at the top level
 * (transformers ≤ 4.5x) or under `text_config` (newer releases): both are read.
 */
export interface VisionConfig {
  depth: number;
  hiddenSize: number;
  intermediateSize: number;
  numHeads: number;
  outHiddenSize: number;
  patchSize: number;
  spatialMergeSize: number;
  temporalPatchSize: number;
  windowSize: number;
  fullAttBlockIndexes: number[];
  tokensPerSecond: number;
  inChannels: number;
}

export interface TextConfig {
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  mropeSection: [number, number, number];
  vocabSize: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
}

export interface ModelConfig {
  text: TextConfig;
  vision: VisionConfig;
  imageTokenId: number;
  videoTokenId: number;
  visionStartTokenId: number;
  visionEndTokenId: number;
  bosTokenId: number | undefined;
  eosTokenId: number[];
}

export interface PreprocessorConfig {
  minPixels: number;
  maxPixels: number;
  patchSize: number;
  temporalPatchSize: number;
  mergeSize: number;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  rescaleFactor: number;
}

export interface GenerationConfig {
  doSample: boolean;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  eosTokenId: number[];
  padTokenId: number | undefined;
  bosTokenId: number | undefined;
  maxLength: number | undefined;
  maxNewTokens: number | undefined;
  minLength: number;
}

/**
 * The largest pixel budget (min_pixels / max_pixels, in any config, flag or option) qwen-vl
 * accepts: 2^26 pixels, an 8192×8192 image, whose `pixel_values` alone take 1.6 GB
 * (24 bytes a pixel). Hugging Face's default max_pixels is 12,845,056. A larger budget would
 * fail deep inside the allocator instead of naming the setting.
 */
export const MAX_PIXEL_BUDGET = 2 ** 26;

/** What is wrong with a positive pixel budget (a config field or an option), or undefined. */
export function pixelBudgetProblem(pixels: number): string | undefined {
  return pixels > MAX_PIXEL_BUDGET ? `must be at most ${MAX_PIXEL_BUDGET} pixels (an 8192×8192 image), got ${pixels}` : undefined;
}

/**
 * The most pixels an image may declare for qwen-vl to decode it: 2^26 (an 8192×8192 image,
 * 256 MB as RGBA). A small file can declare 16000×16000 (768 MB decoded) and four of them
 * exhausted a 24 GB machine; the header is read before any pixel is.
 */
export const MAX_DECODED_PIXELS = 2 ** 26;

/**
 * Refuses an image whose header declares more than `maxPixels` pixels (UNSUPPORTED_IMAGE,
 * naming `source`): what every host's decoder calls before it allocates the pixels.
 */
export function refuseOversizedImage(width: number, height: number, maxPixels: number, source: string): void {
  if (width * height > maxPixels) {
    throw new QwenVLError('UNSUPPORTED_IMAGE', `declares ${width}×${height} pixels, more than the ${maxPixels} qwen-vl decodes (maxPixels)`, { source });
  }
}

type Json = Record<string, unknown>;

/**
 * Reads typed fields of one JSON object, naming `file` and the field on any mismatch
 * (INVALID_CONFIG). `child` reads a nested object, naming its fields by their dotted path.
 */
export class FieldReader {
  constructor(
    private readonly file: string,
    private readonly obj: Json,
    private readonly prefix = '',
  ) {}

  private fail(key: string, message: string): never {
    throw new QwenVLError('INVALID_CONFIG', message, { source: `${this.file} field "${this.prefix}${key}"` });
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  number(key: string, fallback?: number): number {
    const value = this.obj[key];
    if (value === undefined || value === null) {
      if (fallback !== undefined) return fallback;
      this.fail(key, 'is missing');
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(key, `must be a number, got ${JSON.stringify(value)}`);
    return value;
  }

  positiveNumber(key: string, fallback?: number): number {
    const value = this.number(key, fallback);
    if (value <= 0) this.fail(key, `must be greater than 0, got ${value}`);
    return value;
  }

  pixelBudget(key: string, fallback: number): number {
    const value = this.positiveInt(key, fallback);
    const problem = pixelBudgetProblem(value);
    if (problem !== undefined) this.fail(key, problem);
    return value;
  }

  positiveInt(key: string, fallback?: number): number {
    const value = this.number(key, fallback);
    if (!Number.isInteger(value) || value <= 0) this.fail(key, `must be a positive integer, got ${value}`);
    return value;
  }

  optionalInt(key: string): number | undefined {
    return this.has(key) ? this.positiveIntOrZero(key) : undefined;
  }

  private positiveIntOrZero(key: string): number {
    const value = this.number(key);
    if (!Number.isInteger(value) || value < 0) this.fail(key, `must be a non-negative integer, got ${value}`);
    return value;
  }

  string(key: string, fallback?: string): string {
    const value = this.obj[key];
    if (value === undefined || value === null) {
      if (fallback !== undefined) return fallback;
      this.fail(key, 'is missing');
    }
    if (typeof value !== 'string' || value.length === 0) this.fail(key, `must be a non-empty string, got ${JSON.stringify(value)}`);
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.obj[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  intList(key: string, fallback?: number[]): number[] {
    const value = this.obj[key];
    if (value === undefined || value === null) {
      if (fallback !== undefined) return fallback;
      this.fail(key, 'is missing');
    }
    const list = typeof value === 'number' ? [value] : value;
    if (!Array.isArray(list) || !list.every((v) => Number.isInteger(v) && v >= 0)) {
      this.fail(key, `must be a list of non-negative integers, got ${JSON.stringify(value)}`);
    }
    return list as number[];
  }

  triple(key: string, fallback?: [number, number, number]): [number, number, number] {
    const value = this.obj[key] ?? fallback;
    if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      this.fail(key, `must be a list of 3 numbers, got ${JSON.stringify(value)}`);
    }
    return value as [number, number, number];
  }

  child(key: string): FieldReader {
    const value = this.obj[key];
    if (value === undefined || value === null) return new FieldReader(this.file, {}, `${this.prefix}${key}.`);
    if (typeof value !== 'object' || Array.isArray(value)) this.fail(key, 'must be an object');
    return new FieldReader(this.file, value as Json, `${this.prefix}${key}.`);
  }
}

/** `json` as an object; INVALID_CONFIG naming `file` when it is anything else. */
export function asObject(file: string, json: unknown): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new QwenVLError('INVALID_CONFIG', 'must hold a JSON object', { source: file });
  }
  return json as Json;
}

export function parseModelConfig(json: unknown, file = 'config.json'): ModelConfig {
  const root = new FieldReader(file, asObject(file, json));
  const textObj = asObject(file, json).text_config;
  const text = textObj !== undefined && textObj !== null ? root.child('text_config') : root;
  const vision = root.child('vision_config');
  // Text fields first look in text_config, then at the top level.
  const pick = (key: string) => (text.has(key) ? text : root);

  const hiddenSize = pick('hidden_size').positiveInt('hidden_size');
  const numAttentionHeads = pick('num_attention_heads').positiveInt('num_attention_heads');
  const numKeyValueHeads = pick('num_key_value_heads').positiveInt('num_key_value_heads', numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new QwenVLError('INVALID_CONFIG', `num_attention_heads ${numAttentionHeads} is not a multiple of num_key_value_heads ${numKeyValueHeads}`, { source: file });
  }
  const headDim = pick('head_dim').positiveInt('head_dim', hiddenSize / numAttentionHeads);
  const ropeScaling = pick('rope_scaling').child('rope_scaling');
  const mropeSection = ropeScaling.triple('mrope_section');
  if (!mropeSection.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new QwenVLError('INVALID_CONFIG', `must be 3 non-negative integers, got ${JSON.stringify(mropeSection)}`, { source: `${file} field "rope_scaling.mrope_section"` });
  }
  if ((mropeSection[0] + mropeSection[1] + mropeSection[2]) * 2 !== headDim) {
    throw new QwenVLError('INVALID_CONFIG', `mrope_section ${JSON.stringify(mropeSection)} must sum to head_dim/2 = ${headDim / 2}`, { source: file });
  }

  const visionHidden = vision.positiveInt('hidden_size');
  const visionHeads = vision.positiveInt('num_heads');
  if (visionHidden % visionHeads !== 0) {
    throw new QwenVLError('INVALID_CONFIG', `vision hidden_size ${visionHidden} is not a multiple of num_heads ${visionHeads}`, { source: file });
  }

  const depth = vision.positiveInt('depth');
  const patchSize = vision.positiveInt('patch_size', vision.positiveInt('spatial_patch_size', 14));
  const spatialMergeSize = vision.positiveInt('spatial_merge_size', 2);
  const windowSize = vision.positiveInt('window_size', 112);
  // Hugging Face windows hold window_size // merge // patch merge units a side: 0 would leave no window.
  if (Math.floor(windowSize / spatialMergeSize / patchSize) < 1) {
    throw new QwenVLError('INVALID_CONFIG', `must be at least patch_size × spatial_merge_size = ${patchSize * spatialMergeSize}, got ${windowSize}`, {
      source: `${file} field "vision_config.window_size"`,
    });
  }
  const fullAttBlockIndexes = vision.intList(
    'fullatt_block_indexes',
    [7, 15, 23, 31].filter((i) => i < depth),
  );
  const beyond = fullAttBlockIndexes.find((i) => i >= depth);
  if (beyond !== undefined) {
    throw new QwenVLError('INVALID_CONFIG', `names block ${beyond}, but the vision tower has ${depth} blocks (depth)`, { source: `${file} field "vision_config.fullatt_block_indexes"` });
  }

  return {
    text: {
      hiddenSize,
      intermediateSize: pick('intermediate_size').positiveInt('intermediate_size'),
      numHiddenLayers: pick('num_hidden_layers').positiveInt('num_hidden_layers'),
      numAttentionHeads,
      numKeyValueHeads,
      headDim,
      rmsNormEps: pick('rms_norm_eps').positiveNumber('rms_norm_eps', 1e-6),
      ropeTheta: pick('rope_theta').positiveNumber('rope_theta', 1e6),
      mropeSection,
      vocabSize: pick('vocab_size').positiveInt('vocab_size'),
      maxPositionEmbeddings: pick('max_position_embeddings').positiveInt('max_position_embeddings', 128000),
      tieWordEmbeddings: (text.has('tie_word_embeddings') ? text : root).bool('tie_word_embeddings', false),
    },
    vision: {
      depth,
      hiddenSize: visionHidden,
      intermediateSize: vision.positiveInt('intermediate_size', 3420),
      numHeads: visionHeads,
      outHiddenSize: vision.positiveInt('out_hidden_size', hiddenSize),
      patchSize,
      spatialMergeSize,
      temporalPatchSize: vision.positiveInt('temporal_patch_size', 2),
      windowSize,
      fullAttBlockIndexes,
      tokensPerSecond: vision.positiveNumber('tokens_per_second', 2),
      inChannels: vision.positiveInt('in_chans', vision.positiveInt('in_channels', 3)),
    },
    imageTokenId: root.positiveInt('image_token_id', 151655),
    videoTokenId: root.positiveInt('video_token_id', 151656),
    visionStartTokenId: root.positiveInt('vision_start_token_id', 151652),
    visionEndTokenId: root.positiveInt('vision_end_token_id', 151653),
    bosTokenId: root.optionalInt('bos_token_id'),
    eosTokenId: root.intList('eos_token_id', [151645]),
  };
}

export function parsePreprocessorConfig(json: unknown, file = 'preprocessor_config.json'): PreprocessorConfig {
  const r = new FieldReader(file, asObject(file, json));
  // Some re-saved folders carry `size: {shortest_edge, longest_edge}` instead of min/max_pixels.
  const size = r.child('size');
  const minPixels = r.pixelBudget('min_pixels', size.has('shortest_edge') ? size.pixelBudget('shortest_edge', 3136) : 3136);
  const maxPixels = r.pixelBudget('max_pixels', size.has('longest_edge') ? size.pixelBudget('longest_edge', 12845056) : 12845056);
  if (minPixels > maxPixels) {
    throw new QwenVLError('INVALID_CONFIG', `min_pixels ${minPixels} is larger than max_pixels ${maxPixels}`, { source: file });
  }
  const imageStd = r.triple('image_std', [0.26862954, 0.26130258, 0.27577711]);
  if (imageStd.some((s) => s === 0)) {
    throw new QwenVLError('INVALID_CONFIG', 'must not contain 0', { source: `${file} field "image_std"` });
  }
  return {
    minPixels,
    maxPixels,
    patchSize: r.positiveInt('patch_size', 14),
    temporalPatchSize: r.positiveInt('temporal_patch_size', 2),
    mergeSize: r.positiveInt('merge_size', 2),
    imageMean: r.triple('image_mean', [0.48145466, 0.4578275, 0.40821073]),
    imageStd,
    rescaleFactor: r.number('rescale_factor', 1 / 255),
  };
}

export function parseGenerationConfig(json: unknown, file = 'generation_config.json'): GenerationConfig {
  const r = new FieldReader(file, asObject(file, json));
  return {
    doSample: r.bool('do_sample', false),
    temperature: r.number('temperature', 1),
    topK: r.number('top_k', 50),
    topP: r.number('top_p', 1),
    repetitionPenalty: r.number('repetition_penalty', 1),
    eosTokenId: r.intList('eos_token_id', []),
    padTokenId: r.optionalInt('pad_token_id'),
    bosTokenId: r.optionalInt('bos_token_id'),
    maxLength: r.optionalInt('max_length'),
    maxNewTokens: r.optionalInt('max_new_tokens'),
    minLength: r.number('min_length', 0),
  };
}
