import type { ExecutionProvider } from '@qwen-vl/pipeline';

/** What `pnpm bench [NAME ...] [--device D]` passes to every benchmark it runs. */
export interface BenchOptions {
  /** The onnxruntime-node execution provider the model benchmarks run on (default `cpu`). */
  readonly device: ExecutionProvider;
}

const NODE_DEVICES: readonly ExecutionProvider[] = ['cpu', 'cuda', 'dml', 'webgpu'];

/** Splits the command line into benchmark names and options; unknown flags and devices are errors. */
export function parseBenchArguments(argv: readonly string[]): { names: string[]; options: BenchOptions } {
  const names: string[] = [];
  let device: ExecutionProvider = 'cpu';
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i];
    if (argument === '--device') {
      const value = argv[++i];
      if (!NODE_DEVICES.includes(value as ExecutionProvider)) throw new Error(`--device must be one of ${NODE_DEVICES.join(', ')}, got ${JSON.stringify(value)}`);
      device = value as ExecutionProvider;
    } else if (argument.startsWith('--')) {
      throw new Error(`unknown option ${argument}; the only option is --device ${NODE_DEVICES.join('|')}`);
    } else {
      names.push(argument);
    }
  }
  return { names, options: { device } };
}
