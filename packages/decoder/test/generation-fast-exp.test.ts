import { describe, expect, it } from 'vitest';
import { expNonPositive } from '../src/generation/fast-exp.js';

describe('expNonPositive', () => {
  it('is within 2.6e-9 of Math.exp relative, across 0 … -40 and around every power of two', () => {
    let worst = 0;
    const check = (x: number) => (worst = Math.max(worst, Math.abs(expNonPositive(x) / Math.exp(x) - 1)));
    for (let x = 0; x >= -40; x -= 0.0000731) check(x);
    // d = x·log2(e) at and next to k + 1/2, where the table entry changes.
    for (let k = 0; k < 57; k++) for (const offset of [-1e-12, 0, 1e-12]) check(-(k + 0.5 + offset) / Math.LOG2E);
    check(-40);
    expect(worst).toBeLessThan(2.6e-9);
    expect(worst).toBeGreaterThan(0);
  });

  it('gives exactly 1 at 0, 0 below -40 (under 4.3e-18) and for -Infinity, and NaN for NaN', () => {
    expect(expNonPositive(0)).toBe(1);
    expect(expNonPositive(-0)).toBe(1);
    expect(expNonPositive(-40)).toBeGreaterThan(4e-18);
    expect(expNonPositive(-40.000001)).toBe(0);
    expect(expNonPositive(-Infinity)).toBe(0);
    expect(expNonPositive(NaN)).toBeNaN();
  });
});
