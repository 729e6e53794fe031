import { runDecoderBench } from './decoder.bench.js';
import { runDecoder3bBench } from './decoder-3b.bench.js';
import { runPreprocessBench } from './preprocess.bench.js';
import { runServeBench } from './serve.bench.js';
import { runVisionBench } from './vision.bench.js';
import { runWeb3bBench } from './web-3b.bench.js';
import { parseBenchArguments } from './bench-options.js';
import type { BenchOptions } from './bench-options.js';

/**
 * Every benchmark of the repository, run by the root `pnpm bench`; name some to run only
 * those (`pnpm bench vision`). Not part of the package API. The ones in ON_DEMAND run only
 * when named: the whole 36-layer 3B-shaped text model writes and loads 12 GB at fp32 (`pnpm bench
 * decoder-3b`), the server load test needs the default model's checkpoint (`pnpm bench:serve`),
 * and the browser load of a 3B-shaped build takes minutes and several GB (`pnpm bench web-3b`).
 */
const BENCHES = new Map<string, (options: BenchOptions) => Promise<void>>([
  ['preprocess', runPreprocessBench],
  ['vision', runVisionBench],
  ['decoder', runDecoderBench],
  ['decoder-3b', runDecoder3bBench],
  ['serve', runServeBench],
  ['web-3b', runWeb3bBench],
]);
const ON_DEMAND: ReadonlySet<string> = new Set(['decoder-3b', 'serve', 'web-3b']);

const { names: asked, options } = parseBenchArguments(process.argv.slice(2));
const unknown = asked.filter((name) => !BENCHES.has(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s) ${unknown.join(', ')}; choose from ${[...BENCHES.keys()].join(', ')}`);
  process.exitCode = 2;
} else {
  for (const [name, run] of BENCHES) {
    if (asked.length === 0 ? !ON_DEMAND.has(name) : asked.includes(name)) await run(options);
  }
}
