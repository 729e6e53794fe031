import type { HostTensor } from './tensor.js';

/**
 * Conversions between float32 and the two 16-bit float formats: found in checkpoints, and
 * float16 also at the inputs and outputs of fp16 exports (onnx-community's `_fp16`, `_q4f16`).
 * Widening is exact for every bit pattern; narrowing rounds to nearest, ties to even, as
 * PyTorch does, so weights converted here match weights converted by `tensor.to(dtype)`.
 * Typed arrays are read in host byte order; every JS engine in use is little-endian, which
 * is also the byte order of safetensors.
 */

/** bfloat16 is the top half of a float32, so widening is a shift. */
export function bf16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return out;
}

export function float32ToBf16(values: Float32Array): Uint16Array {
  const inBits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = inBits[i];
    if ((x & 0x7fffffff) > 0x7f800000) {
      out[i] = 0x7fc0; // canonical quiet NaN, as torch emits
      continue;
    }
    // Adding 0x7fff (+1 when the kept part is odd) carries into the kept half exactly when
    // the dropped half is above the midpoint, or at it with an odd kept part.
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

function float16BitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  let mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0; // inf / NaN, payload kept
  if (exponent === 0) {
    if (mantissa === 0) return sign >>> 0;
    // Subnormal half: every one is a normal float32. Shift the leading 1 up to the implicit
    // bit position, lowering the exponent once per shift.
    let e = -14;
    while ((mantissa & 0x400) === 0) {
      mantissa <<= 1;
      e--;
    }
    return (sign | ((e + 127) << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
  }
  return (sign | ((exponent - 15 + 127) << 23) | (mantissa << 13)) >>> 0;
}

export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = float16BitsToFloat32Bits(bits[i]);
  return out;
}

/** Drops the low `shift` bits of `value`, rounding to nearest with ties to even. */
function shiftRightRoundingEven(value: number, shift: number): number {
  const kept = value >>> shift;
  const dropped = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return dropped > half || (dropped === half && (kept & 1) === 1) ? kept + 1 : kept;
}

function float32BitsToFloat16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponentField = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponentField === 0xff) return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00;
  const e = exponentField - 127;
  if (e >= -14) {
    // Normal half range (or overflow). Rounding may carry into the exponent, and a carry
    // out of exponent 30 lands exactly on the infinity pattern 0x7c00.
    if (e > 15) return sign | 0x7c00;
    return sign | shiftRightRoundingEven(((e + 15) << 23) | mantissa, 13);
  }
  // Subnormal half: count units of 2^-24. A float32 of 2^e·1.m holds (2^23 + m)·2^(e+1) units.
  const shift = -(e + 1);
  if (shift > 24) return sign; // below half of the smallest subnormal (also float32 subnormals)
  return sign | shiftRightRoundingEven(0x800000 | mantissa, shift);
}

export function float32ToFloat16(values: Float32Array): Uint16Array {
  const inBits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32BitsToFloat16Bits(inBits[i]);
  return out;
}

/**
 * A float16 host tensor widened to float32 (exactly), any other as it is: what qwen-vl's
 * host-side math takes of a graph whose outputs are float16.
 */
export function asFloat32(tensor: HostTensor): HostTensor {
  return tensor.type === 'float16' ? { type: 'float32', dims: tensor.dims, data: float16ToFloat32(tensor.data as Uint16Array) } : tensor;
}
