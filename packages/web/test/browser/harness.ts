import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FORMAT_VERSION, MANIFEST_FILE } from '@qwen-vl/pipeline';
import { buildModelFolder } from '@qwen-vl/builder';
import { GOLDEN_DIR, MODEL_DIR } from '@qwen-vl/test-support';
import type { BuildManifest } from '@qwen-vl/pipeline';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { build } from 'vite';
import type { InlineConfig } from 'vite';

/** Shared set-up of the browser tests: the model builds, Vite builds, Chromium. */

export const REPOSITORY_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const GOLDEN_FOLDER = GOLDEN_DIR;
export const WEB_PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHROMIUM_PATH = process.env.QWEN_VL_CHROMIUM ?? '/usr/bin/chromium';

export type Precision = 'fp32' | 'fp16';

/** Where the browser tests keep their model builds (and artifacts), across runs. */
const CONFORMANCE_CACHE = join(REPOSITORY_ROOT, '.cache/conformance');

/** The modification time of the newest file directly in `folder`, ms. */
async function newestFileTime(folder: string): Promise<number> {
  const entries = await readdir(folder, { withFileTypes: true });
  const times = await Promise.all(entries.filter((entry) => entry.isFile()).map(async (entry) => (await stat(join(folder, entry.name))).mtimeMs));
  return Math.max(0, ...times);
}

/** A build of this format version and precision, made after the last change to `source`'s files. */
async function isCurrentBuild(folder: string, source: string, precision: Precision): Promise<boolean> {
  try {
    const manifestFile = join(folder, MANIFEST_FILE);
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as BuildManifest;
    const current = manifest.formatVersion === FORMAT_VERSION && manifest.precision === precision;
    return current && (await stat(manifestFile)).mtimeMs >= (await newestFileTime(source));
  } catch {
    return false;
  }
}

/**
 * The checkpoint in `source` built as `qwen-vl build` does into .cache/conformance/NAME, kept
 * there so that later runs skip the build; one by another format version, in another precision
 * or older than the checkpoint's files is redone. Returns the folder.
 */
export async function ensureBuiltModel(source: string, name: string, precision: Precision): Promise<string> {
  const folder = join(CONFORMANCE_CACHE, name);
  if (!(await isCurrentBuild(folder, source, precision))) {
    await mkdir(CONFORMANCE_CACHE, { recursive: true });
    await buildModelFolder(source, folder, { precision, force: true });
  }
  return folder;
}

/** The golden tiny checkpoint (random weights), built into .cache/conformance/golden-{fp32,fp16}. */
export function ensureGoldenModel(precision: Precision): Promise<string> {
  return ensureBuiltModel(MODEL_DIR, `golden-${precision}`, precision);
}

/** The trained default model, models/tiny-shapes, built into .cache/conformance/shapes-fp32. */
export function ensureShapesModel(): Promise<string> {
  return ensureBuiltModel(join(REPOSITORY_ROOT, 'models/tiny-shapes'), 'shapes-fp32', 'fp32');
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
 * it gets SwiftShader's fallback adapter. Playwright gives it a fresh temporary profile.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
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
