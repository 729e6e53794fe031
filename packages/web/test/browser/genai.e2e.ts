import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage } from '@qwen-vl/node';
import { GOLDEN_CASES, GOLDEN_STEPS, LOGITS_TOLERANCE, goldenArray, goldenImage, goldenSteps, maxAbsDiff, numbers } from '@qwen-vl/test-support';
import type { GoldenCase } from '@qwen-vl/test-support';
import { Config, Generator, GeneratorParams, Images, Model, Tokenizer } from '../../src/index.js';
import { startStaticServer } from '../../demo/static-server.js';
import { base64ToFloat32 } from './genai-outcomes.js';
import type { GenaiPageOutcome, StepRun } from './genai-outcomes.js';
import { GOLDEN_FOLDER, buildPage, ensureGoldenModel, launchChromium, removeFolder } from './harness.js';

/**
 * onnxruntime-genai's API of `@qwen-vl/web` in a real page (headless Chromium, WASM): the page
 * opens the golden model's folder by URL with `new Config(url)`, the one_image picture with
 * `Images.open` (a Blob, then its URL), and generates greedily step by step with `Generator`.
 * Its tokens and logits must be the golden ones (the tolerance of the Node genai tests), the
 * same as onnxruntime-web's in Node, and two generators of the model stepped in turn must give
 * what each gives alone.
 */

/** Within this, a step's logits in the page are those of the same run through onnxruntime-web in Node. */
const NODE_WASM_TOLERANCE = 1e-5;
/** Within this, a generator sharing the model gives the logits it gives alone (as in @qwen-vl/node's genai tests). */
const SHARED_MODEL_TOLERANCE = 1e-5;

const goldenCase = (name: string): GoldenCase => GOLDEN_CASES.find((c) => c.name === name)!;
const cases = { oneImage: goldenCase('one_image'), textOnly: goldenCase('text_only') };

const model = await ensureGoldenModel('fp32');
const pageFolder = await buildPage(fileURLToPath(new URL('./genai-page/', import.meta.url)), { configFile: false });
const server = await startStaticServer({ '/page/': pageFolder, '/golden/': GOLDEN_FOLDER, '/models/fp32/': model });
const browser = await launchChromium();

afterAll(async () => {
  await browser.close();
  await server.close();
  await removeFolder(pageFolder);
});

/** The page's `window.genai.run` on wasm, in a fresh page; a page error fails it. */
async function runInPage(): Promise<GenaiPageOutcome> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  try {
    await page.goto(`${server.origin}/page/`);
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'ready');
    const outcome = await page.evaluate(([modelUrl, run, steps]) => window.genai.run(modelUrl, '../golden/', run, steps), ['../models/fp32/', cases, GOLDEN_STEPS] as const);
    expect(errors).toEqual([]);
    return outcome;
  } finally {
    await page.close();
  }
}

/** The same two runs through @qwen-vl/web's genai API in Node (onnxruntime-web wasm), from the same URL; sharp decodes the picture. */
async function runInNode(): Promise<{ oneImage: StepRun; textOnly: StepRun }> {
  const genai = await Model.create(new Config(`${server.origin}/models/fp32/`, { cache: false }));
  try {
    const tokenizer = await Tokenizer.create(genai);
    const processor = genai.createMultimodalProcessor();
    const runCase = async (c: GoldenCase): Promise<StepRun> => {
      const messages = JSON.stringify([{ role: 'user', content: [...c.images.map(() => ({ type: 'image' })), { type: 'text', text: c.prompt }] }]);
      const images = c.images.length === 0 ? undefined : new Images(await Promise.all(c.images.map((file) => decodeImage(goldenImage(file)))));
      const params = new GeneratorParams(genai);
      params.setSearchOptions({ doSample: false, repetitionPenalty: 1, ignoreEos: true, maxNewTokens: GOLDEN_STEPS });
      const generator = await Generator.create(genai, params);
      generator.setInputs(await processor.process(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), { images }));
      const run = { tokens: [] as number[], logits: [] as string[] };
      while (!generator.isDone()) {
        await generator.generateNextToken();
        run.tokens.push(generator.getNextTokens()[0]);
        run.logits.push(Buffer.from((generator.getOutput('logits').data as Float32Array).buffer).toString('base64'));
      }
      return run;
    };
    return { oneImage: await runCase(cases.oneImage), textOnly: await runCase(cases.textOnly) };
  } finally {
    await genai.dispose();
  }
}

/** The largest |Δlogit| of each step of `run` against `reference`'s. */
function stepDiffs(run: StepRun, reference: (step: number) => Float32Array): number[] {
  return run.logits.map((logits, step) => maxAbsDiff(base64ToFloat32(logits), reference(step)));
}

function expectWithin(diffs: readonly number[], tolerance: number, what: string): void {
  expect(diffs, what).toHaveLength(GOLDEN_STEPS);
  diffs.forEach((diff, step) => expect(diff, `${what}, step ${step}`).toBeLessThanOrEqual(tolerance));
}

describe('the genai API of @qwen-vl/web in headless Chromium (wasm)', () => {
  it('a page generates the golden tokens and logits step by step, as onnxruntime-web in Node does; two generators on the model stepped in turn give their alone runs', async () => {
    const [page, node] = [await runInPage(), await runInNode()];
    expect(page.inputIds).toEqual(numbers(goldenArray('one_image', 'input_ids').data));
    const report: string[] = [];
    for (const [name, run, inNode] of [
      ['one_image', page.oneImage, node.oneImage],
      ['text_only', page.textOnly, node.textOnly],
    ] as const) {
      const golden = goldenSteps(name);
      expect(run.tokens, name).toEqual(golden.tokens);
      expect(inNode.tokens, `${name} in Node`).toEqual(golden.tokens);
      const vsGolden = stepDiffs(run, golden.logits);
      const vsNode = stepDiffs(run, (step) => base64ToFloat32(inNode.logits[step]));
      expectWithin(vsGolden, LOGITS_TOLERANCE, `${name} against the golden logits`);
      expectWithin(vsNode, NODE_WASM_TOLERANCE, `${name} against Node's onnxruntime-web`);
      report.push(`${name}: max |Δlogit| vs golden ${Math.max(...vsGolden).toExponential(2)}, vs Node wasm ${Math.max(...vsNode).toExponential(2)}`);
    }
    for (const [name, shared, alone] of [
      ['one_image', page.interleaved.oneImage, page.oneImage],
      ['text_only', page.interleaved.textOnly, page.textOnly],
    ] as const) {
      expect(shared.tokens, `${name} sharing the model`).toEqual(alone.tokens);
      const diffs = stepDiffs(shared, (step) => base64ToFloat32(alone.logits[step]));
      expectWithin(diffs, SHARED_MODEL_TOLERANCE, `${name} sharing the model against alone`);
      report.push(`${name} sharing the model: max |Δlogit| vs alone ${Math.max(...diffs).toExponential(2)}`);
    }
    console.info(report.join('\n'));
  });
});
