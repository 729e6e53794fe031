import { benchTokenizer, runBenchModel } from './decoder.bench.js';
import { MODEL_3B } from './decoder-3b.bench.js';
import type { ChildRequest } from './decoder-3b.bench.js';

/**
 * The process `decoder-3b` forks per precision: loads the model its parent wrote, generates,
 * and sends back the row with this process's peak resident memory.
 */
const request = JSON.parse(process.argv[2]) as ChildRequest;
const row = await runBenchModel(MODEL_3B, MODEL_3B.precisions[request.precisionIndex], request.files, await benchTokenizer(), request.options);
// resourceUsage().maxRSS is in kilobytes.
process.send!({ ...row, peakRssGB: (process.resourceUsage().maxRSS * 1024) / 1e9 });
