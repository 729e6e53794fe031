import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startStaticServer } from '../../demo/static-server.js';
import type { StaticServer } from '../../demo/static-server.js';
import { REPOSITORY_ROOT, buildPage, ensureGoldenModel, launchChromium, removeFolder } from './harness.js';

/**
 * The demo page end to end in headless Chromium: load a model, pick an image with the file
 * input, ask, and watch the answer stream in with its statistics.
 */

const SAMPLE_IMAGE = join(REPOSITORY_ROOT, 'examples/images/sailboat.jpg');
const SCREENSHOT = join(REPOSITORY_ROOT, '.cache/conformance/artifacts/demo.png');
const NEW_TOKENS = 12;

describe('the demo page', () => {
  let demoFolder: string | undefined;
  let server: StaticServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    const model = await ensureGoldenModel('fp32');
    demoFolder = await buildPage(fileURLToPath(new URL('../../demo/', import.meta.url)), {
      configFile: fileURLToPath(new URL('../../demo/vite.config.ts', import.meta.url)),
    });
    server = await startStaticServer({ '/demo/': demoFolder, '/models/golden/': model });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await removeFolder(demoFolder);
  });

  it('streams an answer about a picked image and shows time to first token and tokens/s', async () => {
    const page = await browser!.newPage({ viewport: { width: 1000, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // The model URL comes from ?model=; WASM keeps the run short (WebGPU is SwiftShader here).
    await page.goto(`${server!.origin}/demo/?model=/models/golden/&device=wasm`);
    await expect.poll(() => page.textContent('#status'), { timeout: 120_000 }).toBe('ready on wasm');

    await page.setInputFiles('#image', SAMPLE_IMAGE);
    await page.waitForFunction(() => {
      const preview = document.getElementById('preview') as HTMLImageElement;
      return preview.src.startsWith('blob:') && preview.complete && preview.naturalWidth > 0;
    });
    expect(await page.$eval('#preview', (preview) => (preview as HTMLImageElement).naturalWidth)).toBe(640);

    await page.fill('#prompt', 'What is in this picture?');
    await page.fill('#max-new-tokens', String(NEW_TOKENS));
    // Count the answer's updates: a streamed answer grows in several steps, not at once.
    await page.evaluate(() => {
      const answer = document.getElementById('answer')!;
      const counter = window as unknown as { answerUpdates: number };
      counter.answerUpdates = 0;
      new MutationObserver(() => counter.answerUpdates++).observe(answer, { childList: true, characterData: true, subtree: true });
    });
    await page.click('#submit');
    await expect.poll(() => page.textContent('#stat-tokens'), { timeout: 180_000 }).toMatch(/^\d+ \(/);

    const answer = (await page.textContent('#answer')) ?? '';
    const stats = {
      ttft: await page.textContent('#stat-ttft'),
      tps: await page.textContent('#stat-tps'),
      tokens: await page.textContent('#stat-tokens'),
      device: await page.textContent('#stat-device'),
    };
    const updates = await page.evaluate(() => (window as unknown as { answerUpdates: number }).answerUpdates);
    await mkdir(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`demo page: answer ${JSON.stringify(answer)}, stats ${JSON.stringify(stats)}, ${updates} answer updates; screenshot ${SCREENSHOT}`);

    expect(pageErrors).toEqual([]);
    expect(answer).not.toContain('[error');
    expect(answer.trim().length).toBeGreaterThan(0);
    expect(updates).toBeGreaterThan(1);
    expect(stats.tokens).toBe(`${NEW_TOKENS} (length)`);
    expect(stats.ttft).toMatch(/^\d+ ms$/);
    expect(stats.tps).toMatch(/^\d+\.\d$/);
    expect(stats.device).toBe('wasm');
  });
});
