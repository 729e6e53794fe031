import { GraphBuilder } from '../onnx/graph-builder.js';
import type { OnnxModel } from '../onnx/graph-builder.js';
import { QwenVLError } from '@qwen-vl/core';
import type { TextConfig } from '@qwen-vl/core';
import type { QuantizationSettings, WeightPrecision } from '@qwen-vl/pipeline';
import { outputProjection, textTensors } from '../checkpoint/layout.js';
import { GraphWeights } from '../graph/graph-weights.js';
import type { ComputeType, WeightSource } from '../graph/graph-weights.js';
import { converted, linear, rmsNorm, swiGlu } from '../graph/layers.js';
import { attentionContext, selfAttention } from './attention-graph.js';
import type { DecoderAttention } from './attention-graph.js';
import { DECODER_IO, pastKeyName, pastValueName, presentKeyName, presentValueName } from '@qwen-vl/decoder';
import type { DecoderPositionInput } from '@qwen-vl/decoder';
import { rotaryFromPositionIds, rotaryInputs } from './rotary-graph.js';

export interface TextExportOptions {
  /** Weight storage (default fp32); see `WeightPrecision`. */
  readonly precision?: WeightPrecision;
  /** Block size and accuracy level of an int4 export (default `DEFAULT_QUANTIZATION`). */
  readonly quantization?: QuantizationSettings;
  /**
   * The element type the decoder's layers compute in (`ComputeType`): float32 (default), or
   * float16, for an fp16 or int4 build on a provider that computes float16 natively (fp16,
   * q4f16): the linear layers, the rotary embedding, attention and the KV cache
   * (`past_key_values.*`, `present.*` float16) in float16, with the RMSNorms, the softmax and
   * the residual stream in float32, and the logits float32. An int4 table's scales are then
   * float16 in both text models (the decoder's MatMulNBits take them so, and a tied lm_head
   * shares them with the embedding). Not with fp32 weights, nor with the CPU's
   * GroupQueryAttention.
   */
  readonly activations?: ComputeType;
}

/** The decoder's own I/O choices, beyond its weights: qwen-vl's by default, the other runtimes' for `--layout genai` and `--layout transformers.js`. */
export interface DecoderExportOptions extends TextExportOptions {
  /**
   * How the decoder takes the tokens' MRoPE positions: `rotary-tables` (default), the
   * `rotary_cos` / `rotary_sin` inputs computed on the host; `position-ids`, a `position_ids`
   * `[3, B, S]` input and the tables computed in the graph, as onnxruntime-genai's and
   * transformers.js's exports take them.
   */
  readonly positionInput?: DecoderPositionInput;
  /** Whether the graph takes `num_logits_to_keep` (default); without it, logits come for every new position. */
  readonly logitsToKeepInput?: boolean;
  /**
   * How the layers attend (`DecoderAttention`): `plain` ONNX ops (default), which every
   * execution provider runs, or com.microsoft GroupQueryAttention in the form onnxruntime's
   * CPU (`group-query`) or CUDA (`group-query-fp16`) kernel takes. The graph's inputs and
   * outputs are the same in every form.
   */
  readonly attention?: DecoderAttention;
}

export const EXPORT_PRODUCER = '@qwen-vl/decoder';

/** Slice's "to the end". */
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Opset of the text graphs' ONNX domain. Portable fp32 and fp16 graphs use no contrib op
 * (their kernels differ between backends); int4 ones add com.microsoft's quantized ops, and
 * the CPU and CUDA decoders its GroupQueryAttention (opset 1).
 */
export const TEXT_OPSETS = { '': 21 } as const;

/**
 * `decoder.onnx`: the Qwen2.5-VL language model from `inputs_embeds` to logits, with a KV
 * cache. Inputs: `inputs_embeds` float32 `[B, S, hidden]`, `attention_mask` int64
 * `[B, past + S]` (1 = token, 0 = padding, left padding allowed), `rotary_cos` and
 * `rotary_sin` float32 `[B, S, headDim]` (`mropeCosSin` of the `[3, B, S]` position ids),
 * `past_key_values.{i}.key/value` float32 `[B, kvHeads, past, headDim]`
 * (`past` = 0 on the first run) and `num_logits_to_keep` int64 scalar (logits for the last
 * K positions; 0 = all). Outputs: `logits` float32 `[B, K, vocab]` and
 * `present.{i}.key/value` `[B, kvHeads, past + S, headDim]`. `options` can swap the rotary
 * tables for `position_ids` int64 `[3, B, S]` (the text model onnxruntime-genai and
 * transformers.js run) and drop `num_logits_to_keep` (K = S, as onnxruntime-genai's has it).
 */
