import { EXECUTION_PROVIDERS } from '@qwen-vl/pipeline';
import type { ExecutionProvider } from '@qwen-vl/pipeline';

/** What `pnpm bench [NAME ...] [--device D]` passes to every benchmark it runs. */
export interface BenchOptions {
  /** The onnxruntime-node execution provider the model benchmarks run on (default `cpu`). */
  readonly device: ExecutionProvider;
  /** Intra-op threads of every session (`--threads N`); onnxruntime's own choice when absent. */
  readonly intraOpThreads?: number;
  /** Profile the measured runs with onnxruntime and print each operator type's time (`--profile`; `vision` only). */
  readonly profile?: boolean;
}

/** Splits the command line into benchmark names and options; unknown flags and devices are errors. */
export function parseBenchArguments(argv: readonly string[]): { names: string[]; options: BenchOptions } {
  const names: string[] = [];
  let device: ExecutionProvider = 'cpu';
  let intraOpThreads: number | undefined;
  let profile = false;
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    if (argument === '--device') {
      const value = argv[++i];
      if (!EXECUTION_PROVIDERS.includes(value as ExecutionProvider)) throw new Error(`--device must be one of ${EXECUTION_PROVIDERS.join(', ')}, got ${JSON.stringify(value)}`);
      device = value as ExecutionProvider;
    } else if (argument === '--threads') {
      const value = argv[++i];
      if (!/^[1-9]\d{0,2}$/.test(value ?? '')) throw new Error(`--threads must be a whole number from 1 to 999, got ${JSON.stringify(value)}`);
      intraOpThreads = Number(value);
    } else if (argument === '--profile') {
      profile = true;
    } else if (argument.startsWith('--')) {
      throw new Error(`unknown option ${argument}; the options are --device ${EXECUTION_PROVIDERS.join('|')}, --threads N and --profile`);
    } else {
      names.push(argument);
    }
  }
  return { names, options: { device, ...(intraOpThreads !== undefined && { intraOpThreads }), ...(profile && { profile }) } };
}

/** How many intra-op threads the sessions were given, for table titles. */
export function threadsLabel({ intraOpThreads }: BenchOptions): string {
  return intraOpThreads === undefined ? "onnxruntime's default threads" : `${intraOpThreads} intra-op thread${intraOpThreads === 1 ? '' : 's'}`;
}

/**
 * The threads a benchmark's model computes with, for comparing it with memory bandwidth:
 * `--threads`, else 1, which is what onnxruntime-node's default came to on the 2-core VMs
 * measured (it cannot be read back; pass `--threads` where the default differs).
 */
export function modelThreads({ intraOpThreads }: BenchOptions): number {
  return intraOpThreads ?? 1;
}
