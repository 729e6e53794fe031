import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { QwenVLError } from '@qwen-vl/core';

/**
 * The path of a built folder's .onnx, or MISSING_FILE pointing at `qwen-vl build`: the usual
 * cause is a Hugging Face folder passed where a built one is needed.
 */
export async function requireBuiltFile(directory: string, file: string): Promise<string> {
  const path = join(directory, file);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined || !info.isFile()) {
    throw new QwenVLError('MISSING_FILE', `not found; ${directory} is not a complete model folder made by "qwen-vl build" (run: qwen-vl build --input HF_DIR --output OUT_DIR, then use OUT_DIR)`, {
      source: path,
    });
  }
  return path;
}
