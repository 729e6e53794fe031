import { MODEL_CACHE_NAME } from '../../../src/cached-fetch.js';
import { QwenVLWeb } from '../../../src/qwen-vl-web.js';
import { decodeBrowserImage } from '../../../src/decode-browser-image.js';
import type { BrowserImageInput } from '../../../src/decode-browser-image.js';
import type { LoadProgress, WebChatMessage, WebDevice } from '../../../src/qwen-vl-web.js';
import { decodeNpy, parsePreprocessorConfig } from '@qwen-vl/core';
import { processImages } from '@qwen-vl/preprocess';
import { GOLDEN_SEARCH, caseArrayFile, maxAbsDiff } from '@qwen-vl/test-support/golden-cases';
import type { GoldenCase } from '@qwen-vl/test-support/golden-cases';
import { probeWebGpu } from '@qwen-vl/test-support/webgpu-adapter';
import { IMAGE_INPUT_KINDS } from '../conformance-outcomes.js';
import type { AnswerOutcome, CaseOutcome, ImageErrorOutcome, ImageInputKind, LoadOutcome, PixelValuesOutcome, QuestionInput } from '../conformance-outcomes.js';

/**
 * The browser half of the conformance suite, driven by playwright-core through
 * `window.conformance`. Golden arrays are fetched and compared here, so only summaries travel
 * back to Node.
 */

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}

async function fetchFloat32Npy(url: string): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const tensor = decodeNpy(new Uint8Array(await (await fetchOk(url)).arrayBuffer()), url);
  if (!(tensor.data instanceof Float32Array)) throw new Error(`${url}: expected float32, got ${tensor.type}`);
  return { data: tensor.data, dims: tensor.dims };
}

async function fetchImages(goldenUrl: string, names: readonly string[]): Promise<Blob[]> {
  return Promise.all(names.map(async (name) => (await fetchOk(`${goldenUrl}images/${name}`)).blob()));
}

/** One user turn of `media` then the case's prompt, greedy as the golden run, each step's logits compared with the case's golden ones. */
async function chatAgainstGolden(model: QwenVLWeb, goldenUrl: string, goldenCase: GoldenCase, media: Exclude<WebChatMessage['content'], string>, steps: number): Promise<Omit<CaseOutcome, 'name'>> {
  const golden = await fetchFloat32Npy(`${goldenUrl}${caseArrayFile(goldenCase.name, 'logits')}`);
  const vocab = golden.dims[1];
  const maxLogitDiffPerStep: number[] = [];
  const result = await model.chat([{ role: 'user', content: [...media, { type: 'text', text: goldenCase.prompt }] }], {
    ...GOLDEN_SEARCH,
    maxNewTokens: steps,
    onStepLogits: (step, logits) => {
      maxLogitDiffPerStep[step] = maxAbsDiff(logits, golden.data.subarray(step * vocab, (step + 1) * vocab));
    },
  });
  return { tokens: result.tokens, maxLogitDiffPerStep };
}

async function runCases(modelUrl: string, device: WebDevice, goldenUrl: string, cases: readonly GoldenCase[], steps: number): Promise<CaseOutcome[]> {
  const model = await QwenVLWeb.load(new URL(modelUrl, location.href), { device, cache: false });
  try {
    const outcomes: CaseOutcome[] = [];
    for (const goldenCase of cases) {
      const images = await fetchImages(goldenUrl, goldenCase.images);
      const media = images.map((image) => ({ type: 'image' as const, image }));
      outcomes.push({ name: goldenCase.name, ...(await chatAgainstGolden(model, goldenUrl, goldenCase, media, steps)) });
    }
    return outcomes;
  } finally {
    await model.dispose();
  }
}

function pngBlob(base64: string): Blob {
  return new Blob([Uint8Array.from(atob(base64), (char) => char.charCodeAt(0))], { type: 'image/png' });
}

/**
 * Answers shapes questions as @qwen-vl/eval-shapes asks them on Node (`questionMessages`,
 * `answerAll`): one user turn of the pictures, then the video at 2 fps, then the text; greedy,
 * no repetition penalty, at most 8 new tokens. The texts come back untrimmed.
 */
async function answerQuestions(modelUrl: string, device: WebDevice, questions: readonly QuestionInput[]): Promise<AnswerOutcome[]> {
  const model = await QwenVLWeb.load(new URL(modelUrl, location.href), { device, cache: false });
  try {
    const outcomes: AnswerOutcome[] = [];
    for (const question of questions) {
      const content = [
        ...question.images.map((image) => ({ type: 'image' as const, image: pngBlob(image) })),
        ...(question.video === undefined ? [] : [{ type: 'video' as const, video: question.video.map(pngBlob), fps: 2 }]),
        { type: 'text' as const, text: question.question },
      ];
      const result = await model.chat([{ role: 'user', content }], { greedy: true, repetitionPenalty: 1, maxNewTokens: 8 });
      outcomes.push({ text: result.text, finishReason: result.finishReason });
    }
    return outcomes;
  } finally {
    await model.dispose();
  }
}

/**
 * A video of two copies of a case's one image, on wasm: Hugging Face repeats an image to the
 * 2-frame temporal patch, so the answer must be that image case's golden one.
 */
