import { GraphBuilder } from '../onnx/graph-builder.js';
import type { OnnxModel } from '../onnx/graph-builder.js';
import type { TextConfig } from '@qwen-vl/core';
import { EMBEDDING_TABLE, textTensors } from '../checkpoint/layout.js';
import { GraphWeights } from '../graph/graph-weights.js';
import type { ComputeType, WeightSource } from '../graph/graph-weights.js';
import { converted } from '../graph/layers.js';
import { EXPORT_PRODUCER, TEXT_OPSETS } from './decoder-graph.js';
import type { TextExportOptions } from './decoder-graph.js';
import { EMBED_IO } from '@qwen-vl/decoder';

export interface EmbedExportOptions extends TextExportOptions {
  /**
   * Take `image_features` float32 `[n, hidden]` and put row k at the k-th token of this id
   * (onnxruntime-genai's embedding model, `--layout genai`); by default the graph has no
   * such input and the features are placed outside it.
   */
  readonly imageFeaturesAt?: number;
}

/**
 * `embed.onnx`: `input_ids` int64 `[B, S]` → `inputs_embeds` float32 `[B, S, hidden]`, a
 * Gather on the embedding table. Image and video features are placed afterwards, outside
 * the graph (`mergeVisionFeatures`), unless `imageFeaturesAt` asks for genai's form. With fp16 storage the rows are widened after the
 * Gather, so the table is never held in float32; with int4 the table is block-quantized
 * and com.microsoft `GatherBlockQuantized` dequantizes only the rows it gathers (a tied
 * lm_head reads the same bytes).
 */
export function buildEmbedModel(source: WeightSource, text: TextConfig, options: EmbedExportOptions = {}): OnnxModel {
  // The whole text layout, as for the decoder: a checkpoint that does not fit config.json is refused whichever part is built.
  const weights = new GraphWeights(source, textTensors(text), options.precision ?? 'fp32', options.quantization);
  const graph = new GraphBuilder('qwen2_5_vl_embed_tokens', { opsets: TEXT_OPSETS });
  const inputIds = graph.input(EMBED_IO.inputIds, 'int64', ['batch_size', 'sequence_length']);
  const rows = weights.quantization === undefined ? floatRows(graph, weights, inputIds) : quantizedRows(graph, weights, inputIds, text.hiddenSize, options.activations ?? 'float32');
  const embeds = options.imageFeaturesAt === undefined ? rows : placeImageFeatures(graph, inputIds, rows, options.imageFeaturesAt, text.hiddenSize);
  graph.output(embeds, EMBED_IO.inputsEmbeds, 'float32', ['batch_size', 'sequence_length', text.hiddenSize]);
  return graph.build({ producer: EXPORT_PRODUCER, docString: 'Qwen2.5-VL token embedding (input_ids → inputs_embeds)' });
}

function floatRows(graph: GraphBuilder, weights: GraphWeights, inputIds: string): string {
  const rows = graph.op('Gather', [weights.stored(graph, EMBEDDING_TABLE), inputIds], { axis: 0 }, { name: 'embed_tokens' });
  return weights.widened(graph, rows, 'embed_tokens/cast');
}

/** The gathered rows, float32; `scaleType` is the scales' type, the decoder's activations' (GatherBlockQuantized's rows come in it). */
function quantizedRows(graph: GraphBuilder, weights: GraphWeights, inputIds: string, hiddenSize: number, scaleType: ComputeType): string {
  const table = weights.quantized(graph, EMBEDDING_TABLE, 'gather', scaleType);
  const gathered = graph.op(
    'GatherBlockQuantized',
    [table.data, inputIds, table.scales, table.zeroPoints],
    { gather_axis: 0, quantize_axis: 1, block_size: table.blockSize, bits: table.bits },
    { domain: 'com.microsoft', name: 'embed_tokens' },
  );
  const rows = converted(graph, gathered, scaleType, 'float32', 'embed_tokens/fp32');
  // Rows are stored in whole blocks (MatMulNBits' layout, shared with a tied lm_head): when
  // the width is not a multiple of the block size, the gathered rows end in zeros to drop.
  if (hiddenSize % table.blockSize === 0) return rows;
  return graph.op('Slice', [rows, graph.constInt64([0]), graph.constInt64([hiddenSize]), graph.constInt64([-1])], {}, { name: 'embed_tokens/unpad' });
}

/**
 * Hugging Face's `masked_scatter` in the graph: the rows of input `image_features` replace,
 * in order, the embeddings of the tokens equal to `tokenId` (row-major over the batch). A
 * count that differs from the features' rows fails in ScatterND.
 */
function placeImageFeatures(graph: GraphBuilder, inputIds: string, embeds: string, tokenId: number, hiddenSize: number): string {
  const features = graph.input(EMBED_IO.imageFeatures, 'float32', ['num_image_tokens', hiddenSize]);
  const flatIds = graph.op('Reshape', [inputIds, graph.constInt64([-1])], {}, { name: 'image_features/flat_ids' });
  const slots = graph.op('NonZero', [graph.op('Equal', [flatIds, graph.constInt64(tokenId)], {}, { name: 'image_features/is_image_token' })], {}, { name: 'image_features/slots' });
  const rows = graph.op('Reshape', [embeds, graph.constInt64([-1, hiddenSize])], {}, { name: 'image_features/embed_rows' });
  const placed = graph.op('ScatterND', [rows, graph.op('Transpose', [slots], { perm: [1, 0] }, { name: 'image_features/slot_rows' }), features], {}, { name: 'image_features/place' });
  return graph.op('Reshape', [placed, graph.op('Shape', [embeds], {}, { name: 'image_features/embeds_shape' })], {}, { name: 'image_features/embeds' });
}
