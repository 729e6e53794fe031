import { Tokenizer } from '@huggingface/tokenizers';
import { MODEL_FILES, QwenVLError, readJson } from '@qwen-vl/core';
import type { ModelFolder } from '@qwen-vl/core';

/**
 * The special-token entries of tokenizer_config.json under the names Hugging Face passes to
 * chat templates (`special_tokens_map`): `bos_token`, `eos_token`, `pad_token`, …, and
 * `additional_special_tokens`. Tokens set to null in the config are absent.
 */
export type SpecialTokensMap = Readonly<Record<string, string | readonly string[]>>;

const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

/** A token in tokenizer_config.json is either its text or a serialized AddedToken `{content, …}`. */
function tokenText(value: unknown, source: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  throw new QwenVLError('INVALID_CONFIG', `must be a token string or {"content": …}, got ${JSON.stringify(value)}`, { source });
}

function readSpecialTokensMap(tokenizerConfig: Record<string, unknown>, file: string): SpecialTokensMap {
  const map: Record<string, string | string[]> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const value = tokenizerConfig[key];
    if (value !== null && value !== undefined) map[key] = tokenText(value, `${file} field "${key}"`);
  }
  const additional = tokenizerConfig.additional_special_tokens;
  if (additional !== undefined && additional !== null) {
    const source = `${file} field "additional_special_tokens"`;
    if (!Array.isArray(additional)) throw new QwenVLError('INVALID_CONFIG', 'must be a list of tokens', { source });
    map.additional_special_tokens = additional.map((token, i) => tokenText(token, `${source}[${i}]`));
  }
  return map;
}

async function readRequiredJsonObject(folder: ModelFolder, name: string): Promise<Record<string, unknown>> {
  const source = `${folder.location}/${name}`;
  if (!(await folder.exists(name))) throw new QwenVLError('MISSING_FILE', 'not found; the tokenizer needs it', { source });
  const json = await readJson(folder, name);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new QwenVLError('INVALID_CONFIG', 'must hold a JSON object', { source });
  }
  return json as Record<string, unknown>;
}

/**
 * The Qwen2 byte-level BPE tokenizer, loaded from the model folder's tokenizer.json and
 * tokenizer_config.json. `encode` treats special tokens such as `<|image_pad|>` as single
 * tokens and adds nothing around the text (Qwen has no BOS), as the HF processor does.
 */
export class QwenTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Special tokens from tokenizer_config.json, keyed as the chat template expects them. */
    readonly specialTokens: SpecialTokensMap,
  ) {}

  /** Builds the tokenizer from the parsed JSON files; `origin` names them in errors. */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: Record<string, unknown>, origin = ''): QwenTokenizer {
    const prefix = origin === '' ? '' : `${origin}/`;
    // The small config is checked first so that its errors do not wait for the BPE build.
    const specialTokens = readSpecialTokensMap(tokenizerConfig, `${prefix}${MODEL_FILES.tokenizerConfig}`);
    let tokenizer: Tokenizer;
    try {
      // @huggingface/tokenizers' declarations use extensionless relative imports, which NodeNext
      // cannot follow, so Tokenizer is `any` here and the linter sees the cast as unnecessary.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
      tokenizer = new Tokenizer(tokenizerJson as object, tokenizerConfig);
    } catch (cause) {
      throw new QwenVLError('INVALID_CONFIG', `cannot build a tokenizer from it (${(cause as Error).message})`, {
        source: `${prefix}${MODEL_FILES.tokenizer}`,
        cause,
      });
    }
    return new QwenTokenizer(tokenizer, specialTokens);
  }

  static async fromFolder(folder: ModelFolder): Promise<QwenTokenizer> {
    const tokenizerConfig = await readRequiredJsonObject(folder, MODEL_FILES.tokenizerConfig);
    const tokenizerJson = await readRequiredJsonObject(folder, MODEL_FILES.tokenizer);
    return QwenTokenizer.fromJson(tokenizerJson, tokenizerConfig, folder.location);
  }

  encode(text: string): Int32Array {
    return Int32Array.from(this.tokenizer.encode(text, { add_special_tokens: false }).ids);
  }

  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    // @huggingface/tokenizers throws on an empty list; a generation that ends at once decodes to ''.
    if (ids.length === 0) return '';
    return this.tokenizer.decode(Array.from(ids), { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /** Id of tokenizer_config's `pad_token` (`<|endoftext|>` = 151643 for Qwen2.5-VL), if it has one. */
  get padTokenId(): number | undefined {
    const pad = this.specialTokens.pad_token;
    return typeof pad === 'string' ? this.tokenToId(pad) : undefined;
  }
}
