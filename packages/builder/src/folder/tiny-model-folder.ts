import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_FILES, QwenVLError } from '@qwen-vl/core';
import { openLocalFolder } from './checkpoint-folder.js';
import { generateTinyCheckpoint } from '../checkpoint/tiny-checkpoint.js';
import type { TinyCheckpointOptions } from '../checkpoint/tiny-checkpoint.js';

/** The tokenizer side of a model folder, which `generateTinyCheckpoint` leaves out. */
const TOKENIZER_FILES: readonly string[] = [MODEL_FILES.tokenizer, MODEL_FILES.tokenizerConfig, MODEL_FILES.chatTemplate];

/**
 * Writes a complete, randomly initialised Hugging Face Qwen2.5-VL folder into `directory`
 * (created if needed): the generated config, generation and preprocessor configs and
 * `model.safetensors`, plus the tokenizer files copied from `tokenizerFolder` (any folder
 * with the real Qwen2.5 tokenizer, e.g. a downloaded checkpoint).
 */
export async function writeTinyModelFolder(directory: string, tokenizerFolder: string, options: TinyCheckpointOptions = {}): Promise<void> {
  const source = await openLocalFolder(tokenizerFolder);
  for (const name of TOKENIZER_FILES) {
    if (!(await source.exists(name))) throw new QwenVLError('MISSING_FILE', 'is missing; the tiny model folder copies its tokenizer from here', { source: join(tokenizerFolder, name) });
  }
  await mkdir(directory, { recursive: true });
  for (const [name, contents] of generateTinyCheckpoint(options).files) await writeFile(join(directory, name), contents);
  for (const name of TOKENIZER_FILES) await copyFile(join(tokenizerFolder, name), join(directory, name));
}
