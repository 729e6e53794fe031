/**
 * The keys onnxruntime-genai's genai_config.json parser accepts in the objects a Qwen2.5-VL
 * folder uses, and the JSON type each takes, read from microsoft/onnxruntime-genai
 * `src/config.cpp` (the `*_Element` classes named per object below; each throws
 * `unknown_value_error` on any other key, so a config with one fails to load) and
 * `src/config.h` (`Config::Model`, `Config::Search`). onnxruntime-genai itself cannot be
 * installed here (no Python package index), so its schema is checked instead of its loader.
 * `int` is a number `SafeDoubleToInt` takes: integral and within int32.
 */
export type JsonType = 'string' | 'int' | 'number' | 'bool' | 'int-or-int-list' | 'list';

export interface ObjectSchema {
  /** The element class of src/config.cpp that parses this object. */
  readonly parser: string;
  readonly values: Readonly<Record<string, JsonType>>;
  readonly objects?: Readonly<Record<string, ObjectSchema | 'any'>>;
}

/** `SessionOptions_Element`: named options, other string values become session config entries, `provider_options` a list. */
const SESSION_OPTIONS: ObjectSchema = {
  parser: 'SessionOptions_Element',
  values: {
    log_id: 'string',
    enable_profiling: 'string',
    intra_op_num_threads: 'int',
    inter_op_num_threads: 'int',
    log_severity_level: 'int',
    log_verbosity_level: 'int',
    enable_cpu_mem_arena: 'bool',
    enable_mem_pattern: 'bool',
    graph_optimization_level: 'string',
    custom_ops_library: 'string',
    provider_options: 'list',
  },
};

const RUN_OPTIONS = 'any' as const;

export const GENAI_CONFIG_SCHEMA: ObjectSchema = {
  parser: 'Root_Element',
  values: {},
  objects: {
    model: {
      parser: 'Model_Element',
      values: {
        type: 'string',
        tokenizer_dir: 'string',
        vocab_size: 'int',
        context_length: 'int',
        pad_token_id: 'int',
        eos_token_id: 'int-or-int-list',
        bos_token_id: 'int',
        decoder_start_token_id: 'int',
        sep_token_id: 'int',
        image_token_id: 'int',
        audio_token_id: 'int',
        boa_token_id: 'int',
        video_token_id: 'int',
        vision_start_token_id: 'int',
      },
      objects: {
        decoder: {
          parser: 'Decoder_Element',
          values: {
            filename: 'string',
            hidden_size: 'int',
            num_attention_heads: 'int',
            num_hidden_layers: 'int',
            num_key_value_heads: 'int',
            head_size: 'int',
            max_logits_sequence_length: 'int',
            conv_cache_size: 'int',
          },
          objects: {
            session_options: SESSION_OPTIONS,
            run_options: RUN_OPTIONS,
            inputs: {
              parser: 'DecoderInputs_Element',
              values: Object.fromEntries(
                [
                  'input_ids',
                  'inputs_embeds',
                  'attention_mask',
                  'position_ids',
                  'past_key_names',
                  'past_value_names',
                  'past_names',
                  'cross_past_key_names',
                  'cross_past_value_names',
                  'past_sequence_length',
                  'current_sequence_length',
                  'total_sequence_length',
                  'encoder_hidden_states',
                  'encoder_attention_mask',
                  'rnn_states_prev',
                  'past_key_values_length',
                  'cache_indirection',
                ].map((key) => [key, 'string' as const]),
              ),
            },
            outputs: {
              parser: 'DecoderOutputs_Element',
              values: Object.fromEntries(['logits', 'present_key_names', 'present_value_names', 'present_names', 'output_cross_qk_names', 'rnn_states'].map((key) => [key, 'string' as const])),
            },
          },
        },
        embedding: {
          parser: 'Embedding_Element',
          values: { filename: 'string' },
          objects: {
            session_options: SESSION_OPTIONS,
            run_options: RUN_OPTIONS,
            inputs: { parser: 'EmbeddingInputs_Element', values: { input_ids: 'string', image_features: 'string', audio_features: 'string' } },
            outputs: { parser: 'EmbeddingOutputs_Element', values: { inputs_embeds: 'string', per_layer_inputs: 'string' } },
          },
        },
        vision: {
          parser: 'Vision_Element',
          values: {
            filename: 'string',
            config_filename: 'string',
            adapter_filename: 'string',
            spatial_merge_size: 'int',
            tokens_per_second: 'number',
            patch_size: 'int',
            num_visual_tokens: 'int',
            window_size: 'int',
          },
          objects: {
            session_options: SESSION_OPTIONS,
            run_options: RUN_OPTIONS,
            inputs: { parser: 'VisionInputs_Element', values: { pixel_values: 'string', pixel_position_ids: 'string', image_sizes: 'string', image_grid_thw: 'string', attention_mask: 'string' } },
            outputs: { parser: 'VisionOutputs_Element', values: { image_features: 'string' } },
          },
        },
      },
    },
    search: {
      parser: 'Search_Element',
      values: {
        min_length: 'int',
        max_length: 'int',
        batch_size: 'int',
        num_beams: 'int',
        num_return_sequences: 'int',
        top_k: 'int',
        top_p: 'number',
        temperature: 'number',
        repetition_penalty: 'number',
        length_penalty: 'number',
        no_repeat_ngram_size: 'int',
        diversity_penalty: 'number',
        random_seed: 'int',
        chunk_size: 'number',
        do_sample: 'bool',
        past_present_share_buffer: 'bool',
        early_stopping: 'bool',
      },
    },
  },
};

/** Where `json` breaks `schema`, as `path: problem` lines; empty when onnxruntime-genai's parser would take it. */
export function schemaViolations(json: unknown, schema: ObjectSchema = GENAI_CONFIG_SCHEMA, path = ''): string[] {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return [`${path || '(root)'}: not an object (${schema.parser})`];
  const problems: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    const at = path === '' ? key : `${path}.${key}`;
    const type = schema.values[key];
    const child = schema.objects?.[key];
    if (type !== undefined) {
      if (!hasType(value, type)) problems.push(`${at}: ${JSON.stringify(value)} is not ${type}`);
    } else if (child !== undefined) {
      if (child !== 'any') problems.push(...schemaViolations(value, child, at));
    } else {
      problems.push(`${at}: ${schema.parser} has no such key`);
    }
  }
  return problems;
}

function hasType(value: unknown, type: JsonType): boolean {
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 2 ** 31 - 1;
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'int':
      return int(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'bool':
      return typeof value === 'boolean';
    case 'int-or-int-list':
      return int(value) || (Array.isArray(value) && value.every(int));
    case 'list':
      return Array.isArray(value);
  }
}
