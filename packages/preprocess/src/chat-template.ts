import { Template } from '@huggingface/jinja';
import { MODEL_FILES, QwenVLError, readJson } from '@qwen-vl/core';
import type { ModelFolder } from '@qwen-vl/core';
import type { ChatMessage, ContentPart } from './messages.js';
import type { SpecialTokensMap } from './tokenizer.js';

export interface RenderOptions {
  /** End the prompt with the opening of an assistant turn (default true). */
  addGenerationPrompt?: boolean;
  /** Label media as "Picture k: " / "Video k: " (default false). */
  addVisionId?: boolean;
}

/**
 * Media payloads are replaced by bare `{type}` items before rendering: templates only test
 * the item kind, and the Jinja runtime converts every value it is given, walking a typed
 * array index by index (a 5 MB image Buffer takes seconds).
 */
function templateView(messages: readonly ChatMessage[]): unknown[] {
  const viewPart = (part: ContentPart): ContentPart => (part.type === 'text' ? { type: 'text', text: part.text } : { type: part.type });
  return messages.map(({ role, content }) => ({ role, content: typeof content === 'string' ? content : content.map(viewPart) }));
}

/**
 * How many numbers `range()` may produce over one rendering. Real chat templates count over
 * messages or tools; a template with `range(1000000000)` would otherwise hold the process
 * until V8 dies of memory (2.8 GB), and nested ranges would spin for hours.
 */
export const TEMPLATE_RANGE_BUDGET = 100_000;

/** The name the template's `range(...)` calls are redirected to (the library's own `range` cannot be replaced). */
const BOUNDED_RANGE = '__qwen_vl_bounded_range';

/** Points every `range(...)` call of a parsed template at BOUNDED_RANGE, in place. */
function redirectRangeCalls(node: unknown): void {
  if (typeof node !== 'object' || node === null) return;
  if (Array.isArray(node)) {
    for (const child of node) redirectRangeCalls(child);
    return;
  }
  const { type, callee } = node as { type?: unknown; callee?: { type?: unknown; value?: unknown } };
  if (type === 'CallExpression' && callee?.type === 'Identifier' && callee.value === 'range') callee.value = BOUNDED_RANGE;
  for (const child of Object.values(node)) redirectRangeCalls(child);
}

/** Jinja's `range(start?, stop, step?)`, drawing its length from a budget shared by one rendering. */
function budgetedRange(): (...args: number[]) => number[] {
  let left = TEMPLATE_RANGE_BUDGET;
  return (...args) => {
    const [start, stop, step = 1] = args.length === 1 ? [0, args[0]] : args;
    if (![start, stop, step].every(Number.isInteger) || step === 0) throw new Error(`range() takes integers and a non-zero step, got ${JSON.stringify(args)}`);
    const length = Math.max(0, Math.ceil((stop - start) / step));
    if (length > left) throw new Error(`range() would make ${length} numbers; a chat template may make ${TEMPLATE_RANGE_BUDGET} in all`);
    left -= length;
    return Array.from({ length }, (_, i) => start + i * step);
  };
}

/** tokenizer_config.json stores either one template or a list of named ones. */
function templateFromTokenizerConfig(config: unknown): string | undefined {
  const field = (config as { chat_template?: unknown } | null)?.chat_template;
  if (typeof field === 'string') return field;
  if (Array.isArray(field)) {
    const named = field.find((entry) => (entry as { name?: unknown } | null)?.name === 'default') as { template?: unknown } | undefined;
    if (typeof named?.template === 'string') return named.template;
  }
  return undefined;
}

/**
 * The model's own Jinja chat template, rendered with the variables Hugging Face passes:
 * `messages`, `add_generation_prompt`, `add_vision_id` and the tokenizer's special tokens.
 */
export class ChatTemplate {
  private readonly template: Template;

  /** `origin` names where the template text came from, for error messages. */
  constructor(
    readonly text: string,
    private readonly origin: string,
    private readonly specialTokens: SpecialTokensMap = {},
  ) {
    try {
      this.template = new Template(text);
      redirectRangeCalls(this.template.parsed);
    } catch (cause) {
      throw new QwenVLError('INVALID_TEMPLATE', `the chat template does not parse (${(cause as Error).message})`, { source: origin, cause });
    }
  }

  /**
   * The folder's template, from the first of these that exists, in transformers' order:
   * chat_template.jinja (the text itself), chat_template.json (its `chat_template` field),
   * tokenizer_config.json's `chat_template` field.
   */
  static async fromFolder(folder: ModelFolder, specialTokens: SpecialTokensMap = {}): Promise<ChatTemplate> {
    const path = (name: string) => `${folder.location}/${name}`;
    if (await folder.exists(MODEL_FILES.chatTemplateJinja)) {
      return new ChatTemplate(await folder.readText(MODEL_FILES.chatTemplateJinja), path(MODEL_FILES.chatTemplateJinja), specialTokens);
    }
    if (await folder.exists(MODEL_FILES.chatTemplate)) {
      const text = ((await readJson(folder, MODEL_FILES.chatTemplate)) as { chat_template?: unknown } | null)?.chat_template;
      const source = `${path(MODEL_FILES.chatTemplate)} field "chat_template"`;
      if (typeof text !== 'string') throw new QwenVLError('INVALID_TEMPLATE', 'must be the template text', { source });
      return new ChatTemplate(text, source, specialTokens);
    }
    if (await folder.exists(MODEL_FILES.tokenizerConfig)) {
      const text = templateFromTokenizerConfig(await readJson(folder, MODEL_FILES.tokenizerConfig));
      if (text !== undefined) return new ChatTemplate(text, `${path(MODEL_FILES.tokenizerConfig)} field "chat_template"`, specialTokens);
    }
    throw new QwenVLError(
      'INVALID_TEMPLATE',
      `has no chat template: neither ${MODEL_FILES.chatTemplateJinja}, ${MODEL_FILES.chatTemplate} nor a "chat_template" field in ${MODEL_FILES.tokenizerConfig}`,
      { source: folder.location },
    );
  }

  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    try {
      return this.template.render({
        ...this.specialTokens,
        messages: templateView(messages),
        add_generation_prompt: options.addGenerationPrompt ?? true,
        add_vision_id: options.addVisionId ?? false,
        [BOUNDED_RANGE]: budgetedRange(),
      });
    } catch (cause) {
      throw new QwenVLError('INVALID_TEMPLATE', `rendering the chat template failed (${(cause as Error).message})`, { source: this.origin, cause });
    }
  }
}
