import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Device } from '@qwen-vl/core';
import { QwenVL, onnxruntimeNodeBackend } from '@qwen-vl/node';
import type { NodeDevice } from '@qwen-vl/node';
import { KINDS, answerAll, answerOf, png, questionSet, score } from '@qwen-vl/eval-shapes';
import type { Answer, Question } from '@qwen-vl/eval-shapes';
import {
  GOLDEN_CASES,
  GOLDEN_SEARCH,
  GOLDEN_STEPS,
  LOGITS_TOLERANCE,
  PIXEL_VALUES_TOLERANCE,
  PNG_CASES,
  REQUIRED_DEVICES_VARIABLE,
  dropSwiftShaderVulkanDriver,
  goldenImage,
  goldenSteps,
  maxAbsDiff,
  parseRequiredDevices,
  softwareAdapterReason,
} from '@qwen-vl/test-support';
import type { WebGpuProbe } from '@qwen-vl/test-support';
import type { Request } from 'playwright-core';
import type { WebDevice } from '../../src/qwen-vl-web.js';
import { startStaticServer } from '../../demo/static-server.js';
import { IMAGE_INPUT_KINDS } from './conformance-outcomes.js';
import type { AnswerOutcome, CaseOutcome, ImageErrorOutcome, LoadOutcome, PixelValuesOutcome, QuestionInput } from './conformance-outcomes.js';
import { GOLDEN_FOLDER, buildPage, ensureGoldenModel, ensureShapesModel, launchChromium, removeFolder } from './harness.js';
import type { Precision } from './harness.js';

/**
 * Cross-backend conformance: every backend answers the golden cases through its public chat
 * API (greedy, eos ignored) and must give the golden tokens, with each step's logits within
 * 1e-3 of the golden ones. One test and one table row per backend × precision: a row that
 * cannot run here is a skipped test whose name says why, never a pass; where
 * QWEN_VL_REQUIRE_DEVICES names its device (`pnpm test:gpu` sets it), it is a failing test instead,
 * and WebGPU must then be a GPU, not SwiftShader.
 *
 * Then every backend answers a fixed sample of shapes questions (@qwen-vl/eval-shapes) with
 * the shapes model in fp32: node-cpu must get at least 90% right, and every other backend
 * must give node-cpu's answers. One test and one row of a second table per backend.
 */

type Status = 'pass' | 'FAIL' | 'skipped';
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
/** backend × precision in the order the tests are declared, which the table follows. */
const rowOrder: string[] = [];
const golden = new Map(GOLDEN_CASES.map((goldenCase) => [goldenCase.name, goldenSteps(goldenCase.name)]));

/**
 * What is wrong with a backend's outcomes: every golden case, in order, with the golden
 * tokens and GOLDEN_STEPS steps of logits each within LOGITS_TOLERANCE. Empty when it conforms.
 */
function problemsOf(outcomes: readonly CaseOutcome[]): string[] {
  const problems: string[] = [];
  const names = outcomes.map((outcome) => outcome.name);
  if (names.join() !== GOLDEN_CASES.map((goldenCase) => goldenCase.name).join()) problems.push(`cases [${names.join(', ')}], expected every golden case`);
  for (const outcome of outcomes) {
    const expected = golden.get(outcome.name)!.tokens;
    if (outcome.tokens.join() !== expected.join()) problems.push(`${outcome.name}: tokens [${outcome.tokens.join(',')}] ≠ golden [${expected.join(',')}]`);
    if (outcome.maxLogitDiffPerStep.length !== GOLDEN_STEPS) problems.push(`${outcome.name}: logits of ${outcome.maxLogitDiffPerStep.length} steps, expected ${GOLDEN_STEPS}`);
    const caseMax = caseMaxDiff(outcome);
    if (!(caseMax <= LOGITS_TOLERANCE)) problems.push(`${outcome.name}: max |Δlogit| ${caseMax.toExponential(2)} > ${LOGITS_TOLERANCE}`);
  }
  return problems;
}

