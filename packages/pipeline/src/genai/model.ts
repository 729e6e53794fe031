import type { Device, GenerationConfig, ModelConfig } from '@qwen-vl/core';
import { openBuiltModel } from '../built-model.js';
import type { GenaiConfig } from './config.js';
import { lookupModelParts, registerModelParts } from './model-parts.js';
import { MultiModalProcessor } from './multimodal-processor.js';

/**
 * onnxruntime-genai's `og.Model`: a model folder (qwen-vl's or genai's layout), opened on the Config's
 * provider; immutable: each Generator keeps its own KV cache, and their model runs take turns.
 */
export class Model {
  /** genai's model type of Qwen2.5-VL. */
  readonly type = 'qwen2_5_vl';

  private constructor(
    /** config.json, parsed. */
    readonly config: ModelConfig,
    /** generation_config.json, parsed: the defaults of the search options. */
    readonly generationConfig: GenerationConfig,
    /** The provider it runs on. */
    readonly deviceType: Device,
  ) {}

  /** Opens the Config's folder on its provider: configs, tokenizer, the text model, and the vision encoder when the folder has one. */
  static async create(config: GenaiConfig): Promise<Model> {
    const host = await config.host();
    const device = config.provider;
    const built = await openBuiltModel({ ...host, device, providerOptions: config.providerOptions(device) });
    await host.opened?.();
    const model = new Model(built.config, built.generationConfig, device);
    registerModelParts(model, { ...built, folder: host.folder, device, disposed: false });
    return model;
  }

  createMultimodalProcessor(): MultiModalProcessor {
    return new MultiModalProcessor(this);
  }

  /** Frees the runtime sessions and every generator's cache; the model and its generators cannot be used afterwards (INVALID_ARGUMENT). Idempotent. */
  async dispose(): Promise<void> {
    const parts = lookupModelParts(this);
    if (parts === undefined || parts.disposed) return;
    parts.disposed = true;
    await Promise.all([parts.decoder.dispose(), parts.vision?.dispose()]);
  }
}
