import { GraphBuilder } from '../onnx/graph-builder.js';
import type { Checkpoint } from '../safetensors/checkpoint.js';
import type { OnnxModel } from '../onnx/graph-builder.js';
import type { TextConfig } from '@qwen-vl/core';
import { CheckpointWeights } from './checkpoint-weights.js';
import { EXPORT_PRODUCER, TEXT_OPSETS } from './decoder-graph.js';
import type { TextExportOptions } from './decoder-graph.js';
import { EMBED_IO } from '@qwen-vl/decoder';
import { ONNX_FLOAT } from './onnx-types.js';

/**
 * `embed.onnx`: `input_ids` int64 `[B, S]` → `inputs_embeds` float32 `[B, S, hidden]`, a
 * Gather on the embedding table. Image and video features are placed afterwards, outside
 * the graph (`mergeVisionFeatures`). With fp16 storage the rows are widened after the
 * Gather, so the table is never held in float32.
 */
export function buildEmbedModel(checkpoint: Checkpoint, text: TextConfig, options: TextExportOptions = {}): OnnxModel {
  const weights = new CheckpointWeights(checkpoint, options.precision ?? 'fp32');
  const graph = new GraphBuilder('qwen2_5_vl_embed_tokens', { opsets: TEXT_OPSETS });
  const inputIds = graph.input(EMBED_IO.inputIds, 'int64', ['batch_size', 'sequence_length']);
  const table = weights.initializer(graph, 'model.embed_tokens.weight', [text.vocabSize, text.hiddenSize]);
  const rows = graph.op('Gather', [table, inputIds], { axis: 0 }, { name: 'embed_tokens' });
  const embeds = weights.precision === 'fp16' ? graph.op('Cast', [rows], { to: ONNX_FLOAT }, { name: 'embed_tokens/cast' }) : rows;
  graph.output(embeds, EMBED_IO.inputsEmbeds, 'float32', ['batch_size', 'sequence_length', text.hiddenSize]);
  return graph.build({ producer: EXPORT_PRODUCER, docString: 'Qwen2.5-VL token embedding (input_ids → inputs_embeds)' });
}
