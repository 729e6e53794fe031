import { Config, Generator, GeneratorParams, Images, Model, Tokenizer } from '@qwen-vl/web';
import type { MultiModalProcessor, NamedTensors } from '@qwen-vl/web';
import type { GoldenCase } from '@qwen-vl/test-support/golden-cases';
import { float32ToBase64 } from '../genai-outcomes.js';
import type { GenaiPageOutcome, StepRun } from '../genai-outcomes.js';

/**
 * The browser half of `genai.e2e.ts`: onnxruntime-genai's API of `@qwen-vl/web` (the package's
 * built entry) in a page, driven by playwright-core through `window.genai`. The tokens and
 * logits go back to Node, which compares them with the golden run and with Node's.
 */

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}

/** A golden case as genai's examples write it: one user turn, its images, then its text. */
function messagesJson(goldenCase: GoldenCase): string {
  return JSON.stringify([{ role: 'user', content: [...goldenCase.images.map(() => ({ type: 'image' })), { type: 'text', text: goldenCase.prompt }] }]);
}

async function process(processor: MultiModalProcessor, tokenizer: Tokenizer, goldenCase: GoldenCase, images: Images | undefined): Promise<NamedTensors> {
  return processor.process(tokenizer.applyChatTemplate(messagesJson(goldenCase), { addGenerationPrompt: true }), { images });
}

/** A generator of the golden run's search (greedy on raw logits, EOS ignored, `steps` tokens) over `inputs`. */
async function startGenerator(model: Model, inputs: NamedTensors, steps: number): Promise<Generator> {
  const params = new GeneratorParams(model);
  params.setSearchOptions({ doSample: false, repetitionPenalty: 1, ignoreEos: true, maxNewTokens: steps });
  const generator = await Generator.create(model, params);
  generator.setInputs(inputs);
  return generator;
}

/** One `generateNextToken` of `generator`, recorded in `run`. */
async function step(generator: Generator, run: { tokens: number[]; logits: string[] }): Promise<void> {
  await generator.generateNextToken();
  run.tokens.push(generator.getNextTokens()[0]);
  run.logits.push(float32ToBase64(generator.getOutput('logits').data as Float32Array));
}

async function runAlone(generator: Generator): Promise<StepRun> {
  const run = { tokens: [] as number[], logits: [] as string[] };
  while (!generator.isDone()) await step(generator, run);
  return run;
}

/**
 * Opens the model folder at `modelUrl` with `new Config(url)` (WASM), then: the one_image
 * case (its picture from a Blob) and the text_only case, each alone on a generator, step by
 * step; then both again on two generators of the model stepped in turn, the picture opened
 * from its URL this time.
 */
async function run(modelUrl: string, goldenUrl: string, cases: { oneImage: GoldenCase; textOnly: GoldenCase }, steps: number): Promise<GenaiPageOutcome> {
  const model = await Model.create(new Config(new URL(modelUrl, location.href).href, { cache: false }));
  try {
    const tokenizer = await Tokenizer.create(model);
    const processor = model.createMultimodalProcessor();
    const [picture] = cases.oneImage.images;
    const pictureUrl = new URL(`${goldenUrl}images/${picture}`, location.href).href;
    const blob = await (await fetchOk(pictureUrl)).blob();

    const oneImageInputs = await process(processor, tokenizer, cases.oneImage, await Images.open(blob));
    const oneImage = await runAlone(await startGenerator(model, oneImageInputs, steps));
    const textOnlyInputs = await process(processor, tokenizer, cases.textOnly, undefined);
    const textOnly = await runAlone(await startGenerator(model, textOnlyInputs, steps));

    const fromUrl = await process(processor, tokenizer, cases.oneImage, await Images.open(pictureUrl));
    const [first, second] = [await startGenerator(model, fromUrl, steps), await startGenerator(model, textOnlyInputs, steps)];
    const interleaved = { oneImage: { tokens: [] as number[], logits: [] as string[] }, textOnly: { tokens: [] as number[], logits: [] as string[] } };
    while (!first.isDone() || !second.isDone()) {
      if (!first.isDone()) await step(first, interleaved.oneImage);
      if (!second.isDone()) await step(second, interleaved.textOnly);
    }
    return { inputIds: Array.from(oneImageInputs.get('input_ids').data as ArrayLike<number | bigint>, Number), oneImage, textOnly, interleaved };
  } finally {
    await model.dispose();
  }
}

const genai = { run };
export type GenaiPage = typeof genai;
declare global {
  interface Window {
    genai: GenaiPage;
  }
}
window.genai = genai;
document.getElementById('state')!.textContent = 'ready';
