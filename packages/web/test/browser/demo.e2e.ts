import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { REPOSITORY_ROOT, ensureGoldenModel, launchChromium, startDemo } from './harness.js';
import type { DemoServer } from './harness.js';

/**
 * The demo end to end, started as its README says (`pnpm --filter @qwen-vl/web demo`: a Vite
 * build, then `vite preview`) and used as a new user would in headless Chromium: the model
 * loads, the first question about the preselected picture gets an answer that streams in while
 * the page keeps drawing frames, and a picked image gets one too.
 */

const SAMPLE_IMAGE = join(REPOSITORY_ROOT, 'examples/images/sailboat.jpg');
const SCREENSHOT = join(REPOSITORY_ROOT, '.cache/conformance/artifacts/demo.png');
/** Enough tokens for the decode to last long enough to count animation frames during it. */
const FIRST_QUESTION_TOKENS = 48;
const SECOND_QUESTION_TOKENS = 12;
/** A page that decodes on its main thread draws no frame for seconds; one that streams draws dozens a second. */
const MIN_FRAMES_PER_SECOND = 10;

/** `#status` texts as they changed, with the time (performance.now()) of each. */
type StatusHistory = { text: string; at: number }[];

interface Generation {
  answer: string;
  stats: { ttft: string | null; tps: string | null; tokens: string | null; device: string | null };
  /** Animation frames per second from the click on Ask to the final statistics. */
  framesPerSecond: number;
  /** Longest time between two animation frames in that span, ms. */
  longestFrameGapMs: number;
  /** Frames in which the answer had grown since the frame before. */
  framesWithNewText: number;
  durationMs: number;
}

/** Records every change of `#status` from the first script on, before the page's own. */
function recordStatus(): void {
  const history: StatusHistory = [];
  (window as unknown as { statusHistory: StatusHistory }).statusHistory = history;
  new MutationObserver(() => {
    const text = document.getElementById('status')?.textContent ?? undefined;
    if (text !== undefined && text !== history.at(-1)?.text) history.push({ text, at: performance.now() });
  }).observe(document, { childList: true, characterData: true, subtree: true });
}

