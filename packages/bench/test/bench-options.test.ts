import { describe, expect, it } from 'vitest';
import { parseBenchArguments } from '../src/bench-options.js';

describe('pnpm bench arguments', () => {
  it('splits benchmark names from --device, --threads and --profile', () => {
    expect(parseBenchArguments(['vision', '--device', 'cpu', '--threads', '2', '--profile'])).toEqual({ names: ['vision'], options: { device: 'cpu', intraOpThreads: 2, profile: true } });
    expect(parseBenchArguments([])).toEqual({ names: [], options: { device: 'cpu' } });
  });

  it('refuses unknown options and bad values, naming them', () => {
    expect(() => parseBenchArguments(['--profiles'])).toThrow('unknown option --profiles; the options are --device cpu|cuda|dml|webgpu, --threads N and --profile');
    expect(() => parseBenchArguments(['--threads', '0'])).toThrow('--threads must be a whole number from 1 to 999, got "0"');
    expect(() => parseBenchArguments(['--device', 'tpu'])).toThrow('--device must be one of cpu, cuda, dml, webgpu, got "tpu"');
  });
});
