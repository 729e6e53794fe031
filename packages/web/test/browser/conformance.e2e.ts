import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QwenVL } from '@qwen-vl/node';
import type { NodeDevice } from '@qwen-vl/node';
import type { Browser, Page, Request } from 'playwright-core';
import type { WebDevice } from '../../src/qwen-vl-web.js';
import { startStaticServer } from '../../demo/static-server.js';
import type { StaticServer } from '../../demo/static-server.js';
import { GOLDEN_CASES, GOLDEN_SEARCH, GOLDEN_STEPS, LOGITS_TOLERANCE, PIXEL_VALUES_TOLERANCE, PNG_CASES, goldenImage, goldenSteps, maxAbsDiff } from '@qwen-vl/test-support';
import { IMAGE_INPUT_KINDS } from './conformance-outcomes.js';
import type { CaseOutcome, ImageErrorOutcome, LoadOutcome, PixelValuesOutcome } from './conformance-outcomes.js';
import type { WebGpuProbe } from './conformance-page/main.js';
import { GOLDEN_FOLDER, buildPage, ensureGoldenModel, launchChromium, removeFolder } from './harness.js';
import type { Precision } from './harness.js';

/**
 * Cross-backend conformance: every backend answers the golden cases through its public chat
 * API (greedy, eos ignored) and must give the golden tokens, with each step's logits within
 * 1e-3 of the golden ones. One table row per backend × precision.
 */

type Status = 'pass' | 'FAIL' | 'unsupported';
interface Row {
  backend: string;
  precision: Precision;
  status: Status;
  tokens: string;
  maxLogitDiff: string;
  note: string;
}

const COLUMNS: ReadonlyArray<[keyof Row, string]> = [
  ['backend', 'backend'],
  ['precision', 'precision'],
  ['status', 'result'],
  ['tokens', 'greedy tokens'],
  ['maxLogitDiff', 'max |Δlogit|'],
  ['note', 'notes'],
];

const rows: Row[] = [];
const golden = new Map(GOLDEN_CASES.map((goldenCase) => [goldenCase.name, goldenSteps(goldenCase.name)]));

/** One row from the cases' outcomes; GOLDEN_STEPS new tokens were asked for in each case. */
function judge(backend: string, precision: Precision, outcomes: readonly CaseOutcome[], elapsedMs: number): Row {
  let tokensEqual = 0;
  let maxDiff = 0;
  const problems: string[] = [];
  for (const outcome of outcomes) {
    const expected = golden.get(outcome.name)!.tokens;
    if (outcome.tokens.length === expected.length && outcome.tokens.every((token, i) => token === expected[i])) tokensEqual++;
    else problems.push(`${outcome.name}: tokens [${outcome.tokens.join(',')}] ≠ golden [${expected.join(',')}]`);
    if (outcome.maxLogitDiffPerStep.length !== GOLDEN_STEPS) problems.push(`${outcome.name}: logits of ${outcome.maxLogitDiffPerStep.length} steps, expected ${GOLDEN_STEPS}`);
    const caseMax = Math.max(...outcome.maxLogitDiffPerStep.map((diff) => (Number.isNaN(diff) ? Infinity : diff)));
    if (!(caseMax <= LOGITS_TOLERANCE)) problems.push(`${outcome.name}: max |Δlogit| ${caseMax.toExponential(2)}`);
    maxDiff = Math.max(maxDiff, caseMax);
  }
  const passed = problems.length === 0 && outcomes.length === GOLDEN_CASES.length;
  return {
    backend,
    precision,
    status: passed ? 'pass' : 'FAIL',
    tokens: `${tokensEqual}/${outcomes.length} cases equal`,
    maxLogitDiff: maxDiff.toExponential(2),
    note: [`${(elapsedMs / 1000).toFixed(1)} s`, ...problems].join('; '),
  };
}

