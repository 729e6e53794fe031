import { MODEL_FILES, QwenVLError, hostTensor, parseModelConfig, parsePreprocessorConfig, readJson } from '@qwen-vl/core';
import type { HostTensor, InferenceSessionHandle, ModelConfig, ModelConfigs, ModelFolder, PreprocessorConfig } from '@qwen-vl/core';
import { EMBED_IO } from '@qwen-vl/decoder';
import type { BuiltModel, BuiltModelHost } from '../built-model.js';
import { MANIFEST_FILE, checkExecutionProvider, manifestDataFiles, readBuildManifest } from '../built-model-files.js';
import type { GraphNaming } from '../model-sessions.js';
import type { SessionNames } from './adapted-session.js';
import { GENAI_CONFIG_FILE, parseGenaiConfig } from './genai-config.js';
import type { GenaiFolderConfig, GenaiGraph } from './genai-config.js';
import { genaiPreprocessorConfig } from './genai-processor-config.js';
import type { FolderLayout } from './folder-layout.js';
import { openModelFiles } from './model-files.js';
import type { ModelFile } from './model-files.js';

/**
 * An onnxruntime-genai folder (`genai_config.json`), run by qwen-vl's own runtime: its three
 * models are opened under the names its config gives them and presented under qwen-vl's
 * (`AdaptedSession`). The text model takes `position_ids` (DecoderSession feeds those to such
 * a graph), the vision model `pixel_values` and `image_grid_thw` (so does VisionEncoder), and
 * the embedding model places image features itself: qwen-vl feeds it none (an empty
 * `image_features`, the image and video pads read as the pad token) and places the
 * features afterwards, as for its own folders, so that videos work too.
 */
async function openGenaiModel(host: BuiltModelHost): Promise<BuiltModel> {
  const { folder } = host;
  const where = (file: string) => `${folder.location}/${file}`;
  const { genai, configs } = await readGenaiFolder(folder);
  const manifest = await readBuildManifest(folder);
  checkExecutionProvider(manifest, host.device, where(MANIFEST_FILE));
  const file = async (graph: GenaiGraph, sessionNames: GraphNaming['sessionNames']): Promise<ModelFile> => {
    if (!(await folder.exists(graph.file))) {
      throw new QwenVLError('MISSING_FILE', `not found; ${GENAI_CONFIG_FILE} field "${graph.fileField}" names it`, { source: where(graph.file) });
    }
    return { file: graph.file, externalData: manifestDataFiles(manifest, graph.file), naming: { graphOutput: (name) => graph.outputs[name]?.graph ?? name, sessionNames } };
  };
  const { vision } = genai;
  return openModelFiles(host, {
    configs,
    embed: await file(genai.embedding, (session) => embeddingNames(session, genai, configs.model, where)),
    decoder: await file(genai.decoder, (session) => graphNames(session, genai.decoder, where)),
    vision: vision === undefined ? undefined : await file(vision, (session) => graphNames(session, vision, where)),
  });
}

/** genai_config.json, and the configs qwen-vl describes the folder with (`FolderLayout.configs`). */
async function readGenaiFolder(folder: ModelFolder): Promise<{ genai: GenaiFolderConfig; configs: ModelConfigs }> {
  const where = (file: string) => `${folder.location}/${file}`;
  const genai = parseGenaiConfig(await readJson(folder, GENAI_CONFIG_FILE), where(GENAI_CONFIG_FILE));
  const model = (await folder.exists(MODEL_FILES.config))
    ? checkpointConfig(parseModelConfig(await readJson(folder, MODEL_FILES.config), where(MODEL_FILES.config)), genai, where(GENAI_CONFIG_FILE))
    : genai.model;
  // A folder without vision still needs the processor's settings, which then never apply to an image.
  const preprocessor = genai.vision === undefined ? parsePreprocessorConfig({}) : await processorConfig(folder, genai, model);
  return { genai, configs: { model, preprocessor, generation: genai.generation } };
}

/**
 * The checkpoint's config.json when the folder has one (exact where genai_config.json is
 * silent), once it agrees with genai_config.json on what both state.
 */
function checkpointConfig(config: ModelConfig, genai: GenaiFolderConfig, genaiFile: string): ModelConfig {
  const stated: Array<[string, number, number]> = [
    ['model.decoder.hidden_size', genai.model.text.hiddenSize, config.text.hiddenSize],
    ['model.decoder.num_hidden_layers', genai.model.text.numHiddenLayers, config.text.numHiddenLayers],
    ['model.decoder.num_attention_heads', genai.model.text.numAttentionHeads, config.text.numAttentionHeads],
    ['model.decoder.num_key_value_heads', genai.model.text.numKeyValueHeads, config.text.numKeyValueHeads],
    ['model.decoder.head_size', genai.model.text.headDim, config.text.headDim],
    ['model.vocab_size', genai.model.text.vocabSize, config.text.vocabSize],
    ['model.image_token_id', genai.model.imageTokenId, config.imageTokenId],
  ];
  for (const [field, given, checkpoint] of stated) {
    if (given !== checkpoint) throw new QwenVLError('INVALID_CONFIG', `is ${given}, but the folder's config.json says ${checkpoint}`, { source: `${genaiFile} field "${field}"` });
  }
  // The folder runs with genai's context length and token ids, as genai would run it.
  return { ...config, text: { ...config.text, maxPositionEmbeddings: genai.model.text.maxPositionEmbeddings }, eosTokenId: genai.model.eosTokenId };
}

