import { runPreprocessBench } from './preprocess.bench.js';

/** Every benchmark of the repository, run by the root `pnpm bench`. Not part of the package API. */
await runPreprocessBench();
