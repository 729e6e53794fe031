import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, hostTensor } from '../src/index.js';

const cases = new URL('../../../testdata/golden/cases/', import.meta.url);

describe('npy', () => {
  it('reads NumPy-written golden files', () => {
    const ids = decodeNpy(readFileSync(new URL('one_image/input_ids.npy', cases)));
    const json = JSON.parse(readFileSync(new URL('one_image.json', cases), 'utf8'));
    expect(ids.type).toBe('int64');
    expect(ids.dims).toEqual([json.input_ids.length]);
    expect(Array.from(ids.data as BigInt64Array, Number)).toEqual(json.input_ids);
    const pixels = decodeNpy(readFileSync(new URL('one_image/pixel_values.npy', cases)));
    expect(pixels.dims).toEqual(json.pixel_values_shape);
    expect(Array.from((pixels.data as Float32Array).subarray(0, 8))).toEqual(json.pixel_values_first8);
  });

  it('writes a 64-byte aligned header that round-trips', () => {
    const tensor = hostTensor('float32', new Float32Array([1, -2.5, 3, 4, 5, 6]), [1, 2, 3]);
    const bytes = encodeNpy(tensor);
    const headerLength = bytes[8] | (bytes[9] << 8);
    expect((10 + headerLength) % 64).toBe(0);
    const text = String.fromCharCode(...bytes.subarray(10, 10 + headerLength));
    expect(text).toContain("'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }");
    const back = decodeNpy(bytes);
    expect(back.dims).toEqual([1, 2, 3]);
    expect(Array.from(back.data as Float32Array)).toEqual([1, -2.5, 3, 4, 5, 6]);
  });

  it('writes int64 and one-dimensional shapes as NumPy does', () => {
    const bytes = encodeNpy(hostTensor('int64', new BigInt64Array([3n, -1n]), [2]));
    expect(String.fromCharCode(...bytes.subarray(10, 128))).toContain("'descr': '<i8', 'fortran_order': False, 'shape': (2,), }");
    expect(Array.from(decodeNpy(bytes).data as BigInt64Array)).toEqual([3n, -1n]);
  });

  it('rejects what is not a .npy file', () => {
    expect(() => decodeNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 'x.npy')).toThrow('x.npy: not a .npy file');
  });
});
