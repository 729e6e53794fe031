import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_FILES, parseModelConfig, readJson } from '@qwen-vl/core';
import type { Device } from '@qwen-vl/core';
import { openVisionModel } from '@qwen-vl/pipeline';
import type { PreparedModelInputs } from '@qwen-vl/pipeline';
import type { VisionEncoder, VisionFeatures } from '@qwen-vl/vision';
import { onnxruntimeNodeBackend } from './backend/ort-backend.js';
import { VISION_PART } from '@qwen-vl/builder';
import { NodeModelFolder } from './model-folder.js';

export interface VisionRunnerOptions {
  /** Default cpu. */
  device?: Device;
  intraOpThreads?: number;
}

/** Whether `modelFolder` holds an exported vision encoder (a folder made by `qwen-vl build`). */
export async function hasVisionModel(modelFolder: string): Promise<boolean> {
  const info = await stat(join(modelFolder, VISION_PART.file)).catch(() => undefined);
  return info !== undefined && info.isFile();
}

/** Opens the vision encoder of a built model folder on onnxruntime-node. */
export async function openVisionEncoder(modelFolder: string, options: VisionRunnerOptions = {}): Promise<VisionEncoder> {
  const folder = await NodeModelFolder.open(modelFolder);
  const config = parseModelConfig(await readJson(folder, MODEL_FILES.config), join(modelFolder, MODEL_FILES.config)).vision;
  return openVisionModel(onnxruntimeNodeBackend, { model: join(modelFolder, VISION_PART.file) }, config, { device: options.device ?? 'cpu', intraOpThreads: options.intraOpThreads });
}

/**
 * The image features of prepared inputs, when the request has images and the folder holds
 * an exported vision encoder; undefined otherwise.
 */
export async function encodePreparedImages(modelFolder: string, prepared: PreparedModelInputs, options: VisionRunnerOptions = {}): Promise<VisionFeatures | undefined> {
  if (prepared.imageGridThw.length === 0 || !(await hasVisionModel(modelFolder))) return undefined;
  const encoder = await openVisionEncoder(modelFolder, options);
  try {
    return await encoder.encode(prepared.pixelValues, prepared.imageGridThw);
  } finally {
    await encoder.dispose();
  }
}
