// The workspace's packages, and `pnpm pack` of the publishable ones: shared by
// lint-packages.mjs and pack-install-test.mjs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

/** Every package under packages/, with its folder (relative to the root) and package.json. */
export function workspacePackages() {
  const packagesDir = join(ROOT, 'packages');
  return readdirSync(packagesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(packagesDir, entry.name, 'package.json')))
    .map((entry) => {
      const dir = `packages/${entry.name}`;
      const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));
      return { name: manifest.name, dir, manifest };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The packages npm would publish: all but the private ones. */
export function publishablePackages() {
  return workspacePackages().filter((pkg) => pkg.manifest.private !== true);
}

/** A fresh temporary folder. */
export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), `qwen-vl-${prefix}-`));
}

/**
 * `pnpm pack` of the given packages (as built: run the build first) into `destination`, the way
 * `pnpm publish` packs them (workspace: ranges replaced by versions). Returns name → tarball path.
 */
export function packPackages(names, destination) {
  mkdirSync(destination, { recursive: true });
  const filters = names.flatMap((name) => ['--filter', name]);
  const json = execFileSync('pnpm', [...filters, 'pack', '--pack-destination', destination, '--json'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const packed = [JSON.parse(json)].flat();
  const tarballs = new Map(packed.map((entry) => [entry.name, entry.filename]));
  for (const name of names) {
    if (!tarballs.has(name)) throw new Error(`pnpm pack made no tarball for ${name}`);
  }
  return tarballs;
}

export function formatBytes(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}