/** A row passes or is unsupported here (no WebGPU adapter or Vulkan driver); it never fails. */
function expectPassOrUnsupported(row: Row): void {
  if (row.status !== 'unsupported') expect(row.status, row.note).toBe('pass');
}

function unsupported(backend: string, precision: Precision, reason: string): Row {
  return { backend, precision, status: 'unsupported', tokens: '–', maxLogitDiff: '–', note: reason };
}

async function runNodeCases(model: QwenVL): Promise<CaseOutcome[]> {
  const outcomes: CaseOutcome[] = [];
  for (const goldenCase of GOLDEN_CASES) {
    const { logits: goldenLogits } = golden.get(goldenCase.name)!;
    const maxLogitDiffPerStep: number[] = [];
    const result = await model.chat(
      [{ role: 'user', content: [...goldenCase.images.map((name) => ({ type: 'image' as const, image: goldenImage(name) })), { type: 'text' as const, text: goldenCase.prompt }] }],
      {
        ...GOLDEN_SEARCH,
        maxNewTokens: GOLDEN_STEPS,
        onStepLogits: (step, logits) => {
          maxLogitDiffPerStep[step] = maxAbsDiff(logits, goldenLogits(step));
        },
      },
    );
    outcomes.push({ name: goldenCase.name, tokens: result.tokens, maxLogitDiffPerStep });
  }
  return outcomes;
}

