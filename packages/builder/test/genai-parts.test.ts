import { describe, expect, it } from 'vitest';
import { parseGenerationConfig, parseModelConfig } from '@qwen-vl/core';
import type { ModelConfig } from '@qwen-vl/core';
import { EXECUTION_PROVIDERS, genaiConfigJson, parseGenaiConfig } from '@qwen-vl/pipeline';
import type { GenaiGraph } from '@qwen-vl/pipeline';
import { schemaViolations } from '@qwen-vl/test-support';
import { Checkpoint } from '../src/safetensors/checkpoint.js';
import { generateTinyCheckpoint } from '../src/checkpoint/tiny-checkpoint.js';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import type { OnnxModel } from '../src/onnx/graph-builder.js';
import { DEFAULT_QUANTIZATION, GENAI_PARTS } from '../src/index.js';

/** `--layout genai`'s graphs against the genai_config.json written for them. */

async function tinyModel(): Promise<{ checkpoint: Checkpoint; config: ModelConfig }> {
  const { files } = generateTinyCheckpoint();
  const config = parseModelConfig(JSON.parse(files.get('config.json') as string));
  const checkpoint = await Checkpoint.open({
    exists: async (name) => files.has(name),
    readText: async (name) => files.get(name) as string,
    openBytes: async (name) => memoryByteSource(name, files.get(name) as Uint8Array),
  });
  return { checkpoint, config };
}

const names = (values: NonNullable<OnnxModel['proto']['graph']>['input']) => (values ?? []).map((value) => value.name).sort();
const configured = (names: GenaiGraph['inputs']) =>
  Object.values(names)
    .map((name) => name.graph)
    .sort();

describe('GENAI_PARTS', () => {
  it('have exactly the inputs and outputs, and the files, that their genai_config.json names, whatever the execution provider', async () => {
    const { checkpoint, config } = await tinyModel();
    const json = genaiConfigJson(config, parseGenerationConfig({ eos_token_id: config.eosTokenId }), 151643);
    expect(schemaViolations(json)).toEqual([]);
    const genai = parseGenaiConfig(json, 'genai_config.json');
    const graphs = [genai.vision!, genai.embedding, genai.decoder];
    expect(GENAI_PARTS.map((part) => part.file)).toEqual(graphs.map((graph) => graph.file));
    for (const executionProvider of EXECUTION_PROVIDERS) {
      const settings = { text: 'fp32', vision: 'fp32', quantization: DEFAULT_QUANTIZATION, executionProvider } as const;
      GENAI_PARTS.forEach((part, i) => {
        const model = part.build(checkpoint, config, settings);
        expect(names(model.proto.graph?.input), `${part.name} (${executionProvider})`).toEqual(configured(graphs[i].inputs));
        expect(names(model.proto.graph?.output), `${part.name} (${executionProvider})`).toEqual(configured(graphs[i].outputs));
      });
    }
  });
});
