// Lints what npm would publish: `pnpm pack` of every publishable package, then on each tarball
// publint (--strict), Are the Types Wrong (esm-only profile: the packages are ESM only, so the
// node10 and CommonJS-require resolutions do not apply; every ESM resolution must be right) and
// this repository's own rules (LICENSE, metadata, no stale build outputs, resolvable maps).
// Run after `pnpm build`; `pnpm lint:packages` does both. Names given as arguments limit it to those.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, packPackages, publishablePackages, tempDir } from './lib/packages.mjs';

const run = promisify(execFile);
const BIN = join(ROOT, 'node_modules', '.bin');
const REPOSITORY_URL = 'git+https://github.com/qwen-vl/qwen-vl.git';
const ROOT_LICENSE = readFileSync(join(ROOT, 'LICENSE'), 'utf8');

function listFiles(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? listFiles(path, base) : [relative(base, path).split('\\').join('/')];
  });
}

/** This repository's rules for a packed package, unpacked in `dir`; returns the problems found. */
function repositoryRules(pkg, dir) {
  const problems = [];
  const files = listFiles(dir);
  const has = new Set(files);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

  if (!has.has('LICENSE')) problems.push('no LICENSE');
  else if (readFileSync(join(dir, 'LICENSE'), 'utf8') !== ROOT_LICENSE) problems.push('LICENSE differs from the root LICENSE');
  if (!has.has('README.md')) problems.push('no README.md');
  if (manifest.license !== 'Apache-2.0') problems.push(`license is ${JSON.stringify(manifest.license)}, not "Apache-2.0"`);
  if (!manifest.files?.includes('LICENSE')) problems.push('"files" does not list LICENSE');
  if (manifest.engines?.node !== '>=20') problems.push(`engines.node is ${JSON.stringify(manifest.engines?.node)}, not ">=20"`);
  const repository = manifest.repository ?? {};
  if (repository.type !== 'git' || repository.url !== REPOSITORY_URL || repository.directory !== pkg.dir) {
    problems.push(`repository is ${JSON.stringify(repository)}, not { type: "git", url: "${REPOSITORY_URL}", directory: "${pkg.dir}" }`);
  }
  if (manifest.name.startsWith('@') && manifest.publishConfig?.access !== 'public') problems.push('scoped, but publishConfig.access is not "public"');
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      if (String(range).startsWith('workspace:')) problems.push(`${field}.${name} is still ${range}`);
    }
  }

  for (const file of files) {
    if (/(^|\/)(test|tests|__tests__|bench|benches|testdata)\//.test(file) || /\.(test|spec|bench)\.[cm]?[jt]s$/.test(file)) problems.push(`ships a test or bench file: ${file}`);
    if (file.endsWith('.tsbuildinfo')) problems.push(`ships ${file}`);
  }
  // A dist file without its source is a stale output of a deleted or moved source file.
  for (const file of files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'))) {
    const source = `src/${file.slice('dist/'.length, -'.js'.length)}.ts`;
    if (!has.has(source)) problems.push(`${file} has no source (${source}): a stale build output? Rebuild from an empty dist`);
  }
  // Source and declaration maps must point at files the package ships.
  for (const map of files.filter((f) => f.endsWith('.map'))) {
    const { sources = [] } = JSON.parse(readFileSync(join(dir, map), 'utf8'));
    for (const source of sources) {
      const target = posix.normalize(posix.join(posix.dirname(map), source));
      if (!has.has(target)) problems.push(`${map} points at ${source}, which is not in the package`);
    }
  }
  return problems;
}

/** Runs `tasks` (functions returning promises) `limit` at a time; resolves to their results in order. */
async function pool(tasks, limit) {
  const results = new Array(tasks.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  });
  await Promise.all(workers);
  return results;
}

async function tool(command, args) {
  try {
    await run(join(BIN, command), args, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, maxBuffer: 16 << 20 });
    return undefined;
  } catch (error) {
    return `${command} ${args.join(' ')} failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`;
  }
}

const started = Date.now();
const only = process.argv.slice(2);
const packages = publishablePackages().filter((pkg) => only.length === 0 || only.includes(pkg.name));
const work = tempDir('lint-packages');
try {
  const tarballs = packPackages(
    packages.map((pkg) => pkg.name),
    join(work, 'packs'),
  );
  const reports = await pool(
    packages.map((pkg) => async () => {
      const tarball = tarballs.get(pkg.name);
      const unpacked = join(work, 'unpacked', pkg.dir);
      execFileSync('mkdir', ['-p', unpacked]);
      execFileSync('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1']);
      const problems = repositoryRules(pkg, unpacked);
      for (const failure of [await tool('publint', ['run', tarball, '--strict']), await tool('attw', [tarball, '--profile', 'esm-only', '--format', 'ascii', '--no-emoji'])]) {
        if (failure !== undefined) problems.push(failure);
      }
      return { pkg, problems, size: statSync(tarball).size };
    }),
    2,
  );
  let failed = 0;
  for (const { pkg, problems, size } of reports) {
    if (problems.length === 0) {
      console.log(`ok   ${pkg.name} (${(size / 1e3).toFixed(1)} kB packed)`);
    } else {
      failed++;
      console.log(`FAIL ${pkg.name}\n${problems.map((problem) => `  - ${problem.replace(/\n/g, '\n    ')}`).join('\n')}`);
    }
  }
  console.log(`publint, attw (esm-only) and repository rules on ${reports.length} packages: ${failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  if (failed > 0) process.exitCode = 1;
} finally {
  if (existsSync(work)) rmSync(work, { recursive: true, force: true });
}
