import { describe, expect, it } from 'vitest';
import { measureBandwidth } from '../src/memory-bandwidth.js';

describe('measureBandwidth', () => {
  it('copies and sums on as many threads as asked, each checking what it read, and reports them', async () => {
    for (const threads of [1, 2]) {
      const bandwidth = await measureBandwidth(threads, 2 ** 20);
      expect(bandwidth.threads).toBe(threads);
      expect(bandwidth.copyGBs).toBeGreaterThan(0);
      expect(bandwidth.readGBs).toBeGreaterThan(0);
      expect(Number.isFinite(bandwidth.copyGBs) && Number.isFinite(bandwidth.readGBs)).toBe(true);
    }
  });
});