export function buildDecoderModel(source: WeightSource, text: TextConfig, options: DecoderExportOptions = {}): OnnxModel {
  const weights = new GraphWeights(source, textTensors(text), options.precision ?? 'fp32', options.quantization);
  const type = options.activations ?? 'float32';
  if (type === 'float16' && weights.precision === 'fp32') {
    throw new QwenVLError('INVALID_ARGUMENT', 'float16 activations need fp16 or int4 weights, got fp32', { source: 'decoder export option "activations"' });
  }
  const { hiddenSize, numKeyValueHeads: kvHeads, headDim, numHiddenLayers: layers, vocabSize } = text;
  const graph = new GraphBuilder('qwen2_5_vl_text_decoder', { opsets: TEXT_OPSETS });

  const inputsEmbeds = graph.input(DECODER_IO.inputsEmbeds, 'float32', ['batch_size', 'sequence_length', hiddenSize]);
  const attentionMask = graph.input(DECODER_IO.attentionMask, 'int64', ['batch_size', 'total_sequence_length']);
  const rotary = options.positionInput === 'position-ids' ? rotaryFromPositionIds(graph, text) : rotaryInputs(graph, headDim);
  const caches = Array.from({ length: layers }, (_, i) => ({
    pastKey: graph.input(pastKeyName(i), type, ['batch_size', kvHeads, 'past_sequence_length', headDim]),
    pastValue: graph.input(pastValueName(i), type, ['batch_size', kvHeads, 'past_sequence_length', headDim]),
    presentKey: presentKeyName(i),
    presentValue: presentValueName(i),
  }));
  // Without the input, K = 0: every position's logits.
  const numLogitsToKeep = (options.logitsToKeepInput ?? true) ? graph.input(DECODER_IO.numLogitsToKeep, 'int64', []) : graph.constInt64(0);

  const context = attentionContext(graph, inputsEmbeds, attentionMask, rotary, text, options.attention ?? 'plain', type);
  // The residual stream and the norms stay float32; each layer's branches compute in `type`.
  const normed = (x: string, name: string) => rmsNorm(graph, weights, x, name, text.rmsNormEps, type);
  let hidden = graph.op('Reshape', [inputsEmbeds, graph.constInt64([-1, hiddenSize])], {}, { name: 'embeds_rows' });
  caches.forEach((cache, i) => {
    const prefix = `model.layers.${i}`;
    const attended = selfAttention(graph, weights, normed(hidden, `${prefix}.input_layernorm`), `${prefix}.self_attn`, cache, context, text);
    hidden = graph.op('Add', [hidden, converted(graph, attended, type, 'float32', `${prefix}/attention_fp32`)], {}, { name: `${prefix}/attention_residual` });
    const mlp = swiGlu(graph, weights, normed(hidden, `${prefix}.post_attention_layernorm`), `${prefix}.mlp`, type);
    hidden = graph.op('Add', [hidden, converted(graph, mlp, type, 'float32', `${prefix}/mlp_fp32`)], {}, { name: `${prefix}/mlp_residual` });
  });

  // Norm and lm_head only for the positions asked for: while generating that is one per
  // row, which spares a [S, vocab] product on every prefill.
  const batchAndLength = graph.op('Shape', [inputsEmbeds], { end: 2 }, { name: 'final/batch_and_length' });
  const tokenShape = graph.op('Concat', [batchAndLength, graph.constInt64([hiddenSize])], { axis: 0 }, { name: 'final/token_shape' });
  const tokens = graph.op('Reshape', [hidden, tokenShape], {}, { name: 'final/tokens' });
  const keepCount = graph.op('Unsqueeze', [numLogitsToKeep, graph.constInt64([0])], {}, { name: 'final/keep_count' });
  // Slice from -K to the end; K = 0 starts at 0, which keeps every position.
  const firstKept = graph.op('Neg', [keepCount], {}, { name: 'final/first_kept' });
  const kept = graph.op('Slice', [tokens, firstKept, graph.constInt64([INT64_MAX]), graph.constInt64([1])], {}, { name: 'final/kept_tokens' });
  const keptRows = graph.op('Reshape', [kept, graph.constInt64([-1, hiddenSize])], {}, { name: 'final/kept_rows' });
  // Tied checkpoints (3B) have no lm_head.weight: the output projection is the embedding table.
  const logitRows = converted(graph, linear(graph, weights, normed(keptRows, 'model.norm'), outputProjection(text), type), type, 'float32', 'final/logits_fp32');
  const logitShape = graph.op('Concat', [graph.op('Shape', [inputsEmbeds], { end: 1 }, { name: 'final/batch' }), graph.constInt64([-1, vocabSize])], { axis: 0 }, { name: 'final/logits_shape' });
  const logits = graph.op('Reshape', [logitRows, logitShape], {}, { name: 'final/logits', output: DECODER_IO.logits });

  graph.output(logits, DECODER_IO.logits, 'float32', ['batch_size', 'logits_length', vocabSize]);
  for (const cache of caches) {
    graph.output(cache.presentKey, cache.presentKey, type, ['batch_size', kvHeads, 'total_sequence_length', headDim]);
    graph.output(cache.presentValue, cache.presentValue, type, ['batch_size', kvHeads, 'total_sequence_length', headDim]);
  }
  return graph.build({ producer: EXPORT_PRODUCER, docString: 'Qwen2.5-VL text decoder with KV cache (inputs_embeds → logits)' });
}
