// Pack-and-install test: installs the packed tarballs with npm into empty folders, the way a
// user gets them from the registry, and checks what comes along and that it works.
//   a. core + preprocess + mrope alone: no protobufjs / onnx-proto / onnxruntime / sharp in
//      node_modules, and a consumer type-checks against them with skipLibCheck false, strict,
//      NodeNext, no Node or DOM types (they promise to run anywhere), then runs.
//   b. the Node set (core … builder, node): `npx qwen-vl` runs, a consumer importing every
//      package type-checks (skipLibCheck false) and runs.
//   c. the browser set (core … pipeline, web): no onnxruntime-node / sharp; a consumer
//      type-checks with the DOM library.
// Prints each package's install size and dependency count (itself plus everything it pulls
// in, as npm laid it out). Run after `pnpm build`; `pnpm test:pack` does both. The external
// dependencies come from the npm registry or npm's cache (--prefer-offline).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, formatBytes, packPackages, publishablePackages, tempDir } from './lib/packages.mjs';

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NODE_ONLY = ['onnxruntime-node', 'sharp'];
const HEAVY = ['protobufjs', 'onnx-proto', 'long', 'onnxruntime-common', 'onnxruntime-node', 'onnxruntime-web', 'sharp'];

const SETS = [
  {
    id: 'a',
    title: 'core + preprocess + mrope',
    packages: ['@qwen-vl/core', '@qwen-vl/preprocess', '@qwen-vl/mrope'],
    forbidden: HEAVY,
    compilerOptions: { lib: ['ES2023'], types: [] },
    run: true,
  },
  {
    id: 'b',
    title: 'node (with builder)',
    packages: ['@qwen-vl/core', '@qwen-vl/preprocess', '@qwen-vl/mrope', '@qwen-vl/vision', '@qwen-vl/decoder', '@qwen-vl/pipeline', '@qwen-vl/builder', '@qwen-vl/node'],
    forbidden: ['onnxruntime-web'],
    // onnxruntime-common's declarations name DOM types (ImageData, WebGLTexture) and onnx-proto's
    // the global Long of @types/long, which protobufjs brings: a Node consumer that checks
    // libraries needs "DOM" and must not narrow "types" (both third-party, not ours).
    compilerOptions: { lib: ['ES2023', 'DOM'] },
    run: true,
    cli: true,
  },
  {
    id: 'c',
    title: 'web',
    packages: ['@qwen-vl/core', '@qwen-vl/preprocess', '@qwen-vl/mrope', '@qwen-vl/vision', '@qwen-vl/decoder', '@qwen-vl/pipeline', '@qwen-vl/web'],
    forbidden: [...NODE_ONLY, 'onnx-proto'],
    compilerOptions: { lib: ['ES2023', 'DOM', 'DOM.Iterable'], types: [] },
    run: false, // a browser package: importing it in Node proves nothing
  },
];

function fail(message) {
  throw new Error(message);
}