/** A case's largest step difference; a missing step or a NaN counts as Infinity. */
function caseMaxDiff(outcome: CaseOutcome): number {
  return Math.max(
    ...Array.from({ length: Math.max(GOLDEN_STEPS, outcome.maxLogitDiffPerStep.length) }, (_, step) => outcome.maxLogitDiffPerStep[step] ?? Infinity).map((diff) =>
      Number.isNaN(diff) ? Infinity : diff,
    ),
  );
}

function printTable(): void {
  const position = (row: Row) => rowOrder.indexOf(`${row.backend} ${row.precision}`);
  const ordered = [...rows].sort((a, b) => position(a) - position(b));
  console.log(
    [
      `conformance against testdata/golden (tolerance ${LOGITS_TOLERANCE} on logits, ${GOLDEN_CASES.length} cases × ${GOLDEN_STEPS} steps, greedy, eos ignored)`,
      ...formatTable(
        COLUMNS.map(([, title]) => title),
        ordered.map((row) => COLUMNS.map(([key]) => row[key])),
      ),
    ].join('\n'),
  );
}

/** A table's lines: the header, a rule, then one line per row, each column as wide as its widest cell. */
function formatTable(titles: readonly string[], lines: readonly (readonly string[])[]): string[] {
  const cells = [titles, ...lines];
  const widths = titles.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
  const format = (line: readonly string[]) => `| ${line.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  const [header, ...body] = cells.map(format);
  return [header, `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...body];
}

// Set up before the tests are declared: whether a row can run here decides whether its test
// is skipped, and the browser's WebGPU adapter is only known once a page has asked for it.
const requiredDevices: ReadonlySet<Device> = parseRequiredDevices(process.env[REQUIRED_DEVICES_VARIABLE]);
const hardwareWebGpu = requiredDevices.has('webgpu');
// Before anything opens Vulkan: onnxruntime-node's WebGPU must find the GPU's driver, not the script's SwiftShader.
if (hardwareWebGpu) dropSwiftShaderVulkanDriver();
const models = new Map<Precision, string>([
  ['fp32', await ensureGoldenModel('fp32')],
  ['fp16', await ensureGoldenModel('fp16')],
]);
const shapesModel = await ensureShapesModel('fp32');
const pageFolder = await buildPage(fileURLToPath(new URL('./conformance-page/', import.meta.url)), { configFile: false });
const server = await startStaticServer({
  '/page/': pageFolder,
  '/golden/': GOLDEN_FOLDER,
  '/models/fp32/': models.get('fp32')!,
  '/models/fp16/': models.get('fp16')!,
  '/models/shapes-fp32/': shapesModel,
});
const browser = await launchChromium({ hardwareWebGpu });
const page = await browser.newPage();
page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
await page.goto(`${server.origin}/page/`);
await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
const webGpu: WebGpuProbe = await page.evaluate(() => window.conformance.probeWebGpu());
/** Why the page cannot run WebGPU here: no adapter, or, when WebGPU is required, a software one. */
const webGpuMissing = hardwareWebGpu ? softwareAdapterReason(webGpu) : webGpu.unavailable;

/** fp16 shaders need the adapter's shader-f16 feature; SwiftShader has none. */
const noShaderF16 = webGpu.shaderF16 ? undefined : `the WebGPU adapter (${webGpu.adapter ?? 'none'}) has no shader-f16`;

/** Why onnxruntime-node cannot run on `device` here, or undefined when it can. */
async function nodeDeviceMissing(device: Device): Promise<string | undefined> {
  const driver = process.env.VK_ICD_FILENAMES;
  if (device === 'webgpu' && driver !== undefined && !existsSync(driver)) return `no Vulkan driver: ${driver} is missing (apt-get install chromium provides SwiftShader)`;
  const availability = await onnxruntimeNodeBackend.availability(device);
  return availability.available ? undefined : availability.reason;
}
const nodeMissing: Record<'cuda' | 'dml' | 'webgpu', string | undefined> = {
  cuda: await nodeDeviceMissing('cuda'),
  dml: await nodeDeviceMissing('dml'),
  // onnxruntime-node does not say which adapter it got: its WebGPU counts as a GPU where the
  // browser's, over the same Vulkan drivers, is one.
  webgpu: (await nodeDeviceMissing('webgpu')) ?? (hardwareWebGpu ? webGpuMissing : undefined),
};