/** Asks the question on the page and watches the answer come, counting animation frames meanwhile. */
async function ask(page: Page, prompt: string, maxNewTokens: number): Promise<Generation> {
  await page.fill('#prompt', prompt);
  await page.fill('#max-new-tokens', String(maxNewTokens));
  await page.evaluate(() => {
    const answer = document.getElementById('answer')!;
    const submit = document.getElementById('submit') as HTMLButtonElement;
    const probe = { asked: 0, done: 0, frames: [] as number[], framesWithNewText: 0 };
    (window as unknown as { probe: typeof probe }).probe = probe;
    document.getElementById('ask')!.addEventListener('submit', () => (probe.asked = performance.now()), { once: true });
    // Ask is disabled while the page answers, and enabled again once it is done (or failed).
    new MutationObserver((_, observer) => {
      if (probe.asked === 0 || submit.disabled) return;
      probe.done = performance.now();
      observer.disconnect();
    }).observe(submit, { attributes: true, attributeFilter: ['disabled'] });
    let length = 0;
    const frame = (time: number) => {
      if (probe.done !== 0) return;
      probe.frames.push(time);
      const now = answer.textContent?.length ?? 0;
      if (now !== length) probe.framesWithNewText++;
      length = now;
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  await page.click('#submit');
  await page.waitForFunction(() => (window as unknown as { probe: { done: number } }).probe.done !== 0, undefined, { timeout: 180_000 });
  const probe = await page.evaluate(() => (window as unknown as { probe: { asked: number; done: number; frames: number[]; framesWithNewText: number } }).probe);
  const frames = probe.frames.filter((time) => time >= probe.asked && time <= probe.done);
  const edges = [probe.asked, ...frames, probe.done];
  const durationMs = probe.done - probe.asked;
  return {
    answer: (await page.textContent('#answer')) ?? '',
    stats: {
      ttft: await page.textContent('#stat-ttft'),
      tps: await page.textContent('#stat-tps'),
      tokens: await page.textContent('#stat-tokens'),
      device: await page.textContent('#stat-device'),
    },
    framesPerSecond: frames.length / (durationMs / 1000),
    longestFrameGapMs: Math.max(...edges.slice(1).map((time, i) => time - edges[i])),
    framesWithNewText: probe.framesWithNewText,
    durationMs,
  };
}

describe('the demo, run as documented', () => {
  let demo: DemoServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    // The golden model, like the tiny one `pnpm demo` builds, has no chat_template.jinja:
    // vite preview must not answer its probe with the page.
    demo = await startDemo(await ensureGoldenModel('fp32'));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  it('loads the model, then streams answers about the preselected picture and a picked one while the page keeps drawing', async () => {
    const page = await browser!.newPage({ viewport: { width: 1000, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.addInitScript(recordStatus);
    // The default model (./models/tiny/, what vite preview serves); WASM keeps the run short (WebGPU is SwiftShader here).
    await page.goto(`${demo!.origin}/?device=wasm`);
    await expect.poll(() => page.textContent('#status'), { timeout: 120_000 }).toMatch(/^ready on wasm|^cannot load/);
    const history = await page.evaluate(() => (window as unknown as { statusHistory: StatusHistory }).statusHistory);
    expect(history.at(-1)?.text).toBe('ready on wasm');

    // Downloading, then creating the sessions once every byte is in, then ready.
    const downloads = history.filter(({ text }) => text.startsWith('loading on wasm: '));
    const creating = history.findIndex(({ text }) => text.startsWith('creating sessions on wasm'));
    expect(downloads.length).toBeGreaterThan(1);
    expect(creating).toBe(history.length - 2);
    expect(history.indexOf(downloads.at(-1)!)).toBe(creating - 1);
    const total = /of ([\d.]+) MB$/.exec(downloads.at(-1)!.text)?.[1];
    expect(downloads.at(-1)!.text).toBe(`loading on wasm: ${total} of ${total} MB`);
    const creatingMs = history.at(-1)!.at - history[creating].at;

    // The first question, as a new user asks it: about the preselected sample picture.
    await page.waitForFunction(() => {
      const preview = document.getElementById('preview') as HTMLImageElement;
      return preview.src.startsWith('blob:') && preview.complete && preview.naturalWidth === 640;
    });
    const first = await ask(page, 'What is in this picture?', FIRST_QUESTION_TOKENS);

    // The second, about a picture picked with the file input.
    await page.setInputFiles('#image', SAMPLE_IMAGE);
    await page.waitForFunction(() => {
      const preview = document.getElementById('preview') as HTMLImageElement;
      return preview.complete && preview.naturalWidth === 640;
    });
    const second = await ask(page, 'Describe this image.', SECOND_QUESTION_TOKENS);

    await mkdir(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const figures = (generation: Generation) =>
      `answer ${JSON.stringify(generation.answer)}, stats ${JSON.stringify(generation.stats)}, ${generation.durationMs.toFixed(0)} ms: ` +
      `${generation.framesPerSecond.toFixed(1)} frames/s, longest gap ${generation.longestFrameGapMs.toFixed(0)} ms, text grew in ${generation.framesWithNewText} frames`;
    console.log(`demo page: sessions created in ${creatingMs.toFixed(0)} ms\n  first question: ${figures(first)}\n  second question: ${figures(second)}\n  screenshot ${SCREENSHOT}`);

    expect(pageErrors).toEqual([]);
    for (const [generation, tokens] of [
      [first, FIRST_QUESTION_TOKENS],
      [second, SECOND_QUESTION_TOKENS],
    ] as const) {
      expect(generation.answer).not.toContain('[error');
      expect(generation.answer.trim().length).toBeGreaterThan(0);
      expect(generation.stats.tokens).toBe(`${tokens} (length)`);
      expect(generation.stats.ttft).toMatch(/^\d+ ms$/);
      expect(generation.stats.tps).toMatch(/^\d+\.\d$/);
      expect(generation.stats.device).toBe('wasm');
      // Streamed: the text grows over several frames, not all at once at the end.
      expect(generation.framesWithNewText).toBeGreaterThan(2);
    }
    // Generation runs off the page's thread: it keeps drawing frames.
    expect(first.framesPerSecond).toBeGreaterThan(MIN_FRAMES_PER_SECOND);
  });
});
