import { performance } from 'node:perf_hooks';

export interface MeasureOptions {
  /** Untimed runs first, so JIT compilation and caches do not count. */
  warmup: number;
  runs: number;
}

export interface Timing {
  /** Median wall-clock time. */
  wallMs: number;
  /**
   * Median CPU time of the process (all threads, user + system): unlike wall time it barely
   * moves when other processes compete for the cores, so it keeps runs on a busy machine
   * comparable. Above wall time when a stage runs on several threads (sharp does).
   */
  cpuMs: number;
  /**
   * Median minor page faults of a run: first touches of memory the process had not used
   * yet (or had given back). Each costs a trip through the kernel, and far more in a VM
   * whose host reclaims freed guest memory, so a stage that allocates fresh large arrays
   * shows it here before its time does.
   */
  pageFaults: number;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Median wall and CPU time of `runs` calls of `task`, in milliseconds. */
export async function measure(task: () => unknown, { warmup, runs }: MeasureOptions): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await task();
  const wall: number[] = [];
  const cpu: number[] = [];
  const faults: number[] = [];
  for (let i = 0; i < runs; i++) {
    const faultsBefore = process.resourceUsage().minorPageFault;
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    await task();
    wall.push(performance.now() - start);
    const used = process.cpuUsage(cpuStart);
    cpu.push((used.user + used.system) / 1000);
    faults.push(process.resourceUsage().minorPageFault - faultsBefore);
  }
  return { wallMs: median(wall), cpuMs: median(cpu), pageFaults: median(faults) };
}

/** `task`'s result and wall-clock seconds, for a stage too slow to repeat (a build, a model load). */
export async function timeOnce<T>(task: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const start = performance.now();
  const result = await task();
  return { result, seconds: (performance.now() - start) / 1000 };
}