async function runNodeCases(device: NodeDevice, precision: Precision): Promise<CaseOutcome[]> {
  const model = await QwenVL.load(models.get(precision)!, { device });
  try {
    const outcomes: CaseOutcome[] = [];
    for (const goldenCase of GOLDEN_CASES) {
      const { logits } = golden.get(goldenCase.name)!;
      const maxLogitDiffPerStep: number[] = [];
      const result = await model.chat(
        [{ role: 'user', content: [...goldenCase.images.map((name) => ({ type: 'image' as const, image: goldenImage(name) })), { type: 'text' as const, text: goldenCase.prompt }] }],
        { ...GOLDEN_SEARCH, maxNewTokens: GOLDEN_STEPS, onStepLogits: (step, stepLogits) => (maxLogitDiffPerStep[step] = maxAbsDiff(stepLogits, logits(step))) },
      );
      outcomes.push({ name: goldenCase.name, tokens: result.tokens, maxLogitDiffPerStep });
    }
    return outcomes;
  } finally {
    await model.dispose();
  }
}

function runWebCases(device: WebDevice, precision: Precision): Promise<CaseOutcome[]> {
  return page.evaluate(([modelUrl, webDevice, cases, stepCount]) => window.conformance.runCases(modelUrl, webDevice, '../golden/', cases, stepCount), [
    `../models/${precision}/`,
    device,
    GOLDEN_CASES,
    GOLDEN_STEPS,
  ] as const);
}

/** What becomes of a row that cannot run here. */
interface Absence {
  /** Why the row is skipped; undefined when it runs. */
  skip: string | undefined;
  /** Why the row fails without running: its device is missing and QWEN_VL_REQUIRE_DEVICES names it. */
  fail: string | undefined;
}

/**
 * A row on `device`, which is not here for the reason `missing` (undefined when it is), and
 * which does not apply here for the reason `inapplicable` (fp16 without shader-f16): a missing
 * device fails the row when it is required and skips it otherwise; an inapplicable row is
 * skipped either way.
 */
function absence(device: Device, missing: string | undefined, inapplicable?: string): Absence {
  if (missing !== undefined && requiredDevices.has(device)) return { skip: undefined, fail: `${device} is required (${REQUIRED_DEVICES_VARIABLE}) but missing: ${missing}` };
  return { skip: missing ?? inapplicable, fail: undefined };
}

const nodeDeviceAbsence = (device: NodeDevice, inapplicable?: string): Absence => absence(device, device === 'cpu' ? undefined : nodeMissing[device], inapplicable);
const webDeviceAbsence = (device: WebDevice, inapplicable?: string): Absence => absence(device, device === 'webgpu' ? webGpuMissing : undefined, inapplicable);

interface RowPlan extends Absence {
  backend: string;
  precision: Precision;
  run: () => Promise<CaseOutcome[]>;
}

function nodeRow(device: NodeDevice, precision: Precision, inapplicable?: string): RowPlan {
  return { backend: `node-${device}`, precision, ...nodeDeviceAbsence(device, inapplicable), run: () => runNodeCases(device, precision) };
}

function webRow(device: WebDevice, precision: Precision, inapplicable?: string): RowPlan {
  return { backend: `web-${device}`, precision, ...webDeviceAbsence(device, inapplicable), run: () => runWebCases(device, precision) };
}

/**
 * One test per row: it records the row for the table, then asserts that every case gave the
 * golden tokens with logits within tolerance. A row that cannot run is skipped with the reason
 * in its name (and listed as skipped in the table), or fails saying why when its device is required.
 */
