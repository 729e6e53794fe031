import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FORMAT_VERSION, MANIFEST_FILE } from '@qwen-vl/pipeline';
import { buildModelFolder } from '@qwen-vl/builder';
import { CHROMIUM_ARGS, CHROMIUM_PATH, GOLDEN_DIR, HARDWARE_WEBGPU_CHROMIUM_ARGS, MODEL_DIR } from '@qwen-vl/test-support';
import type { BuildManifest } from '@qwen-vl/pipeline';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { build } from 'vite';
import type { InlineConfig } from 'vite';

/** Shared set-up of the browser tests: the golden and shapes model builds, Vite builds, Chromium. */

export const REPOSITORY_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const GOLDEN_FOLDER = GOLDEN_DIR;
/** The shapes model's Hugging Face folder (its trained weights: models/tiny-shapes/README.md). */
export const SHAPES_MODEL_DIR = join(REPOSITORY_ROOT, 'models/tiny-shapes');
export const WEB_PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type Precision = 'fp32' | 'fp16';

/**
 * The conformance folders run on every backend, WebGPU included: they are built with the
 * plain-op decoder (`--execution-provider webgpu`), which every backend runs. The CPU build's
 * GroupQueryAttention decoder is checked against the golden cases by @qwen-vl/node's tests.
 */
const EXECUTION_PROVIDER = 'webgpu';

async function isCurrentBuild(folder: string, precision: Precision): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(join(folder, MANIFEST_FILE), 'utf8')) as BuildManifest;
    return manifest.formatVersion === FORMAT_VERSION && manifest.precision === precision && manifest.executionProvider === EXECUTION_PROVIDER;
  } catch {
    return false;
  }
}

/** Size and modification time of each file of a checkpoint folder: cheap to take, and changed when a file is replaced. */
async function sourceStamp(source: string): Promise<string> {
  const files = (await readdir(source, { withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name)
    .sort();
  const stamp: Record<string, { size: number; mtimeMs: number }> = {};
  for (const file of files) {
    const { size, mtimeMs } = await stat(join(source, file));
    stamp[file] = { size, mtimeMs };
  }
  return JSON.stringify({ source: resolve(source), files: stamp }, null, 2);
}

/**
 * The Hugging Face folder `source` built as `qwen-vl build --execution-provider webgpu` does into .cache/conformance/`name`,
 * so that later runs skip the build. It is redone when the build there is of another format
 * version, precision or execution provider, or when a file of `source` changed size or modification time since
 * (recorded in .cache/conformance/`name`.source.json).
 */
export async function ensureBuiltModel(source: string, name: string, precision: Precision): Promise<string> {
  const cache = join(REPOSITORY_ROOT, '.cache/conformance');
  const folder = join(cache, name);
  const stampFile = join(cache, `${name}.source.json`);
  const stamp = await sourceStamp(source);
  const recorded = await readFile(stampFile, 'utf8').catch(() => undefined);
  if (recorded !== stamp || !(await isCurrentBuild(folder, precision))) {
    await mkdir(cache, { recursive: true });
    await rm(stampFile, { force: true });
    await buildModelFolder(source, folder, { precision, executionProvider: EXECUTION_PROVIDER, force: true });
    await writeFile(stampFile, stamp);
  }
  return folder;
}

/** The golden tiny checkpoint (testdata/golden/tiny/model), built into .cache/conformance/golden-`precision`. */
export async function ensureGoldenModel(precision: Precision): Promise<string> {
  return ensureBuiltModel(MODEL_DIR, `golden-${precision}`, precision);
}

/** The shapes model (models/tiny-shapes), built into .cache/conformance/shapes-`precision`. */
export async function ensureShapesModel(precision: Precision): Promise<string> {
  return ensureBuiltModel(SHAPES_MODEL_DIR, `shapes-${precision}`, precision);
}

/** A Vite production build of the page in `root` into a new temporary folder; returns the folder. */
export async function buildPage(root: string, config: InlineConfig = {}): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), 'qwen-vl-page-'));
  await build({
    logLevel: 'warn',
    ...config,
    root,
    base: './',
    publicDir: false,
    resolve: { alias: { '@qwen-vl/web': join(WEB_PACKAGE_ROOT, 'dist/index.js') } },
    build: { outDir, emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  });
  return outDir;
}

export async function removeFolder(folder: string | undefined): Promise<void> {
  if (folder !== undefined) await rm(folder, { recursive: true, force: true });
}

/**
 * Headless Debian Chromium (no Playwright browser download) with WebGPU on: without a GPU
 * it gets SwiftShader's fallback adapter. With `hardwareWebGpu` it is also launched so that
 * WebGPU can reach the machine's GPU (see HARDWARE_WEBGPU_CHROMIUM_ARGS). Playwright gives it a
 * fresh temporary profile.
 */
export function launchChromium({ hardwareWebGpu = false }: { hardwareWebGpu?: boolean } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, ...(hardwareWebGpu ? HARDWARE_WEBGPU_CHROMIUM_ARGS : [])],
  });
}

export interface DemoServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly origin: string;
  close(): Promise<void>;
}

async function freeLoopbackPort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolveClose) => probe.close(resolveClose));
  return port;
}

/**
 * The demo started the way its README says, `pnpm --filter @qwen-vl/web demo` (a Vite build
 * into demo/dist, then `vite preview` of demo/vite.config.ts), on a free 127.0.0.1 port, with
 * `model` as the folder it serves under /models/tiny/ ($QWEN_VL_DEMO_MODEL). Resolves once
 * the page is served; rejects with the command's output if it exits first.
 */
export async function startDemo(model: string): Promise<DemoServer> {
  const port = await freeLoopbackPort();
  const origin = `http://127.0.0.1:${port}`;
  // Its own process group, so that closing it stops vite as well as pnpm.
  const command = spawn('pnpm', ['--filter', '@qwen-vl/web', 'demo', '--port', String(port), '--strictPort'], {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, QWEN_VL_DEMO_MODEL: model },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  command.stdout.on('data', (data: Buffer) => (output += data.toString()));
  command.stderr.on('data', (data: Buffer) => (output += data.toString()));
  const running = () => command.exitCode === null && command.signalCode === null;
  const exited = once(command, 'exit');
  const close = async (): Promise<void> => {
    if (!running()) return;
    process.kill(-command.pid!, 'SIGTERM');
    await exited;
  };
  while (running()) {
    const response = await fetch(`${origin}/`).catch(() => undefined);
    if (response?.ok === true) return { origin, close };
    await new Promise((wait) => setTimeout(wait, 250));
  }
  throw new Error(`\`pnpm --filter @qwen-vl/web demo\` exited (${command.exitCode ?? command.signalCode}) before serving the page:\n${output}`);
}
