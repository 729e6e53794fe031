import { Worker } from 'node:worker_threads';

/** What `measureBandwidth` found, in GB/s. */
export interface Bandwidth {
  /** Threads that copied at once: the intra-op threads of the model it is compared with. */
  threads: number;
  /** Bytes read plus bytes written per second, all threads together. */
  copyGBs: number;
  /** Bytes summed per second by a scalar JS loop, all threads together (bounded by the loop, not only by memory). */
  readGBs: number;
}

/**
 * One thread's part of the probe: two arrays of its own, then, per `go` message, one copy and
 * one summing pass, answering their times in ms (and the sum, which proves it read the values).
 */
const PROBE_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const length = workerData / 8;
const source = new Float64Array(length).fill(1);
const target = new Float64Array(length);
parentPort.on('message', () => {
  let start = performance.now();
  target.set(source);
  const copyMs = performance.now() - start;
  start = performance.now();
  let sum = 0;
  for (let i = 0; i < length; i++) sum += target[i];
  parentPort.postMessage({ copyMs, readMs: performance.now() - start, sum });
});
parentPort.postMessage('ready');
`;

interface ThreadTimes {
  copyMs: number;
  readMs: number;
  sum: number;
}

/**
 * Memory bandwidth with `threads` threads copying (then summing) `arrayBytes` arrays of their
 * own at the same time, best of five: the bound a model running on that many threads is
 * compared with. One thread alone understates what two cores move (here 29 GB/s against 39
 * GB/s for two).
 */
export async function measureBandwidth(threads: number, arrayBytes = 512 * 2 ** 20): Promise<Bandwidth> {
  const workers = Array.from({ length: threads }, () => new Worker(PROBE_THREAD, { eval: true, workerData: arrayBytes }));
  const next = (worker: Worker) => new Promise<unknown>((resolve, reject) => worker.once('message', resolve).once('error', reject));
  try {
    await Promise.all(workers.map(next));
    let copy = Infinity;
    let read = Infinity;
    for (let run = 0; run < 5; run++) {
      const answers = workers.map(next) as Promise<ThreadTimes>[];
      for (const worker of workers) worker.postMessage('go');
      const times = await Promise.all(answers);
      if (times.some((time) => time.sum !== arrayBytes / 8)) throw new Error('bandwidth probe read wrong values');
      // The threads start together; the slowest one's time is the whole copy's.
      copy = Math.min(copy, Math.max(...times.map((time) => time.copyMs)));
      read = Math.min(read, Math.max(...times.map((time) => time.readMs)));
    }
    return { threads, copyGBs: (2 * threads * arrayBytes) / (copy * 1e6), readGBs: (threads * arrayBytes) / (read * 1e6) };
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}