function conformanceTest(plan: RowPlan): void {
  const title = `${plan.backend} ${plan.precision} gives the golden tokens and logits`;
  rowOrder.push(`${plan.backend} ${plan.precision}`);
  if (plan.skip !== undefined) rows.push({ backend: plan.backend, precision: plan.precision, status: 'skipped', tokens: '–', maxLogitDiff: '–', note: plan.skip });
  it.skipIf(plan.skip !== undefined)(plan.skip === undefined ? title : `${title} (skipped here: ${plan.skip})`, async () => {
    if (plan.fail !== undefined) {
      rows.push({ backend: plan.backend, precision: plan.precision, status: 'FAIL', tokens: '–', maxLogitDiff: '–', note: plan.fail });
      expect.fail(plan.fail);
    }
    const started = performance.now();
    const outcomes = await plan.run();
    const problems = problemsOf(outcomes);
    const equal = outcomes.filter((outcome) => outcome.tokens.join() === golden.get(outcome.name)?.tokens.join()).length;
    const row: Row = {
      backend: plan.backend,
      precision: plan.precision,
      status: problems.length === 0 ? 'pass' : 'FAIL',
      tokens: `${equal}/${outcomes.length} cases equal`,
      maxLogitDiff: Math.max(0, ...outcomes.map(caseMaxDiff)).toExponential(2),
      note: [`${((performance.now() - started) / 1000).toFixed(1)} s`, ...problems].join('; '),
    };
    rows.push(row);
    expect(problems, `${plan.backend} ${plan.precision}`).toEqual([]);
    for (const outcome of outcomes) {
      expect(outcome.tokens, `${outcome.name} tokens`).toEqual(golden.get(outcome.name)!.tokens);
      expect(caseMaxDiff(outcome), `${outcome.name} max |Δlogit|`).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    }
  });
}

afterAll(async () => {
  await browser.close();
  await server.close();
  await removeFolder(pageFolder);
});

