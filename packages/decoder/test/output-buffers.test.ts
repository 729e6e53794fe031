import { describe, expect, it } from 'vitest';
import { hostTensor } from '@qwen-vl/core';
import { OutputBuffers } from '../src/runtime/output-buffers.js';

const logits = (rows: number) => ({ name: 'logits', type: 'float32' as const, dims: [rows, 1, 5] });

describe('OutputBuffers', () => {
  it('alternates two sets, so the outputs of one run are not overwritten by the next', () => {
    const buffers = new OutputBuffers();
    const first = buffers.tensorsFor([logits(2)], []).logits;
    const second = buffers.tensorsFor([logits(2)], []).logits;
    const third = buffers.tensorsFor([logits(2)], []).logits;
    expect(first.dims).toEqual([2, 1, 5]);
    expect(first.data.length).toBe(10);
    expect(second.data.buffer).not.toBe(first.data.buffer);
    expect(third.data.buffer).toBe(first.data.buffer);
  });

  it('skips the set holding a tensor still in use, and gives none when both do', () => {
    const buffers = new OutputBuffers();
    const first = buffers.tensorsFor([logits(1)], []).logits;
    const second = buffers.tensorsFor([logits(1)], [first]).logits;
    // Set 0's turn again, but its buffer is still in use (a failed run's past, say): set 1 again.
    const third = buffers.tensorsFor([logits(1)], [first]).logits;
    expect(second.data.buffer).not.toBe(first.data.buffer);
    expect(third.data.buffer).toBe(second.data.buffer);
    expect(buffers.tensorsFor([logits(1)], [first, third])).toEqual({});
  });

  it('grows a buffer at least twofold, keeps it for smaller outputs, and replaces it when the type changes', () => {
    const buffers = new OutputBuffers();
    const cache = (length: number, type: 'float32' | 'float16' = 'float32') => ({ name: 'present.0.key', type, dims: [1, 1, length, 4] });
    buffers.tensorsFor([cache(3)], []);
    buffers.tensorsFor([cache(3)], []);
    const grown = buffers.tensorsFor([cache(4)], [])['present.0.key'];
    expect(grown.data.length).toBe(16);
    expect(grown.data.buffer.byteLength).toBe(2 * 12 * 4);
    buffers.tensorsFor([cache(4)], []);
    const smaller = buffers.tensorsFor([cache(2)], [])['present.0.key'];
    expect(smaller.data.buffer).toBe(grown.data.buffer);
    const half = buffers.tensorsFor([cache(2, 'float16')], [hostTensor('float32', new Float32Array(1), [1])])['present.0.key'];
    expect(half.type).toBe('float16');
    expect(half.data).toBeInstanceOf(Uint16Array);
  });
});
