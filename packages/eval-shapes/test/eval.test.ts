import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { evaluateFolder, formatTable, score } from '../src/eval.js';
import { KINDS, questionSet } from '../src/task.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const model = resolve(root, 'models/tiny-shapes');
const MIN_ACCURACY = 0.85;

describe('models/tiny-shapes answers the shapes task', () => {
  it('draws every kind, with answers of the stated form', () => {
    const set = questionSet(1, 20);
    expect(new Set(set.map((q) => q.kind))).toEqual(new Set(KINDS));
    for (const q of set) {
      if (q.kind === 'compare') expect(q.images).toHaveLength(2);
      if (q.kind === 'motion') expect(q.video).toHaveLength(4);
      if (q.kind === 'sum') expect(q.images).toHaveLength(0);
      expect(q.answer).toMatch(/^(circle|square|triangle|red|green|blue|yellow|purple|black|left|right|first|second|\d{1,2})$/);
    }
  });

  /**
   * The shipped model answers 98.3% of the 350-question held-out set of `pnpm eval`
   * (tools/train-shapes/README.md; counts 94%) and 28 of these 28; chance is about a
   * third. A pipeline fault (wrong pixels, positions or cache) drops far below the floor.
   */
  it(`gets at least ${100 * MIN_ACCURACY}% of a fixed sample of 28 questions right on node CPU fp32`, async () => {
    const answers = await evaluateFolder(model, questionSet(42, 4), { precision: 'fp32', device: 'cpu' });
    const rows = score(answers);
    console.log(formatTable(rows, 'node cpu fp32, fixed sample'));
    const overall = rows.find((r) => r.kind === 'overall')!;
    expect(overall.accuracy).toBeGreaterThanOrEqual(MIN_ACCURACY);
  });
});
