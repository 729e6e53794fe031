/**
 * The .onnx files of a model folder made by `qwen-vl build`. Each file's large weights sit
 * beside it in `<file>.data`, the external data location written into the model.
 */
export const BUILT_MODEL_FILES = {
  vision: 'vision.onnx',
  embed: 'embed.onnx',
  decoder: 'decoder.onnx',
} as const;

/** The external data file a built model names for its weights. */
export function externalDataFile(modelFile: string): string {
  return `${modelFile}.data`;
}
