import { describe, expect, it } from 'vitest';
import { isQwenVLError, float32ToBf16, float32ToFloat16 } from '@qwen-vl/core';
import { memoryByteSource } from '../src/safetensors/byte-source.js';
import { SafetensorsFile } from '../src/safetensors/reader.js';
import { concatBytes, encodeSafetensors } from '../src/safetensors/writer.js';

const bytesOf = (array: Float32Array | Uint16Array | BigInt64Array) => new Uint8Array(array.buffer);

// Values exactly representable in every dtype, so each round trip must be exact.
const values = new Float32Array([0, -0.5, 1.5, -2, 0.125, 3, 256, -0.0078125]);

describe('encodeSafetensors', () => {
  it('round-trips BF16, F16 and F32 tensors and metadata through the reader', async () => {
    const chunks = encodeSafetensors(
      [
        { name: 'a.f32', dtype: 'F32', shape: [2, 4], data: bytesOf(values) },
        { name: 'b.bf16', dtype: 'BF16', shape: [8], data: bytesOf(float32ToBf16(values)) },
        { name: 'c.f16', dtype: 'F16', shape: [2, 2, 2], data: bytesOf(float32ToFloat16(values)) },
        { name: 'd.i64', dtype: 'I64', shape: [2], data: bytesOf(new BigInt64Array([7n, -1n])) },
        { name: 'e.empty', dtype: 'F32', shape: [0, 3], data: new Uint8Array(0) },
      ],
      { format: 'pt', note: 'ü' },
    );
    const file = await SafetensorsFile.open(memoryByteSource('rt.safetensors', concatBytes(chunks)));
    expect(file.metadata).toEqual({ format: 'pt', note: 'ü' });
    expect([...file.tensors.keys()]).toEqual(['a.f32', 'b.bf16', 'c.f16', 'd.i64', 'e.empty']);
    expect(file.tensors.get('c.f16')?.shape).toEqual([2, 2, 2]);
    for (const name of ['a.f32', 'b.bf16', 'c.f16']) expect(await file.readFloat32(name)).toEqual(values);
    const ids = await file.readRaw('d.i64');
    expect([...new BigInt64Array(ids.slice().buffer)]).toEqual([7n, -1n]);
    expect((await file.readFloat32('e.empty')).length).toBe(0);
  });

  it('writes the layout the format specifies: u64 length, space-padded JSON, 8-byte aligned data', () => {
    const data = bytesOf(new Float32Array([1, 2, 3]));
    const [head, body] = encodeSafetensors([{ name: 'x', dtype: 'F32', shape: [3], data }]);
    expect(body).toBe(data);
    const view = new DataView(head.buffer);
    const n = view.getUint32(0, true);
    expect(view.getUint32(4, true)).toBe(0);
    expect(head.length).toBe(8 + n);
    expect(head.length % 8).toBe(0);
    const text = Buffer.from(head.subarray(8)).toString('utf8');
    expect(text).toMatch(/^\{.*\} *$/);
    expect(JSON.parse(text)).toEqual({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } });
  });

  it('rejects bad input naming the tensor', () => {
    const bad = (name: string, tensors: Parameters<typeof encodeSafetensors>[0]) => {
      try {
        encodeSafetensors(tensors);
      } catch (error) {
        expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
        return (error as Error).message;
      }
      throw new Error(`${name}: no error`);
    };
    const four = new Uint8Array(4);
    expect(bad('size', [{ name: 'w', dtype: 'F32', shape: [2], data: four }])).toBe('tensor "w": shape [2] of F32 needs 8 bytes, got 4');
    expect(
      bad('dup', [
        { name: 'w', dtype: 'F32', shape: [1], data: four },
        { name: 'w', dtype: 'F32', shape: [1], data: four },
      ]),
    ).toBe('tensor "w": is given twice');
    expect(bad('reserved', [{ name: '__metadata__', dtype: 'F32', shape: [1], data: four }])).toBe('tensor "__metadata__": is a reserved header key');
  });
});

describe('concatBytes', () => {
  it('joins chunks in order', () => {
    expect([...concatBytes([new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])])]).toEqual([1, 2, 3]);
  });
});
