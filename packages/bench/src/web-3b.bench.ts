import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseModelConfig } from '@qwen-vl/core';
import { MODEL_FILES } from '@qwen-vl/core';
import { buildModelFolder, checkpointTensors } from '@qwen-vl/builder';
import { MANIFEST_FILE } from '@qwen-vl/pipeline';
import { CHROMIUM_PATH } from '@qwen-vl/test-support';
import type { BuildManifest } from '@qwen-vl/pipeline';
import { chromium } from 'playwright-core';
import { build, preview } from 'vite';
import { timeOnce } from './measure.js';
import { randomWeights } from './random-weights.js';
import { printTable } from './table.js';
import type { Web3bOutcome, Web3bPage } from './web-3b-outcome.js';

/**
 * Issue 11's question for the browser: does a Qwen2.5-VL-3B-shaped int4 build (random weights,
 * text and vision int4, block 32, accuracy level 4, the webgpu build's plain-op decoder that
 * WASM runs) load in headless Chromium on WASM, whose memory is 32-bit (4 GB)? The folder is
 * built once into .cache/bench-web-3b/model (delete it to rebuild), served with cross-origin
 * isolation (so onnxruntime-web runs threaded), and opened by @qwen-vl/web in a page
 * (web-3b-page/). Prints the size of each part, how far the load got (or the error that
 * stopped it), the load time, the page's memory (JS heap, WASM heap, the renderer's peak RSS)
 * and, when it loads, one short text-only generation.
 */

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const CACHE = join(REPO, '.cache/bench-web-3b');
const MODEL = join(CACHE, 'model');
const PAGE_ROOT = fileURLToPath(new URL('../web-3b-page/', import.meta.url));
/** The golden tiny model's folder: its config is the base of the 3B one, and its tokenizer files are Qwen2.5's. */
const TINY = join(REPO, 'testdata/golden/tiny/model');
const NEW_TOKENS = 4;
/** An argument Chromium ignores, to find its browser process in /proc (playwright-core's Browser does not give it). */
const MARKER = '--qwen-vl-bench-web-3b';

/** Qwen2.5-VL-3B-Instruct's config.json (on the Hub) where it differs from the tiny model's. */
const CONFIG_3B = {
  hidden_size: 2048,
  intermediate_size: 11008,
  num_hidden_layers: 36,
  num_attention_heads: 16,
  num_key_value_heads: 2,
  max_window_layers: 70,
  rope_scaling: { type: 'mrope', mrope_section: [16, 24, 24] },
  tie_word_embeddings: true,
  vision_config: { depth: 32, hidden_size: 1280, intermediate_size: 3420, num_heads: 16, out_hidden_size: 2048, window_size: 112, fullatt_block_indexes: [7, 15, 23, 31] },
};

/**
 * The Hugging Face side of the model without weights (config, preprocessor and tokenizer
 * files) in .cache/bench-web-3b/hf, and the folder built from it with generated weights.
 */
