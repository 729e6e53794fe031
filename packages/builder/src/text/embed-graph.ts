import { GraphBuilder } from '../onnx/graph-builder.js';
import type { OnnxModel } from '../onnx/graph-builder.js';
import type { TextConfig } from '@qwen-vl/core';
import { EMBEDDING_TABLE, textTensors } from '../checkpoint/layout.js';
import { GraphWeights } from '../graph/graph-weights.js';
import type { WeightSource } from '../graph/graph-weights.js';
import { EXPORT_PRODUCER, TEXT_OPSETS } from './decoder-graph.js';
import type { TextExportOptions } from './decoder-graph.js';
import { EMBED_IO } from '@qwen-vl/decoder';

/**
 * `embed.onnx`: `input_ids` int64 `[B, S]` → `inputs_embeds` float32 `[B, S, hidden]`, a
 * Gather on the embedding table. Image and video features are placed afterwards, outside
 * the graph (`mergeVisionFeatures`). With fp16 storage the rows are widened after the
 * Gather, so the table is never held in float32.
 */
export function buildEmbedModel(source: WeightSource, text: TextConfig, options: TextExportOptions = {}): OnnxModel {
  // The whole text layout, as for the decoder: a checkpoint that does not fit config.json is refused whichever part is built.
  const weights = new GraphWeights(source, textTensors(text), options.precision ?? 'fp32');
  const graph = new GraphBuilder('qwen2_5_vl_embed_tokens', { opsets: TEXT_OPSETS });
  const inputIds = graph.input(EMBED_IO.inputIds, 'int64', ['batch_size', 'sequence_length']);
  const rows = graph.op('Gather', [weights.stored(graph, EMBEDDING_TABLE), inputIds], { axis: 0 }, { name: 'embed_tokens' });
  const embeds = weights.widened(graph, rows, 'embed_tokens/cast');
  graph.output(embeds, EMBED_IO.inputsEmbeds, 'float32', ['batch_size', 'sequence_length', text.hiddenSize]);
  return graph.build({ producer: EXPORT_PRODUCER, docString: 'Qwen2.5-VL token embedding (input_ids → inputs_embeds)' });
}
