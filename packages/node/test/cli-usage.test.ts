import { describe, expect, it } from 'vitest';
import { MODEL_DIR } from './golden.js';
import { runCli } from './helpers/cli.js';

describe('qwen-vl', () => {
  it.each(['0'])('words the refusal of --temperature %s for the command line: it suggests --greedy', async (temperature) => {
    // The search options are checked against generation_config.json before any model is loaded.
    const result = await runCli(['run', '--model', MODEL_DIR, '--prompt', 'x', '--temperature', temperature]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`qwen-vl: --temperature: must be > 0 when sampling, got ${temperature}; use --greedy for deterministic decoding (see "qwen-vl run --help")\n`);
  });
});
