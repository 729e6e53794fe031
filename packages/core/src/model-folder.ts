import { QwenVLError } from './errors.js';
import { parseGenerationConfig, parseModelConfig, parsePreprocessorConfig } from './config.js';
import type { GenerationConfig, ModelConfig, PreprocessorConfig } from './config.js';

/**
 * Read access to a model folder. Node implements it over the file system, the browser over
 * fetch; everything above works through this interface only. `exists` must not throw.
 */
export interface ModelFolder {
  /** Human-readable location, used in error messages. */
  readonly location: string;
  exists(name: string): Promise<boolean>;
  readBytes(name: string): Promise<Uint8Array>;
  readText(name: string): Promise<string>;
}

export const MODEL_FILES = {
  config: 'config.json',
  preprocessor: 'preprocessor_config.json',
  generation: 'generation_config.json',
  /** The template as plain Jinja text; transformers ≥ 4.50 saves it so, and prefers it to the JSON file. */
  chatTemplateJinja: 'chat_template.jinja',
  chatTemplate: 'chat_template.json',
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
} as const;

export async function readJson(folder: ModelFolder, name: string): Promise<unknown> {
  const text = await folder.readText(name);
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new QwenVLError('INVALID_CONFIG', `is not valid JSON (${(cause as Error).message})`, { source: `${folder.location}/${name}`, cause });
  }
}

export interface ModelConfigs {
  model: ModelConfig;
  preprocessor: PreprocessorConfig;
  generation: GenerationConfig;
}

/** Loads and validates the three JSON configs; generation_config.json is optional. */
export async function loadModelConfigs(folder: ModelFolder): Promise<ModelConfigs> {
  const path = (name: string) => `${folder.location}/${name}`;
  const model = parseModelConfig(await readJson(folder, MODEL_FILES.config), path(MODEL_FILES.config));
  const preprocessor = parsePreprocessorConfig(await readJson(folder, MODEL_FILES.preprocessor), path(MODEL_FILES.preprocessor));
  const generationJson = (await folder.exists(MODEL_FILES.generation)) ? await readJson(folder, MODEL_FILES.generation) : { eos_token_id: model.eosTokenId };
  const generation = parseGenerationConfig(generationJson, path(MODEL_FILES.generation));
  return { model, preprocessor, generation };
}