describe('conformance of every backend with the golden outputs', () => {
  afterAll(() => printTable());

  conformanceTest(nodeRow('cpu', 'fp32'));
  conformanceTest(nodeRow('cpu', 'fp16'));
  // onnxruntime-node's WebGPU EP on SwiftShader (the script points VK_ICD_FILENAMES at Chromium's driver), or on the GPU when webgpu is required.
  conformanceTest(nodeRow('webgpu', 'fp32'));
  conformanceTest(nodeRow('webgpu', 'fp16', noShaderF16));
  conformanceTest(nodeRow('cuda', 'fp32'));
  conformanceTest(nodeRow('cuda', 'fp16'));
  conformanceTest(nodeRow('dml', 'fp32'));
  conformanceTest(nodeRow('dml', 'fp16'));

  it('the browser preprocesses PNG images from a Blob, File, ImageBitmap, HTMLImageElement or URL into the golden pixel_values', async () => {
    const pngCases = GOLDEN_CASES.filter((goldenCase) => PNG_CASES.includes(goldenCase.name));
    const outcomes: PixelValuesOutcome[] = await page.evaluate(([cases]) => window.conformance.checkPixelValues('../models/fp32/', '../golden/', cases), [pngCases] as const);
    console.log(outcomes.map((outcome) => `web pixel_values ${outcome.name} from ${outcome.input}: [${outcome.shape.join(',')}], max |Δ| ${outcome.maxAbsDiff.toExponential(2)}`).join('\n'));
    expect(outcomes.map((outcome) => `${outcome.name} ${outcome.input}`)).toEqual(pngCases.flatMap((goldenCase) => IMAGE_INPUT_KINDS.map((kind) => `${goldenCase.name} ${kind}`)));
    for (const outcome of outcomes) {
      expect(outcome.shape).toEqual(outcome.goldenShape);
      expect(outcome.maxAbsDiff).toBeLessThanOrEqual(PIXEL_VALUES_TOLERANCE);
    }
  });

  it('the browser takes a video (two frames of the one_image picture) and gives the golden one_image answer', async () => {
    const oneImage = GOLDEN_CASES.find((goldenCase) => goldenCase.name === 'one_image')!;
    const outcome: CaseOutcome = await page.evaluate(([goldenCase, steps]) => window.conformance.runVideoOfImage('../models/fp32/', '../golden/', goldenCase, steps), [
      oneImage,
      GOLDEN_STEPS,
    ] as const);
    const maxDiff = caseMaxDiff(outcome);
    console.log(`web ${outcome.name}: tokens [${outcome.tokens.join(',')}], max |Δlogit| ${maxDiff.toExponential(2)}`);
    expect(outcome.tokens).toEqual(golden.get('one_image')!.tokens);
    expect(outcome.maxLogitDiffPerStep).toHaveLength(GOLDEN_STEPS);
    expect(maxDiff).toBeLessThanOrEqual(LOGITS_TOLERANCE);
  });

  it('a chat with a corrupt image file, one declaring 16000×16000 pixels, or a missing image URL fails with a typed error naming the image', async () => {
    const outcomes: ImageErrorOutcome[] = await page.evaluate(() => window.conformance.checkImageErrors('../models/fp32/'));
    expect(outcomes).toEqual([
      // A file is named by its message item, the decoder's description of it kept.
      {
        what: 'corrupt file',
        code: 'INVALID_IMAGE',
        source: 'messages[0].content[1].image (file "broken.png")',
        reason: expect.stringMatching(/^cannot decode image \(.+\)$/),
        message: expect.any(String),
      },
      // Refused from its header, before the browser decodes a gigabyte of pixels.
      {
        what: 'oversized file',
        code: 'UNSUPPORTED_IMAGE',
        source: 'messages[0].content[1].image (file "huge.png")',
        reason: 'declares 16000×16000 pixels, more than the 67108864 qwen-vl decodes (maxPixels)',
        message: expect.any(String),
      },
      // A URL names itself.
      {
        what: 'missing URL',
        code: 'MISSING_FILE',
        source: expect.stringMatching(/\/missing-image\.png$/),
        reason: expect.stringMatching(/^could not be fetched \(HTTP 404\b/),
        message: expect.any(String),
      },
    ]);
    for (const outcome of outcomes) expect(outcome.message).toBe(`${outcome.source}: ${outcome.reason}`);
  });

  it('loads the model from URLs with byte progress up to the folder total, then again from the Cache API without downloading', async () => {
    const modelRequests: string[] = [];
    const onRequest = (request: Request) => {
      if (new URL(request.url()).pathname.startsWith('/models/fp32/')) modelRequests.push(`${request.method()} ${request.url()}`);
    };
    page.on('request', onRequest);
    try {
      const first: LoadOutcome = await page.evaluate(() => window.conformance.loadCached('../models/fp32/', true));
      const firstRequests = modelRequests.splice(0);
      const again: LoadOutcome = await page.evaluate(() => window.conformance.loadCached('../models/fp32/', false));
      const sizes = await Promise.all(first.cachedFiles.map(async (file) => (await stat(join(models.get('fp32')!, file))).size));
      const folderBytes = sizes.reduce((sum, size) => sum + size, 0);
      console.log(
        `web load: ${first.events} progress events up to ${first.last.loaded} of ${first.last.total} bytes, ${firstRequests.length} requests, ${first.cachedFiles.length} files cached; from the cache: ${modelRequests.length} requests [${modelRequests.join(', ')}]`,
      );

      expect(first.cachedFiles).toEqual(expect.arrayContaining(['config.json', 'tokenizer.json', 'decoder.onnx', 'decoder.onnx.data', 'embed.onnx.data', 'vision.onnx.data']));
      expect(first.totals).toEqual([folderBytes]);
      expect(first.last).toMatchObject({ stage: 'creating-sessions', loaded: folderBytes, total: folderBytes });
      expect(first.loadedNeverDecreases).toBe(true);
      expect(first.events).toBeGreaterThan(first.cachedFiles.length);
      expect(firstRequests.filter((request) => request.startsWith('GET ')).length).toBeGreaterThanOrEqual(first.cachedFiles.length);
      expect(again).toMatchObject({ totals: [folderBytes], last: { stage: 'creating-sessions', loaded: folderBytes, total: folderBytes }, cachedFiles: first.cachedFiles });
      // What still reaches the server are HEAD probes for optional files the folder lacks (a 404 is not cached).
      for (const request of modelRequests) {
        expect(request).toMatch(/^HEAD /);
        expect(existsSync(join(models.get('fp32')!, new URL(request.slice('HEAD '.length)).pathname.split('/').pop()!))).toBe(false);
      }
    } finally {
      page.off('request', onRequest);
    }
  });

  conformanceTest(webRow('wasm', 'fp32'));
  conformanceTest(webRow('wasm', 'fp16'));
  conformanceTest(webRow('webgpu', 'fp32'));
  conformanceTest(webRow('webgpu', 'fp16', noShaderF16));
});

/** The fixed sample: 2 questions of each kind, drawn by eval-shapes' own renderer from this seed. */
const ANSWER_SAMPLE_SEED = 10;
const SAMPLE: readonly Question[] = questionSet(ANSWER_SAMPLE_SEED, 2);
/**
 * node-cpu's share of right answers on the sample, exact trimmed text ended by eos (eval-shapes'
 * `score`): the shipped model gets 14 of these 14 (98.3% of `pnpm eval`'s 350 questions), chance
 * is about a third.
 */
const MIN_ACCURACY = 0.85;
const REFERENCE = 'node-cpu';

interface AnswerRow {
  backend: string;
  status: Status;
  correct: string;
  detail: string;
  time: string;
}

const ANSWER_COLUMNS: ReadonlyArray<[keyof AnswerRow, string]> = [
  ['backend', 'backend'],
  ['status', 'result'],
  ['correct', 'correct'],
  ['detail', `right per kind, or answers unlike ${REFERENCE}'s`],
  ['time', 'time'],
];
const answerRows: AnswerRow[] = [];
const answerRowOrder: string[] = [];

/** Right answers per kind, as `shape 2/2, color 1/2, …`. */
function perKind(answers: readonly Answer[]): string {
  return score(answers)
    .filter((row) => row.kind !== 'overall')
    .map((row) => `${row.kind} ${row.correct}/${row.total}`)
    .join(', ');
}

/** node-cpu's answers, computed once: by its own row, or by the first row that compares with it. */
let reference: Promise<Answer[]> | undefined;
const referenceAnswers = (): Promise<Answer[]> => (reference ??= answerOnNode('cpu'));

function printAnswerTable(referenceList: readonly Answer[] | undefined): void {
  const ordered = [...answerRows].sort((a, b) => answerRowOrder.indexOf(a.backend) - answerRowOrder.indexOf(b.backend));
  const lines = [
    `answers on a fixed shapes sample (questionSet(${ANSWER_SAMPLE_SEED}, 2) of @qwen-vl/eval-shapes: ${SAMPLE.length} questions, ${KINDS.length} kinds; shapes model fp32, greedy, at most 8 tokens): ${REFERENCE} ≥ ${100 * MIN_ACCURACY}% right, every other backend gives ${REFERENCE}'s answers`,
    ...formatTable(
      ANSWER_COLUMNS.map(([, title]) => title),
      ordered.map((row) => ANSWER_COLUMNS.map(([key]) => row[key])),
    ),
  ];
  if (referenceList !== undefined) {
    lines.push(`${REFERENCE}'s answers:`);
    for (const [i, answer] of referenceList.entries()) {
      lines.push(
        `  ${`#${i + 1}`.padEnd(3)} ${answer.question.kind.padEnd(7)} ${JSON.stringify(answer.question.question)} → ${JSON.stringify(answer.text)} (expected ${JSON.stringify(answer.question.answer)}) ${answer.correct ? 'right' : 'WRONG'}`,
      );
    }
  }
  console.log(lines.join('\n'));
}

async function answerOnNode(device: NodeDevice): Promise<Answer[]> {
  const model = await QwenVL.load(shapesModel, { device });
  try {
    return await answerAll(model, SAMPLE);
  } finally {
    await model.dispose();
  }
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** The sample as the page takes it (PNG files encoded by eval-shapes' `png`, as its Node messages are), made once. */
let questionInputs: Promise<QuestionInput[]> | undefined;
const pageQuestions = (): Promise<QuestionInput[]> =>
  (questionInputs ??= Promise.all(
    SAMPLE.map(async (question) => ({
      question: question.question,
      images: await Promise.all(question.images.map(async (picture) => base64(await png(picture)))),
      ...(question.video === undefined ? {} : { video: await Promise.all(question.video.map(async (frame) => base64(await png(frame)))) }),
    })),
  ));

async function answerOnWeb(device: WebDevice): Promise<Answer[]> {
  const questions = await pageQuestions();
  const outcomes: AnswerOutcome[] = await page.evaluate(([modelUrl, webDevice, inputs]) => window.conformance.answerQuestions(modelUrl, webDevice, inputs), [
    '../models/shapes-fp32/',
    device,
    questions,
  ] as const);
  expect(outcomes, 'one answer per question').toHaveLength(SAMPLE.length);
  return outcomes.map((outcome, i) => answerOf(SAMPLE[i], outcome));
}

/** Each question whose answer text differs from the reference's, as `#3 count: "2", node-cpu "3"`. */
function mismatches(answers: readonly Answer[], expected: readonly Answer[]): string[] {
  return expected.flatMap((want, i) => (answers[i]?.text === want.text ? [] : [`#${i + 1} ${want.question.kind}: ${JSON.stringify(answers[i]?.text)}, ${REFERENCE} ${JSON.stringify(want.text)}`]));
}

interface AnswerPlan extends Absence {
  backend: string;
  run: () => Promise<Answer[]>;
}

/**
 * One test per backend: node-cpu (the reference) must get at least MIN_ACCURACY of the sample
 * right; every other backend must give its answers, text for text. A row that cannot run is
 * skipped with the reason in its name and in the table, or fails saying why when its device is required.
 */
function answersTest(plan: AnswerPlan): void {
  const isReference = plan.backend === REFERENCE;
  const title = isReference
    ? `${plan.backend} fp32 gets at least ${100 * MIN_ACCURACY}% of the ${SAMPLE.length} shapes questions right`
    : `${plan.backend} fp32 gives ${REFERENCE}'s answers to the ${SAMPLE.length} shapes questions`;
  answerRowOrder.push(plan.backend);
  if (plan.skip !== undefined) answerRows.push({ backend: plan.backend, status: 'skipped', correct: '–', detail: plan.skip, time: '–' });
  it.skipIf(plan.skip !== undefined)(plan.skip === undefined ? title : `${title} (skipped here: ${plan.skip})`, async () => {
    if (plan.fail !== undefined) {
      answerRows.push({ backend: plan.backend, status: 'FAIL', correct: '–', detail: plan.fail, time: '–' });
      expect.fail(plan.fail);
    }
    const started = performance.now();
    const answers = await plan.run();
    const time = `${((performance.now() - started) / 1000).toFixed(1)} s`;
    const correct = answers.filter((answer) => answer.correct).length;
    const expected = isReference ? undefined : await referenceAnswers();
    const unlike = expected === undefined ? [] : mismatches(answers, expected);
    const pass = isReference ? correct >= MIN_ACCURACY * SAMPLE.length : unlike.length === 0;
    answerRows.push({
      backend: plan.backend,
      status: pass ? 'pass' : 'FAIL',
      correct: `${correct}/${answers.length}`,
      detail: unlike.length === 0 ? perKind(answers) : unlike.join('; '),
      time,
    });
    if (isReference) expect(correct / SAMPLE.length, `${plan.backend}: share of right answers`).toBeGreaterThanOrEqual(MIN_ACCURACY);
    else expect(answers.map((answer) => answer.text)).toEqual(expected!.map((answer) => answer.text));
  });
}

describe(`every backend gives the same answers to a fixed sample of ${SAMPLE.length} shapes questions`, () => {
  afterAll(async () => printAnswerTable(reference === undefined ? undefined : await reference.catch(() => undefined)));

  const nodeAnswers = (device: NodeDevice): AnswerPlan => ({
    backend: `node-${device}`,
    ...nodeDeviceAbsence(device),
    run: () => (device === 'cpu' ? referenceAnswers() : answerOnNode(device)),
  });
  const webAnswers = (device: WebDevice): AnswerPlan => ({ backend: `web-${device}`, ...webDeviceAbsence(device), run: () => answerOnWeb(device) });

  answersTest(nodeAnswers('cpu'));
  answersTest(nodeAnswers('webgpu'));
  answersTest(nodeAnswers('cuda'));
  answersTest(nodeAnswers('dml'));
  answersTest(webAnswers('wasm'));
  answersTest(webAnswers('webgpu'));
});
