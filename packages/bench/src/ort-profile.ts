import { readFile, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The fields of an event of onnxruntime's profile (a Chrome trace) that the summary reads. */
export interface TraceEvent {
  readonly cat?: string;
  readonly name?: string;
  /** Start, microseconds. */
  readonly ts?: number;
  /** Duration, microseconds. */
  readonly dur?: number;
  readonly args?: { readonly op_name?: string };
}

export interface OperatorTime {
  readonly op: string;
  readonly seconds: number;
}

/**
 * The kernel time of each operator type in the last run of a profile (the earlier ones are
 * warm-ups), largest first: the `<node>_kernel_time` events that start within the last
 * `model_run`.
 */
export function lastRunOperatorTimes(trace: readonly TraceEvent[]): OperatorTime[] {
  const runs = trace.filter((event) => event.name === 'model_run' && event.ts !== undefined && event.dur !== undefined);
  if (runs.length === 0) throw new Error('the profile holds no model_run');
  const last = runs[runs.length - 1];
  const end = last.ts! + last.dur!;
  const microseconds = new Map<string, number>();
  for (const event of trace) {
    const op = event.args?.op_name;
    if (event.cat !== 'Node' || !event.name?.endsWith('_kernel_time') || op === undefined || event.ts! < last.ts! || event.ts! > end) continue;
    microseconds.set(op, (microseconds.get(op) ?? 0) + (event.dur ?? 0));
  }
  return [...microseconds].map(([op, time]) => ({ op, seconds: time / 1e6 })).sort((a, b) => b.seconds - a.seconds);
}

/** "Gemm 16.25 s (81%), MatMul 1.28 s (6%), …": the `count` largest, then the rest together. */
export function formatOperatorTimes(times: readonly OperatorTime[], count = 4): string {
  const total = times.reduce((sum, time) => sum + time.seconds, 0);
  const part = (label: string, seconds: number) => `${label} ${seconds.toFixed(2)} s (${((100 * seconds) / total).toFixed(0)}%)`;
  const rest = times.slice(count).reduce((sum, time) => sum + time.seconds, 0);
  return [...times.slice(0, count).map((time) => part(time.op, time.seconds)), ...(times.length > count ? [part('the rest', rest)] : [])].join(', ');
}

/**
 * Reads and removes the profile a session opened with `profileFilePrefix: prefix` wrote when
 * disposed (onnxruntime names it `<prefix>_<date>_<time>.json`).
 */
export async function takeProfile(prefix: string): Promise<TraceEvent[]> {
  const folder = dirname(prefix);
  const files = (await readdir(folder)).filter((name) => name.startsWith(`${basename(prefix)}_`) && name.endsWith('.json'));
  if (files.length !== 1) throw new Error(`expected one profile ${prefix}_*.json, found ${files.length}`);
  const path = join(folder, files[0]);
  try {
    return JSON.parse(await readFile(path, 'utf8')) as TraceEvent[];
  } finally {
    await rm(path, { force: true });
  }
}
