import { FieldReader, QwenVLError, asObject } from '@qwen-vl/core';
import type { PreprocessorConfig } from '@qwen-vl/core';

/**
 * onnxruntime-genai's image processor settings (`processor_config.json`, the
 * onnxruntime-extensions pipeline its Qwen2.5-VL processor runs): a list of transforms,
 * each `{ operation: { name, type, attrs } }`. The Qwen2.5-VL one decodes (RGB), resizes
 * with `smart_resize`, rescales, normalizes and cuts patches; qwen-vl reads its numbers into
 * the `PreprocessorConfig` its own (Hugging Face-exact) processor uses.
 */
export const GENAI_PROCESSOR_NAME = 'qwen2_5_image_processor';

/** The transforms qwen-vl knows, in order; `attrs` it reads are named in `genaiPreprocessorConfig`. */
const TRANSFORMS = ['DecodeImage', 'ConvertRGB', 'Resize', 'Rescale', 'Normalize', 'PatchImage'] as const;

type Transform = (typeof TRANSFORMS)[number];

/** `processor_config.json` as a `PreprocessorConfig`; `file` names it in errors (INVALID_CONFIG naming the transform and attribute). */
export function genaiPreprocessorConfig(json: unknown, file: string): PreprocessorConfig {
  const list = asObject(file, asObject(file, json).processor).transforms;
  if (!Array.isArray(list)) throw new QwenVLError('INVALID_CONFIG', 'must be a list of transforms', { source: `${file} field "processor.transforms"` });
  const attrs = new Map<Transform, { reader: FieldReader; where: string }>();
  list.forEach((entry: unknown, i) => {
    const where = `processor.transforms[${i}].operation`;
    const operation = new FieldReader(file, asObject(file, entry)).child('operation');
    const type = operation.string('type');
    if (!(TRANSFORMS as readonly string[]).includes(type)) {
      throw new QwenVLError('INVALID_CONFIG', `is "${type}", a transform qwen-vl's image processor does not have (it runs ${TRANSFORMS.join(', ')})`, { source: `${file} field "${where}.type"` });
    }
    const given = (entry as { operation: Record<string, unknown> }).operation.attrs ?? {};
    attrs.set(type as Transform, { reader: new FieldReader(file, asObject(`${file} field "${where}.attrs"`, given), `${where}.attrs.`), where: `${where}.attrs` });
  });
  const need = (type: Transform) => {
    const found = attrs.get(type);
    if (found === undefined) throw new QwenVLError('INVALID_CONFIG', `has no ${type} transform, which a Qwen2.5-VL image processor needs`, { source: `${file} field "processor.transforms"` });
    return found;
  };
  const { reader: resize, where: resizeAttrs } = need('Resize');
  if (resize.number('smart_resize', 0) !== 1) {
    throw new QwenVLError('INVALID_CONFIG', "must be 1: qwen-vl resizes as Qwen2.5-VL's smart_resize does, not to a fixed size", { source: `${file} field "${resizeAttrs}.smart_resize"` });
  }
  const { reader: normalize, where: normalizeAttrs } = need('Normalize');
  const patch = need('PatchImage').reader;
  const config: PreprocessorConfig = {
    minPixels: resize.pixelBudget('min_pixels', 3136),
    maxPixels: resize.pixelBudget('max_pixels', 12845056),
    patchSize: patch.positiveInt('patch_size', resize.positiveInt('patch_size', 14)),
    temporalPatchSize: patch.positiveInt('temporal_patch_size', 2),
    mergeSize: patch.positiveInt('merge_size', resize.positiveInt('merge_size', 2)),
    imageMean: normalize.triple('mean'),
    imageStd: normalize.triple('std'),
    rescaleFactor: need('Rescale').reader.number('rescale_factor'),
  };
  if (config.minPixels > config.maxPixels) throw new QwenVLError('INVALID_CONFIG', `min_pixels ${config.minPixels} is larger than max_pixels ${config.maxPixels}`, { source: file });
  if (config.imageStd.some((s) => s === 0)) throw new QwenVLError('INVALID_CONFIG', 'must not contain 0', { source: `${file} field "${normalizeAttrs}.std"` });
  return config;
}

/**
 * `processor_config.json` for `config`, as onnxruntime-genai's builder and Olive's Qwen2.5-VL
 * recipe write it. `width` / `height` are the Resize transform's fixed size, unused with
 * `smart_resize` (which sizes each image from its own): the largest square within max_pixels.
 */
export function genaiProcessorConfigJson(config: PreprocessorConfig): object {
  const factor = config.patchSize * config.mergeSize;
  const side = Math.max(factor, Math.floor(Math.sqrt(config.maxPixels) / factor) * factor);
  const operation = (name: string, type: Transform, attrs?: object) => ({ operation: { name, type, ...(attrs === undefined ? {} : { attrs }) } });
  return {
    processor: {
      name: GENAI_PROCESSOR_NAME,
      transforms: [
        operation('decode_image', 'DecodeImage', { color_space: 'RGB' }),
        operation('convert_to_rgb', 'ConvertRGB'),
        operation('resize', 'Resize', {
          width: side,
          height: side,
          smart_resize: 1,
          min_pixels: config.minPixels,
          max_pixels: config.maxPixels,
          patch_size: config.patchSize,
          merge_size: config.mergeSize,
        }),
        operation('rescale', 'Rescale', { rescale_factor: config.rescaleFactor }),
        operation('normalize', 'Normalize', { mean: config.imageMean, std: config.imageStd, qwen2_5_vl: 1 }),
        operation('patch_image', 'PatchImage', { patch_size: config.patchSize, temporal_patch_size: config.temporalPatchSize, merge_size: config.mergeSize }),
      ],
    },
  };
}