function printTable(): void {
  const cells = [COLUMNS.map(([, title]) => title), ...rows.map((row) => COLUMNS.map(([key]) => row[key]))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
  const format = (line: string[]) => `| ${line.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  const [header, ...body] = cells.map(format);
  console.log(
    [
      `conformance against testdata/golden (tolerance ${LOGITS_TOLERANCE} on logits, ${GOLDEN_CASES.length} cases × ${GOLDEN_STEPS} steps, greedy, eos ignored)`,
      header,
      `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`,
      ...body,
    ].join('\n'),
  );
}

describe('conformance of every backend with the golden outputs', () => {
  const models = new Map<Precision, string>();
  let pageFolder: string | undefined;
  let server: StaticServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let webGpu: WebGpuProbe = { unavailable: 'not probed', shaderF16: false };

  beforeAll(async () => {
    models.set('fp32', await ensureGoldenModel('fp32'));
    models.set('fp16', await ensureGoldenModel('fp16'));
    pageFolder = await buildPage(fileURLToPath(new URL('./conformance-page/', import.meta.url)), { configFile: false });
    server = await startStaticServer({
      '/page/': pageFolder,
      '/golden/': GOLDEN_FOLDER,
      '/models/fp32/': models.get('fp32')!,
      '/models/fp16/': models.get('fp16')!,
    });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
    await page.goto(`${server.origin}/page/`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
    webGpu = await page.evaluate(() => window.conformance.probeWebGpu());
  });

  afterAll(async () => {
    // Listed so that the table says what was not checked; never counted as passing.
    for (const precision of ['fp32', 'fp16'] as const) {
      record(unsupported('node-cuda', precision, 'unsupported here: no CUDA device (nor the CUDA provider libraries) on this machine'));
      record(unsupported('node-dml', precision, 'unsupported here: DirectML exists only on Windows'));
    }
    printTable();
    await browser?.close();
    await server?.close();
    await removeFolder(pageFolder);
  });

  async function nodeRow(device: NodeDevice, precision: Precision): Promise<Row> {
    const backend = `node-${device}`;
    const started = performance.now();
    let model: QwenVL;
    try {
      model = await QwenVL.load(models.get(precision)!, { device });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'BACKEND_UNAVAILABLE') return unsupported(backend, precision, (error as Error).message);
      throw error;
    }
    try {
      return judge(backend, precision, await runNodeCases(model), performance.now() - started);
    } finally {
      await model.dispose();
    }
  }

  async function webRow(device: WebDevice, precision: Precision): Promise<Row> {
    const backend = `web-${device}`;
    const started = performance.now();
    const outcomes = await page!.evaluate(
      ([modelUrl, webDevice, cases, stepCount]) => window.conformance.runCases(modelUrl, webDevice, '../golden/', cases, stepCount),
      [`../models/${precision}/`, device, GOLDEN_CASES, GOLDEN_STEPS] as const,
    );
    return judge(backend, precision, outcomes, performance.now() - started);
  }

  /** fp16 shaders need the adapter's shader-f16 feature; SwiftShader has none. */
  function fp16WebGpuReason(): string {
    return `the WebGPU adapter (${webGpu.adapter ?? 'none'}) has no shader-f16: fp16 on it is untested here, not compared`;
  }

  function record(row: Row): Row {
    rows.push(row);
    return row;
  }

  it('node-cpu fp32 and fp16 give the golden tokens and logits', async () => {
    const fp32 = record(await nodeRow('cpu', 'fp32'));
    const fp16 = record(await nodeRow('cpu', 'fp16'));
    expect([fp32.status, fp16.status]).toEqual(['pass', 'pass']);
  });

  it('node-webgpu (onnxruntime-node webgpu EP) gives the golden tokens and logits', async () => {
    const driver = process.env.VK_ICD_FILENAMES;
    const row =
      driver !== undefined && !existsSync(driver)
        ? unsupported('node-webgpu', 'fp32', `no Vulkan driver: ${driver} is missing (apt-get install chromium provides SwiftShader)`)
        : await nodeRow('webgpu', 'fp32');
    record(row);
    record(unsupported('node-webgpu', 'fp16', fp16WebGpuReason()));
    expectPassOrUnsupported(row);
  });

  it('the browser preprocesses PNG images from a Blob, File, ImageBitmap, HTMLImageElement or URL into the golden pixel_values', async () => {
    const pngCases = GOLDEN_CASES.filter((goldenCase) => PNG_CASES.includes(goldenCase.name));
    const outcomes: PixelValuesOutcome[] = await page!.evaluate(([cases]) => window.conformance.checkPixelValues('../models/fp32/', '../golden/', cases), [pngCases] as const);
    console.log(outcomes.map((outcome) => `web pixel_values ${outcome.name} from ${outcome.input}: [${outcome.shape.join(',')}], max |Δ| ${outcome.maxAbsDiff.toExponential(2)}`).join('\n'));
    expect(outcomes.map((outcome) => `${outcome.name} ${outcome.input}`)).toEqual(pngCases.flatMap((goldenCase) => IMAGE_INPUT_KINDS.map((kind) => `${goldenCase.name} ${kind}`)));
    for (const outcome of outcomes) {
      expect(outcome.shape).toEqual(outcome.goldenShape);
      expect(outcome.maxAbsDiff).toBeLessThanOrEqual(PIXEL_VALUES_TOLERANCE);
    }
  });

  it('the browser takes a video (two frames of the one_image picture) and gives the golden one_image answer', async () => {
    const oneImage = GOLDEN_CASES.find((goldenCase) => goldenCase.name === 'one_image')!;
    const outcome: CaseOutcome = await page!.evaluate(([goldenCase, steps]) => window.conformance.runVideoOfImage('../models/fp32/', '../golden/', goldenCase, steps), [oneImage, GOLDEN_STEPS] as const);
    const maxDiff = Math.max(...outcome.maxLogitDiffPerStep);
    console.log(`web ${outcome.name}: tokens [${outcome.tokens.join(',')}], max |Δlogit| ${maxDiff.toExponential(2)}`);
    expect(outcome.tokens).toEqual(golden.get('one_image')!.tokens);
    expect(outcome.maxLogitDiffPerStep).toHaveLength(GOLDEN_STEPS);
    expect(maxDiff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  it('a chat with a corrupt image file or a missing image URL fails with a typed error naming the image', async () => {
    const outcomes: ImageErrorOutcome[] = await page!.evaluate(() => window.conformance.checkImageErrors('../models/fp32/'));
    expect(outcomes).toEqual([
      // A file is named by its message item, the decoder's description of it kept.
      { what: 'corrupt file', code: 'INVALID_IMAGE', source: 'messages[0].content[1].image (file "broken.png")', reason: expect.stringMatching(/^cannot decode image \(.+\)$/), message: expect.any(String) },
      // A URL names itself.
      { what: 'missing URL', code: 'MISSING_FILE', source: expect.stringMatching(/\/missing-image\.png$/), reason: expect.stringMatching(/^could not be fetched \(HTTP 404\b/), message: expect.any(String) },
    ]);
    for (const outcome of outcomes) expect(outcome.message).toBe(`${outcome.source}: ${outcome.reason}`);
  });

  it('loads the model from URLs with byte progress up to the folder total, then again from the Cache API without downloading', async () => {
    const modelRequests: string[] = [];
    const onRequest = (request: Request) => {
      if (new URL(request.url()).pathname.startsWith('/models/fp32/')) modelRequests.push(`${request.method()} ${request.url()}`);
    };
    page!.on('request', onRequest);
    try {
      const first: LoadOutcome = await page!.evaluate(() => window.conformance.loadCached('../models/fp32/', true));
      const firstRequests = modelRequests.splice(0);
      const again: LoadOutcome = await page!.evaluate(() => window.conformance.loadCached('../models/fp32/', false));
      const sizes = await Promise.all(first.cachedFiles.map(async (file) => (await stat(join(models.get('fp32')!, file))).size));
      const folderBytes = sizes.reduce((sum, size) => sum + size, 0);
      console.log(`web load: ${first.events} progress events up to ${first.last.loaded} of ${first.last.total} bytes, ${firstRequests.length} requests, ${first.cachedFiles.length} files cached; from the cache: ${modelRequests.length} requests [${modelRequests.join(", ")}]`);

      expect(first.cachedFiles).toEqual(expect.arrayContaining(['config.json', 'tokenizer.json', 'decoder.onnx', 'decoder.onnx.data', 'embed.onnx.data', 'vision.onnx.data']));
      expect(first.totals).toEqual([folderBytes]);
      expect(first.last).toMatchObject({ loaded: folderBytes, total: folderBytes });
      expect(first.loadedNeverDecreases).toBe(true);
      expect(first.events).toBeGreaterThan(first.cachedFiles.length);
      expect(firstRequests.filter((request) => request.startsWith('GET ')).length).toBeGreaterThanOrEqual(first.cachedFiles.length);
      expect(again).toMatchObject({ totals: [folderBytes], last: { loaded: folderBytes, total: folderBytes }, cachedFiles: first.cachedFiles });
      // What still reaches the server are HEAD probes for optional files the folder lacks (a 404 is not cached).
      for (const request of modelRequests) {
        expect(request).toMatch(/^HEAD /);
        expect(existsSync(join(models.get('fp32')!, new URL(request.slice('HEAD '.length)).pathname.split('/').pop()!))).toBe(false);
      }
    } finally {
      page!.off('request', onRequest);
    }
  });

  it('web-wasm fp32 and fp16 give the golden tokens and logits', async () => {
    const fp32 = record(await webRow('wasm', 'fp32'));
    const fp16 = record(await webRow('wasm', 'fp16'));
    expect([fp32.status, fp16.status]).toEqual(['pass', 'pass']);
  });

  it('web-webgpu (onnxruntime-web/webgpu) gives the golden tokens and logits', async () => {
    const row = webGpu.unavailable !== undefined ? unsupported('web-webgpu', 'fp32', webGpu.unavailable) : await webRow('webgpu', 'fp32');
    record(row);
    record(webGpu.shaderF16 ? await webRow('webgpu', 'fp16') : unsupported('web-webgpu', 'fp16', fp16WebGpuReason()));
    expectPassOrUnsupported(row);
  });
});
