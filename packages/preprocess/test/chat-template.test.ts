import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isQwenVLError } from '@qwen-vl/core';
import type { QwenVLErrorCode } from '@qwen-vl/core';
import { ChatTemplate } from '../src/chat-template.js';
import type { ChatMessage } from '../src/messages.js';
import { MODEL_DIR } from '@qwen-vl/test-support';
import { fsModelFolder } from './helpers/fs-model-folder.js';

const DEFAULT_SYSTEM = '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n';
const IMAGE_BLOCK = '<|vision_start|><|image_pad|><|vision_end|>';
const VIDEO_BLOCK = '<|vision_start|><|video_pad|><|vision_end|>';
const ASSISTANT_OPEN = '<|im_start|>assistant\n';

const tokenizerConfig = JSON.parse(readFileSync(join(MODEL_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

function expectQwenError(error: unknown, code: QwenVLErrorCode, ...mentions: string[]): void {
  expect(isQwenVLError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
  for (const text of mentions) expect((error as Error).message).toContain(text);
}

describe('ChatTemplate with the golden model template', () => {
  let template: ChatTemplate;
  beforeAll(async () => {
    template = await ChatTemplate.fromFolder(fsModelFolder(MODEL_DIR));
  });

  it('renders one image plus text exactly as the algorithms.md §2.1 example', () => {
    const messages: ChatMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'image', image: 'gradient.png' },
          { type: 'text', text: 'Describe this image.' },
        ],
      },
    ];
    expect(template.render(messages)).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('renders a plain string message', () => {
    expect(template.render([{ role: 'user', content: 'Hello, who are you?' }])).toBe(`${DEFAULT_SYSTEM}<|im_start|>user\nHello, who are you?<|im_end|>\n${ASSISTANT_OPEN}`);
  });

  it('renders two images and a video in order, with vision ids on request', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'and' }, { type: 'image' }, { type: 'video' }, { type: 'text', text: '?' }] }];
    expect(template.render(messages)).toBe(`${DEFAULT_SYSTEM}<|im_start|>user\n${IMAGE_BLOCK}and${IMAGE_BLOCK}${VIDEO_BLOCK}?<|im_end|>\n${ASSISTANT_OPEN}`);
    expect(template.render(messages, { addVisionId: true })).toBe(
      `${DEFAULT_SYSTEM}<|im_start|>user\nPicture 1: ${IMAGE_BLOCK}andPicture 2: ${IMAGE_BLOCK}Video 1: ${VIDEO_BLOCK}?<|im_end|>\n${ASSISTANT_OPEN}`,
    );
  });

  it('uses an explicit system message instead of the default one', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ];
    expect(template.render(messages)).toBe(`<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n${ASSISTANT_OPEN}`);
  });

  it('renders a finished multi-turn conversation without a generation prompt', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'What is it?' }] },
      { role: 'assistant', content: 'A gradient.' },
      { role: 'user', content: [{ type: 'text', text: 'Colours?' }] },
    ];
    expect(template.render(messages, { addGenerationPrompt: false })).toBe(
      `${DEFAULT_SYSTEM}<|im_start|>user\n${IMAGE_BLOCK}What is it?<|im_end|>\n<|im_start|>assistant\nA gradient.<|im_end|>\n<|im_start|>user\nColours?<|im_end|>\n`,
    );
  });
});

describe('ChatTemplate variables', () => {
  it('passes the special tokens and hides media payloads from the template', () => {
    const template = new ChatTemplate('{{ eos_token }}|{{ pad_token }}|{{ bos_token is defined }}|{{ messages[0].content[0].type }}|{{ messages[0].content[0].image is defined }}', 'test template', {
      eos_token: '<|im_end|>',
      pad_token: '<|endoftext|>',
    });
    const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'image', image: new Uint8Array(16) }] }];
    expect(template.render(messages)).toBe('<|im_end|>|<|endoftext|>|false|image|false');
  });
});