/** `processor_config.json` (or the file genai_config.json names), checked against the patch sizes the model was described with. */
async function processorConfig(folder: ModelFolder, genai: GenaiFolderConfig, model: ModelConfig): Promise<PreprocessorConfig> {
  const file = `${folder.location}/${genai.processorFile}`;
  if (!(await folder.exists(genai.processorFile))) {
    throw new QwenVLError('MISSING_FILE', `not found; ${GENAI_CONFIG_FILE} field "model.vision.config_filename" names it (default processor_config.json)`, { source: file });
  }
  const config = genaiPreprocessorConfig(await readJson(folder, genai.processorFile), file);
  const pairs: Array<[string, number, number]> = [
    ['patch_size', config.patchSize, model.vision.patchSize],
    ['merge_size', config.mergeSize, model.vision.spatialMergeSize],
    ['temporal_patch_size', config.temporalPatchSize, model.vision.temporalPatchSize],
  ];
  for (const [field, processor, vision] of pairs) {
    if (processor !== vision) throw new QwenVLError('INVALID_CONFIG', `PatchImage's ${field} is ${processor}, but the model's is ${vision}`, { source: file });
  }
  return config;
}

/**
 * The names of `graph` for an AdaptedSession over `session`: each name genai_config.json gives
 * must be one of the session's, and each of the session's inputs one qwen-vl feeds (an
 * unknown one is INVALID_MODEL naming it). `optional` inputs qwen-vl feeds only when the graph has them.
 */
function graphNames(session: InferenceSessionHandle, graph: GenaiGraph, where: (file: string) => string, optional: readonly string[] = []): SessionNames {
  const configFile = where(GENAI_CONFIG_FILE);
  const pick = (names: GenaiGraph['inputs'], have: readonly string[], kind: 'input' | 'output') =>
    Object.fromEntries(
      Object.entries(names).flatMap(([ours, { graph: name, field }]) => {
        if (have.includes(name)) return [[ours, name]];
        if (optional.includes(ours)) return [];
        throw new QwenVLError('INVALID_MODEL', `names "${name}", which ${graph.file} has no ${kind} of (its ${kind}s: ${have.join(', ')})`, { source: `${configFile} field "${field}"` });
      }),
    );
  const inputs = pick(graph.inputs, session.inputNames, 'input');
  const outputs = pick(graph.outputs, session.outputNames, 'output');
  const fed = new Set(Object.values(inputs));
  const unfed = session.inputNames.find((name) => !fed.has(name));
  if (unfed !== undefined) {
    throw new QwenVLError('INVALID_MODEL', `has input "${unfed}", which ${GENAI_CONFIG_FILE} does not name and qwen-vl does not feed (it feeds ${[...fed].join(', ')})`, { source: where(graph.file) });
  }
  return { inputs, outputs };
}

/**
 * The embedding's names, and what stands in for its image features: none (`[0, hidden]`),
 * and the image and video pads read as `pad_token_id`, whose rows `mergeVisionFeatures`
 * then replaces. A graph without an image_features input is fed its token ids alone.
 */
function embeddingNames(session: InferenceSessionHandle, genai: GenaiFolderConfig, model: ModelConfig, where: (file: string) => string): SessionNames {
  const names = graphNames(session, genai.embedding, where, [EMBED_IO.imageFeatures]);
  const featuresInput = names.inputs[EMBED_IO.imageFeatures];
  if (featuresInput === undefined) return names;
  const pads = new Set([model.imageTokenId, model.videoTokenId]);
  return {
    inputs: Object.fromEntries(Object.entries(names.inputs).filter(([ours]) => ours !== EMBED_IO.imageFeatures)),
    outputs: names.outputs,
    constantFeeds: { [featuresInput]: hostTensor('float32', new Float32Array(0), [0, model.text.hiddenSize]) },
    rewriteFeed: (name, tensor): HostTensor => {
      if (name !== EMBED_IO.inputIds) return tensor;
      const ids = tensor.data as BigInt64Array;
      return hostTensor(
        'int64',
        ids.map((id) => (pads.has(Number(id)) ? BigInt(genai.padTokenId) : id)),
        tensor.dims,
      );
    },
  };
}

export const GENAI_LAYOUT: FolderLayout = {
  name: 'genai',
  marker: GENAI_CONFIG_FILE,
  holds: (folder) => folder.exists(GENAI_CONFIG_FILE),
  configs: async (folder) => (await readGenaiFolder(folder)).configs,
  open: openGenaiModel,
};