async function runVideoOfImage(modelUrl: string, goldenUrl: string, goldenCase: GoldenCase, steps: number): Promise<CaseOutcome> {
  const model = await QwenVLWeb.load(new URL(modelUrl, location.href), { device: 'wasm', cache: false });
  try {
    const [frame] = await fetchImages(goldenUrl, goldenCase.images);
    const outcome = await chatAgainstGolden(model, goldenUrl, goldenCase, [{ type: 'video', video: [frame, frame] }], steps);
    return { name: `${goldenCase.name} as a 2-frame video`, ...outcome };
  } finally {
    await model.dispose();
  }
}

/**
 * Each way a page can hold an image, made from the fetched file. An ImageBitmap keeps its
 * bytes only when made unpremultiplied and without colour conversion: that is the caller's
 * part (README), and what this one does.
 */
const IMAGE_INPUTS: Record<ImageInputKind, (blob: Blob, name: string, url: string) => Promise<BrowserImageInput>> = {
  Blob: async (blob) => blob,
  File: async (blob, name) => new File([blob], name, { type: blob.type }),
  ImageBitmap: (blob) => createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' }),
  HTMLImageElement: async (_blob, _name, url) => {
    const element = new Image();
    element.src = url;
    await element.decode();
    return element;
  },
  URL: async (_blob, _name, url) => url,
};

async function checkPixelValues(modelUrl: string, goldenUrl: string, cases: readonly GoldenCase[]): Promise<PixelValuesOutcome[]> {
  const config = parsePreprocessorConfig(await (await fetch(new URL('preprocessor_config.json', new URL(modelUrl, location.href)))).json());
  const outcomes: PixelValuesOutcome[] = [];
  for (const goldenCase of cases) {
    const blobs = await fetchImages(goldenUrl, goldenCase.images);
    const golden = await fetchFloat32Npy(`${goldenUrl}${caseArrayFile(goldenCase.name, 'pixel_values')}`);
    for (const input of IMAGE_INPUT_KINDS) {
      const sources = await Promise.all(goldenCase.images.map((name, i) => IMAGE_INPUTS[input](blobs[i], name, new URL(`${goldenUrl}images/${name}`, location.href).href)));
      const batch = processImages(await Promise.all(sources.map((source) => decodeBrowserImage(source))), config);
      outcomes.push({
        name: goldenCase.name,
        input,
        shape: [batch.patchCount, batch.rowSize],
        goldenShape: [golden.dims[0], golden.dims[1]],
        maxAbsDiff: maxAbsDiff(batch.pixelValues, golden.data),
      });
    }
  }
  return outcomes;
}

/** The start of a PNG whose header declares `width`×`height` RGB pixels: signature and IHDR (its CRC not computed), no pixel data. */
function pngHeader(width: number, height: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(33);
  const view = new DataView(bytes.buffer);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  view.setUint32(16, width);
  view.setUint32(20, height);
  bytes.set([8, 2, 0, 0, 0], 24);
  return bytes;
}

/** What a chat with a corrupt image, an image declaring too many pixels, and a missing image URL fail with. */
async function checkImageErrors(modelUrl: string): Promise<ImageErrorOutcome[]> {
  const model = await QwenVLWeb.load(new URL(modelUrl, location.href), { device: 'wasm', cache: false });
  const images: Record<string, BrowserImageInput> = {
    'corrupt file': new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])], 'broken.png', { type: 'image/png' }),
    'oversized file': new File([pngHeader(16000, 16000)], 'huge.png', { type: 'image/png' }),
    'missing URL': new URL('missing-image.png', location.href).href,
  };
  try {
    const outcomes: ImageErrorOutcome[] = [];
    for (const [what, image] of Object.entries(images)) {
      try {
        await model.chat(
          [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'Describe' },
                { type: 'image', image },
              ],
            },
          ],
          { maxNewTokens: 1 },
        );
        outcomes.push({ what, code: 'none', source: undefined, reason: undefined, message: 'no error' });
      } catch (error) {
        const { code, source, reason } = error as { code?: unknown; source?: string; reason?: string };
        outcomes.push({ what, code: String(code), source, reason, message: (error as Error).message });
      }
    }
    return outcomes;
  } finally {
    await model.dispose();
  }
}

/**
 * Loads the model with the Cache API on (the default) and progress reported; `fresh` empties
 * the cache first. Returns a summary of the progress events and the files the cache holds.
 */
async function loadCached(modelUrl: string, fresh: boolean): Promise<LoadOutcome> {
  if (fresh) await caches.delete(MODEL_CACHE_NAME);
  const events: LoadProgress[] = [];
  const model = await QwenVLWeb.load(new URL(modelUrl, location.href), { device: 'wasm', onProgress: (progress) => events.push(progress) });
  await model.dispose();
  const cached = await (await caches.open(MODEL_CACHE_NAME)).keys();
  return {
    events: events.length,
    loadedNeverDecreases: events.every((event, i) => i === 0 || event.loaded >= events[i - 1].loaded),
    totals: [...new Set(events.map((event) => event.total))],
    last: events.at(-1) ?? { stage: 'none', loaded: 0, total: 0 },
    cachedFiles: cached.map((request) => new URL(request.url).pathname.split('/').pop()!).sort(),
  };
}

const conformance = { probeWebGpu, runCases, runVideoOfImage, answerQuestions, checkPixelValues, checkImageErrors, loadCached };
export type ConformancePage = typeof conformance;
declare global {
  interface Window {
    conformance: ConformancePage;
  }
}
window.conformance = conformance;
document.getElementById('state')!.textContent = 'ready';