async function ensureModelFolder(): Promise<void> {
  if (existsSync(join(MODEL, MANIFEST_FILE))) return;
  const hf = join(CACHE, 'hf');
  await mkdir(hf, { recursive: true });
  const tiny = JSON.parse(await readFile(join(TINY, MODEL_FILES.config), 'utf8')) as { vision_config: object };
  const config = { ...tiny, ...CONFIG_3B, vision_config: { ...tiny.vision_config, ...CONFIG_3B.vision_config } };
  await writeFile(join(hf, MODEL_FILES.config), JSON.stringify(config, null, 2));
  for (const name of await readdir(TINY)) if (name !== MODEL_FILES.config && !name.endsWith('.safetensors')) await copyFile(join(TINY, name), join(hf, name));
  console.log('building the 3B-shaped int4 folder (once) ...');
  const { seconds } = await timeOnce(() =>
    buildModelFolder(hf, MODEL, {
      weights: randomWeights(checkpointTensors(parseModelConfig(config))),
      precision: 'int4',
      visionPrecision: 'int4',
      blockSize: 32,
      accuracyLevel: 4,
      executionProvider: 'webgpu',
      force: true,
    }),
  );
  console.log(`built in ${seconds.toFixed(0)} s, peak RSS of this process ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
}

/** Each part's .onnx and external data bytes, from the manifest. */
async function partSizes(): Promise<string[][]> {
  const manifest = JSON.parse(await readFile(join(MODEL, MANIFEST_FILE), 'utf8')) as BuildManifest;
  const size = async (file: string) => (await stat(join(MODEL, file))).size;
  const rows = [];
  for (const part of manifest.parts) {
    const data = await Promise.all(part.externalData.map(size));
    rows.push([part.name, `${((await size(part.model)) / 1e6).toFixed(1)} MB`, part.externalData.map((file, i) => `${file} ${(data[i] / 1e9).toFixed(3)} GB`).join(', ')]);
  }
  return rows;
}

/** Peak RSS (VmHWM) of each renderer process of the Chromium launched with MARKER, in bytes. */
async function rendererPeaks(): Promise<Map<number, number>> {
  const parents = new Map<number, number>();
  const renderers: number[] = [];
  const browsers = new Set<number>();
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const statLine = await readFile(`/proc/${pid}/stat`, 'utf8');
      parents.set(pid, Number(statLine.slice(statLine.lastIndexOf(')') + 2).split(' ')[1]));
      // Zygote-forked processes set their title, which joins the arguments with spaces.
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split(/[\0 ]/);
      if (args.includes('--type=renderer')) renderers.push(pid);
      if (args.includes(MARKER)) browsers.add(pid);
    } catch {
      // The process ended while being read.
    }
  }
  const below = (pid: number): boolean => browsers.has(pid) || (pid > 1 && below(parents.get(pid) ?? 0));
  const peaks = new Map<number, number>();
  for (const pid of renderers.filter(below)) {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
    if (hwm !== null) peaks.set(pid, Number(hwm[1]) * 1024);
  }
  return peaks;
}

/** The page, built by Vite with @qwen-vl/web's built entry, and the model folder beside it, served cross-origin isolated. */
async function servePage(): Promise<{ origin: string; close: () => Promise<void> }> {
  const outDir = join(CACHE, 'page');
  await build({
    logLevel: 'warn',
    configFile: false,
    root: PAGE_ROOT,
    base: './',
    publicDir: false,
    build: { outDir, emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  });
  await symlink(MODEL, join(outDir, 'model'));
  const server = await preview({
    logLevel: 'warn',
    configFile: false,
    root: PAGE_ROOT,
    appType: 'mpa',
    build: { outDir },
    preview: {
      host: '127.0.0.1',
      port: 0,
      headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' },
    },
  });
  const origin = server.resolvedUrls?.local[0]?.replace(/\/$/, '');
  if (origin === undefined) throw new Error('vite preview did not say where it listens');
  return { origin, close: () => server.close() };
}

async function runInChromium(origin: string): Promise<{ outcome: Web3bOutcome; rendererPeakBytes: number }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run', MARKER],
  });
  let rendererPeakBytes = 0;
  const poll = async () => {
    for (const peak of (await rendererPeaks()).values()) rendererPeakBytes = Math.max(rendererPeakBytes, peak);
  };
  // A renderer killed for memory takes its VmHWM with it: polled while it runs.
  const poller = setInterval(() => void poll(), 500);
  try {
    const page = await browser.newPage();
    page.on('console', (message) => console.log(`  [page] ${message.text()}`));
    await page.goto(`${origin}/`);
    await page.waitForFunction("document.getElementById('state')?.textContent === 'ready'");
    let outcome: Web3bOutcome;
    try {
      outcome = await page.evaluate(([url, tokens]) => (globalThis as unknown as { web3b: Web3bPage }).web3b.run(url, tokens), ['./model/', NEW_TOKENS] as const);
    } catch (error) {
      // The renderer died (out of memory) or the page threw outside the run.
      outcome = { stage: 'downloading', error: `the page failed: ${error instanceof Error ? error.message : String(error)}`, crossOriginIsolated: false };
    }
    await poll();
    return { outcome, rendererPeakBytes };
  } finally {
    clearInterval(poller);
    await browser.close();
  }
}

const mb = (bytes: number | undefined) => (bytes === undefined ? 'n/a' : `${(bytes / 1e6).toFixed(0)} MB`);

export async function runWeb3bBench(): Promise<void> {
  await ensureModelFolder();
  console.log(`\n3B-shaped int4 model folder (${MODEL}):`);
  printTable(['part', '.onnx', 'external data'], await partSizes());
  const server = await servePage();
  try {
    const { outcome, rendererPeakBytes } = await runInChromium(server.origin);
    const { generation } = outcome;
    console.log(`\n@qwen-vl/web on WASM in headless Chromium (${CHROMIUM_PATH}), cross-origin isolated: ${outcome.crossOriginIsolated}`);
    if (outcome.error !== undefined) console.log(`stopped by: ${outcome.error}`);
    printTable(
      ['measure', 'value'],
      [
        ['got to', outcome.stage],
        ['files fetched (s)', outcome.downloadMs === undefined ? 'n/a' : (outcome.downloadMs / 1000).toFixed(1)],
        ['loaded (s)', outcome.loadMs === undefined ? 'n/a' : (outcome.loadMs / 1000).toFixed(1)],
        ['peak JS heap (performance.memory)', mb(outcome.peakJsHeapBytes)],
        ['peak WASM memory (onnxruntime-web heap)', mb(outcome.peakWasmMemoryBytes)],
        ['measureUserAgentSpecificMemory, loaded', mb(outcome.userAgentMemoryBytes)],
        ['renderer peak RSS (VmHWM)', mb(rendererPeakBytes)],
        [
          `${NEW_TOKENS} tokens, text only (s)`,
          generation === undefined
            ? 'n/a'
            : `${(generation.totalMs / 1000).toFixed(1)} (first token ${(generation.firstTokenMs / 1000).toFixed(1)} s, then ${generation.decodeTokensPerSecond.toFixed(2)} tokens/s)`,
        ],
      ],
    );
  } finally {
    await server.close();
  }
}
