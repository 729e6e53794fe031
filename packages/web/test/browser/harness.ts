import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
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

/** Shared set-up of the browser tests: the golden model build, Vite builds, Chromium. */

export const REPOSITORY_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const GOLDEN_FOLDER = GOLDEN_DIR;
export const WEB_PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHROMIUM_PATH = process.env.QWEN_VL_CHROMIUM ?? '/usr/bin/chromium';

export type Precision = 'fp32' | 'fp16';

async function isCurrentBuild(folder: string, precision: Precision): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(join(folder, MANIFEST_FILE), 'utf8')) as BuildManifest;
    return manifest.formatVersion === FORMAT_VERSION && manifest.precision === precision;
  } catch {
    return false;
  }
}

/**
 * The golden tiny checkpoint built as `qwen-vl build` does, kept in .cache/conformance/ so
 * that later runs skip the build; a build by another format version is redone.
 */
export async function ensureGoldenModel(precision: Precision): Promise<string> {
  const cache = join(REPOSITORY_ROOT, '.cache/conformance');
  const folder = join(cache, `golden-${precision}`);
  if (!(await isCurrentBuild(folder, precision))) {
    await mkdir(cache, { recursive: true });
    await buildModelFolder(MODEL_DIR, folder, { precision, force: true });
  }
  return folder;
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
    args: [
      '--headless=new',
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