describe('ChatTemplate.fromFolder sources and errors', () => {
  const withTemplate = (chatTemplate: unknown) => JSON.stringify({ ...tokenizerConfig, chat_template: chatTemplate });

  it('falls back to the chat_template string of tokenizer_config.json', async () => {
    const folder = fsModelFolder(MODEL_DIR, { 'chat_template.json': null, 'tokenizer_config.json': withTemplate('[{{ messages[0].content }}]') });
    const template = await ChatTemplate.fromFolder(folder);
    expect(template.render([{ role: 'user', content: 'x' }])).toBe('[x]');
  });

  it('picks the "default" entry of a list of named templates', async () => {
    const named = [
      { name: 'tool_use', template: 'tools' },
      { name: 'default', template: 'default:{{ messages | length }}' },
    ];
    const folder = fsModelFolder(MODEL_DIR, { 'chat_template.json': null, 'tokenizer_config.json': withTemplate(named) });
    expect((await ChatTemplate.fromFolder(folder)).render([{ role: 'user', content: 'x' }])).toBe('default:1');
  });

  it('prefers chat_template.json over tokenizer_config.json', async () => {
    const folder = fsModelFolder(MODEL_DIR, { 'tokenizer_config.json': withTemplate('from tokenizer_config') });
    expect((await ChatTemplate.fromFolder(folder)).text).toContain('<|vision_start|><|image_pad|><|vision_end|>');
  });

  it('prefers chat_template.jinja, the template as plain text, over chat_template.json', async () => {
    const folder = fsModelFolder(MODEL_DIR, { 'chat_template.jinja': '<{{ messages[0].content }}|{{ add_generation_prompt }}>' });
    expect((await ChatTemplate.fromFolder(folder)).render([{ role: 'user', content: 'x' }])).toBe('<x|true>');
    const broken = fsModelFolder(MODEL_DIR, { 'chat_template.jinja': '{% for %}' });
    expectQwenError(await caught(ChatTemplate.fromFolder(broken)), 'INVALID_TEMPLATE', 'chat_template.jinja', 'does not parse');
  });

  it('reports a folder without any template, naming every place it looked', async () => {
    const folder = fsModelFolder(MODEL_DIR, { 'chat_template.json': null });
    expectQwenError(await caught(ChatTemplate.fromFolder(folder)), 'INVALID_TEMPLATE', 'chat_template.jinja', 'chat_template.json', 'tokenizer_config.json');
  });

  it('reports a chat_template.json whose chat_template is not text', async () => {
    const folder = fsModelFolder(MODEL_DIR, { 'chat_template.json': '{"chat_template": 3}' });
    expectQwenError(await caught(ChatTemplate.fromFolder(folder)), 'INVALID_TEMPLATE', 'chat_template.json field "chat_template"');
  });

  it('reports a template that does not parse, naming its file', async () => {
    const folder = fsModelFolder(MODEL_DIR, { 'chat_template.json': JSON.stringify({ chat_template: '{% if %}' }) });
    expectQwenError(await caught(ChatTemplate.fromFolder(folder)), 'INVALID_TEMPLATE', 'chat_template.json', 'does not parse');
  });

  it('surfaces raise_exception from the template', () => {
    const template = new ChatTemplate("{{ raise_exception('only user and assistant roles') }}", 'chat_template.json');
    expect(() => template.render([{ role: 'user', content: 'x' }])).toThrow(/chat_template\.json.*only user and assistant roles/);
  });

  it('keeps range() as Jinja has it, and refuses a template that would make more numbers than any chat needs', () => {
    const counting = new ChatTemplate('{% for i in range(3) %}{{ i }}{% endfor %}|{{ range(1, 7, 2) | join(",") }}|{{ range(3, 0, -1) | join(",") }}', 't.jinja');
    expect(counting.render([{ role: 'user', content: 'x' }])).toBe('012|1,3,5|3,2,1');
    // range(1e9) used to kill the process (V8 out of memory at 2.8 GB); nested ranges would spin.
    for (const text of ['{% for i in range(1000000000) %}x{% endfor %}', '{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}']) {
      const template = new ChatTemplate(text, 'hostile.jinja');
      expect(() => template.render([{ role: 'user', content: 'x' }])).toThrow(
        /hostile\.jinja: rendering the chat template failed \(range\(\) would make \d+ numbers; a chat template may make 100000 in all\)/,
      );
    }
  });
});
