import { describe, expect, it } from 'vitest';
import { bf16ToFloat32, float16ToFloat32, float32ToBf16, float32ToFloat16 } from '../src/half-float.js';

/** Bits of one float32, for comparing NaN payloads and signed zeros. */
function bitsOf(value: number): number {
  return new Uint32Array(new Float32Array([value]).buffer)[0];
}

function toF16(...values: number[]): number[] {
  return [...float32ToFloat16(new Float32Array(values))];
}

function toBf16(...values: number[]): number[] {
  return [...float32ToBf16(new Float32Array(values))];
}

/** IEEE binary16 value from its fields, computed in float64 arithmetic (exact for all halves). */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

const allPatterns = Uint16Array.from({ length: 65536 }, (_, i) => i);

describe('float16 → float32', () => {
  it('widens every one of the 65536 bit patterns to the exact value', () => {
    const widened = float16ToFloat32(allPatterns);
    const wrong = allPatterns.filter((h) => {
      const expected = halfValue(h);
      return Number.isNaN(expected) ? !Number.isNaN(widened[h]) : !Object.is(widened[h], expected);
    });
    expect([...wrong]).toEqual([]);
  });

  it('keeps infinities, signed zeros and subnormals', () => {
    const w = float16ToFloat32(new Uint16Array([0x7c00, 0xfc00, 0x8000, 0x0001, 0x03ff, 0x3555, 0xc000]));
    expect(w[0]).toBe(Infinity);
    expect(w[1]).toBe(-Infinity);
    expect(Object.is(w[2], -0)).toBe(true);
    expect(w[3]).toBe(2 ** -24);
    expect(w[4]).toBe(1023 * 2 ** -24);
    expect(w[5]).toBe(0.333251953125);
    expect(w[6]).toBe(-2);
  });
});

describe('float32 → float16 (round to nearest even)', () => {
  it('round-trips every non-NaN half exactly', () => {
    const back = float32ToFloat16(float16ToFloat32(allPatterns));
    const wrong = allPatterns.filter((h) => !Number.isNaN(halfValue(h)) && back[h] !== h);
    expect([...wrong]).toEqual([]);
  });

  it('rounds hand-picked ties and boundaries as IEEE does', () => {
    expect(toF16(1 + 2 ** -11)).toEqual([0x3c00]); // tie → even mantissa 0
    expect(toF16(1 + 3 * 2 ** -11)).toEqual([0x3c02]); // tie → even mantissa 2
    expect(toF16(1 + 2 ** -11 + 2 ** -20)).toEqual([0x3c01]); // above the tie
    expect(toF16(65504, 65519, 65520, 1e6)).toEqual([0x7bff, 0x7bff, 0x7c00, 0x7c00]);
    expect(toF16(-65520)).toEqual([0xfc00]);
    expect(toF16(2 ** -14, 2 ** -24, 1023 * 2 ** -24)).toEqual([0x0400, 0x0001, 0x03ff]);
    expect(toF16(2 ** -25, 2 ** -25 + 2 ** -35, 3 * 2 ** -25)).toEqual([0x0000, 0x0001, 0x0002]);
    expect(toF16(1e-10, -1e-10, 1e-40)).toEqual([0x0000, 0x8000, 0x0000]);
    expect(toF16(2 ** -14 - 2 ** -26)).toEqual([0x0400]); // rounds up from subnormal into the smallest normal
    expect(toF16(Infinity, -Infinity, -0)).toEqual([0x7c00, 0xfc00, 0x8000]);
    const [nan] = toF16(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });
});

describe('bfloat16', () => {
  it('widens by placing the bits in the top half of a float32', () => {
    const w = bf16ToFloat32(new Uint16Array([0x3f80, 0xc040, 0x7f80, 0x0001, 0x3eab]));
    expect([...w]).toEqual([1, -3, Infinity, 2 ** -133, 0.333984375]);
  });

  it('round-trips every non-NaN bfloat16 exactly', () => {
    const back = float32ToBf16(bf16ToFloat32(allPatterns));
    const isNaN = (h: number) => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
    const wrong = allPatterns.filter((h) => !isNaN(h) && back[h] !== h);
    expect([...wrong]).toEqual([]);
  });

  it('rounds to nearest even like torch', () => {
    expect(toBf16(1 + 2 ** -8)).toEqual([0x3f80]); // tie → even
    expect(toBf16(1 + 3 * 2 ** -8)).toEqual([0x3f82]); // tie → even
    expect(toBf16(1 + 2 ** -8 + 2 ** -20)).toEqual([0x3f81]);
    expect(toBf16(-(1 + 2 ** -8 + 2 ** -20))).toEqual([0xbf81]);
    expect(toBf16(3.4028234663852886e38)).toEqual([0x7f80]); // float32 max overflows to +inf
    expect(toBf16(NaN, -0)).toEqual([0x7fc0, 0x8000]);
    expect(bitsOf(bf16ToFloat32(new Uint16Array(toBf16(0.1)))[0])).toBe(0x3dcd0000); // 0.1 = 0x3dcccccd rounds up
  });
});
