/**
 * The file names of a transformers.js (onnx-community) model folder: what `qwen-vl build
 * --layout transformers.js` writes and what the transformers.js layout reader looks for.
 * The models lie in `onnx/`, one file per part and dtype, `{part}{suffix}.onnx`; large
 * weights in `{file}_data` (then `_data_1`, `_data_2`, ...) beside it; config.json's
 * `transformers.js_config` may name the dtype of each part and how many data files it has.
 */
export const TRANSFORMERS_JS_MODEL_DIR = 'onnx';

/** The base name of each part's model file, by qwen-vl's part name. */
export const TRANSFORMERS_JS_PARTS = {
  vision: 'vision_encoder',
  embed: 'embed_tokens',
  decoder: 'decoder_model_merged',
} as const;

export type TransformersJsPart = keyof typeof TRANSFORMERS_JS_PARTS;
export type TransformersJsModelName = (typeof TRANSFORMERS_JS_PARTS)[TransformersJsPart];

/** transformers.js's dtypes and the file-name suffix each selects. */
export const TRANSFORMERS_JS_DTYPE_SUFFIXES = {
  fp32: '',
  fp16: '_fp16',
  int8: '_int8',
  uint8: '_uint8',
  q8: '_quantized',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
  q2: '_q2',
  q2f16: '_q2f16',
  q1: '_q1',
  q1f16: '_q1f16',
} as const;

export type TransformersJsDtype = keyof typeof TRANSFORMERS_JS_DTYPE_SUFFIXES;

export const TRANSFORMERS_JS_DTYPES = Object.keys(TRANSFORMERS_JS_DTYPE_SUFFIXES) as TransformersJsDtype[];

/** A dtype for every part, or one per model base name (`{ decoder_model_merged: 'q4', ... }`), as transformers.js takes it. */
export type TransformersJsDtypeChoice = TransformersJsDtype | Partial<Record<TransformersJsModelName, TransformersJsDtype>>;

/** config.json's block of transformers.js settings. */
export const TRANSFORMERS_JS_CONFIG_KEY = 'transformers.js_config';

/** `onnx/{base}{suffix}.onnx`, the file of `part` at `dtype`. */
export function transformersJsModelFile(part: TransformersJsPart, dtype: TransformersJsDtype): string {
  return `${TRANSFORMERS_JS_MODEL_DIR}/${TRANSFORMERS_JS_PARTS[part]}${TRANSFORMERS_JS_DTYPE_SUFFIXES[dtype]}.onnx`;
}

/** The external data files of a model file split in `chunks`: `{file}_data`, `{file}_data_1`, ... */
export function transformersJsDataFiles(modelFile: string, chunks: number): string[] {
  return Array.from({ length: chunks }, (_, i) => `${modelFile}_data${i === 0 ? '' : `_${i}`}`);
}