function sh(command, args, options) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (result.status !== 0) {
    fail(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal} in ${options.cwd}\n${result.stdout}${result.stderr}`);
  }
  return result.stdout;
}

/** Bytes of the files under `dir`, not counting nested node_modules (those are packages of their own). */
function ownSize(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? ownSize(path) : lstatSync(path).size;
  }
  return total;
}

/**
 * Installed packages by location, from npm's package-lock (optional packages for other
 * platforms are in the lockfile but not on disk, and left out).
 */
function installedPackages(folder) {
  const lock = JSON.parse(readFileSync(join(folder, 'package-lock.json'), 'utf8'));
  const installed = new Map();
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (location === '' || !existsSync(join(folder, location))) continue;
    installed.set(location, entry);
  }
  return installed;
}

function packageName(location) {
  return location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

/** Node's lookup: the nearest node_modules/<name> at or above `from`. */
function resolveFrom(installed, from, name) {
  let base = from;
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (installed.has(candidate)) return candidate;
    if (base === '') return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut === -1 ? '' : base.slice(0, cut);
  }
}

/** Locations of `root` and everything it depends on, transitively (optional and peer included when installed). */
function closure(installed, root) {
  const seen = new Set([root]);
  const queue = [root];
  while (queue.length > 0) {
    const location = queue.pop();
    const entry = installed.get(location);
    const names = Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies });
    for (const name of names) {
      const target = resolveFrom(installed, location, name);
      if (target !== undefined && !seen.has(target)) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
  return seen;
}

function consumerSource(packages) {
  const names = packages.map((name, index) => ({ name, local: `p${index}` }));
  return [
    ...names.map(({ name, local }) => `import * as ${local} from '${name}';`),
    '',
    '// No Node or DOM types in set a: the one global the consumer uses.',
    'declare const console: { log(...values: unknown[]): void };',
    `const modules: Record<string, object> = { ${names.map(({ name, local }) => `'${name}': ${local}`).join(', ')} };`,
    'for (const [name, exports] of Object.entries(modules)) {',
    '  if (Object.keys(exports).length === 0) throw new Error(`${name} exports nothing`);',
    '}',
    "console.log(Object.entries(modules).map(([name, exports]) => `${name}: ${Object.keys(exports).length} exports`).join(', '));",
    '',
  ].join('\n');
}

function testSet(set, tarballs, work) {
  const folder = join(work, `set-${set.id}`);
  execFileSync('mkdir', ['-p', folder]);
  writeFileSync(join(folder, 'package.json'), `${JSON.stringify({ name: `qwen-vl-pack-test-${set.id}`, private: true, type: 'module' }, null, 2)}\n`);
  const started = Date.now();
  // onnxruntime-node's install script only downloads CUDA libraries (see pnpm-workspace.yaml,
  // which skips it the pnpm way); this is the npm way.
  sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...set.packages.map((name) => tarballs.get(name))], {
    cwd: folder,
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  const installSeconds = (Date.now() - started) / 1000;

  const installed = installedPackages(folder);
  const names = new Set([...installed.keys()].map(packageName));
  for (const name of set.packages) if (!installed.has(`node_modules/${name}`)) fail(`set ${set.id}: ${name} is not installed`);
  const found = set.forbidden.filter((name) => names.has(name) || [...names].some((n) => n.startsWith(`${name}/`)));
  if (found.length > 0) fail(`set ${set.id} (${set.title}): ${found.join(', ')} must not be installed, but is (installed: ${[...names].sort().join(', ')})`);

  writeFileSync(join(folder, 'consumer.ts'), consumerSource(set.packages));
  const compilerOptions = { strict: true, skipLibCheck: false, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', outDir: 'out', ...set.compilerOptions };
  writeFileSync(join(folder, 'tsconfig.json'), `${JSON.stringify({ compilerOptions, files: ['consumer.ts'] }, null, 2)}\n`);
  sh(process.execPath, [TSC, '-p', 'tsconfig.json', ...(set.run ? [] : ['--noEmit'])], { cwd: folder });
  const lines = [`tsc (strict, skipLibCheck false, NodeNext, lib ${compilerOptions.lib.join('+')}) ok`];
  if (set.run) lines.push(`node consumer.js: ${sh(process.execPath, ['out/consumer.js'], { cwd: folder }).trim()}`);
  if (set.cli) {
    const version = JSON.parse(readFileSync(join(folder, 'node_modules/@qwen-vl/node/package.json'), 'utf8')).version;
    const output = sh('npx', ['--no', '--', 'qwen-vl', '--version'], { cwd: folder });
    if (output.trim() !== version) fail(`npx qwen-vl --version printed ${JSON.stringify(output)}, expected ${JSON.stringify(version)}`);
    lines.push(`npx qwen-vl --version: ${output.trim()}`);
  }

  const total = [...installed.keys()].reduce((sum, location) => sum + ownSize(join(folder, location)), 0);
  const perPackage = set.packages.map((name) => {
    const locations = closure(installed, `node_modules/${name}`);
    const size = [...locations].reduce((sum, location) => sum + ownSize(join(folder, location)), 0);
    const external = [...locations].map(packageName).filter((n) => !n.startsWith('@qwen-vl/'));
    return { name, size, dependencies: locations.size - 1, external: external.length };
  });
  return { set, installSeconds, total, count: installed.size, lines, perPackage };
}

const started = Date.now();
const work = tempDir('pack-install');
try {
  const publishable = new Set(publishablePackages().map((pkg) => pkg.name));
  const wanted = [...new Set(SETS.flatMap((set) => set.packages))];
  for (const name of wanted) if (!publishable.has(name)) fail(`${name} is not a publishable workspace package`);
  const tarballs = packPackages(wanted, join(work, 'packs'));

  const sizes = new Map();
  for (const set of SETS) {
    const result = testSet(set, tarballs, work);
    console.log(`\nset ${set.id}: ${set.title}: npm install of ${set.packages.length} tarballs in ${result.installSeconds.toFixed(1)} s: ${result.count} packages, ${formatBytes(result.total)}`);
    for (const line of result.lines) console.log(`  ${line}`);
    for (const entry of result.perPackage) if (!sizes.has(entry.name)) sizes.set(entry.name, entry);
  }

  console.log('\ninstall size and dependencies of each package (itself + everything it installs, transitively; this platform)');
  console.log('| package | install size | dependencies (all) | of which external |');
  console.log('|---|---:|---:|---:|');
  for (const { name, size, dependencies, external } of sizes.values()) console.log(`| ${name} | ${formatBytes(size)} | ${dependencies} | ${external} |`);
  console.log(`\npack-install test passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  if (process.env.KEEP_PACK_TEST === undefined) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
