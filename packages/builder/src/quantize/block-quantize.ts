import { QwenVLError } from '@qwen-vl/core';

/** Bits per quantized weight the builder writes: 4 (int4) or 8 (int8). */
export type QuantBits = 4 | 8;

/**
 * A `[rows, cols]` matrix quantized per row in blocks of `blockSize` consecutive columns, in
 * the byte layout of onnxruntime's `MatMulNBits` (weight `[N = rows, K = cols]`) and
 * `GatherBlockQuantized` (uint8 data, `quantize_axis` 1): the same bytes serve both.
 */
export interface BlockQuantized {
  readonly bits: QuantBits;
  readonly blockSize: number;
  readonly rows: number;
  readonly cols: number;
  /** ⌈cols / blockSize⌉: a shorter last block is its own block. */
  readonly blocksPerRow: number;
  /**
   * `[rows, blocksPerRow, blockSize · bits / 8]`: the stored values `q + 2^(bits−1)`, for 4
   * bits two per byte, the even column in the low nibble. The last block's columns past
   * `cols` hold the zero point (value 0).
   */
  readonly data: Uint8Array;
  /** `[rows, blocksPerRow]` float32. */
  readonly scales: Float32Array;
  /** `[rows, ⌈blocksPerRow · bits / 8⌉]`: every block's zero point `2^(bits−1)`, packed like `data`. */
  readonly zeroPoints: Uint8Array;
}

/**
 * The block sizes onnxruntime's MatMulNBits takes: its CPU kernel refuses any other when the
 * session is created ("Only block sizes 16, 32, 64, 128, and 256 are supported"), so a build
 * in blocks of 512 would be written whole and then fail to load.
 */
export const BLOCK_SIZES: readonly number[] = [16, 32, 64, 128, 256];

/** Fails with `INVALID_ARGUMENT` naming `source` unless `blockSize` is one of BLOCK_SIZES. */
export function checkBlockSize(blockSize: number, source: string): void {
  if (!BLOCK_SIZES.includes(blockSize)) {
    throw new QwenVLError(
      'INVALID_ARGUMENT',
      `must be ${BLOCK_SIZES.slice(0, -1).join(', ')} or ${BLOCK_SIZES[BLOCK_SIZES.length - 1]} (the block sizes onnxruntime's MatMulNBits takes), got ${blockSize}`,
      { source },
    );
  }
}

/** One row's zero points: `blocks` times 2^(bits−1), packed like the data (4 bits: the even block in the low nibble). */
export function zeroPointRow(blocks: number, bits: QuantBits): Uint8Array {
  const row = new Uint8Array(Math.ceil((blocks * bits) / 8));
  const zeroPoint = 1 << (bits - 1);
  for (let block = 0; block < blocks; block++) row[Math.floor((block * bits) / 8)] |= bits === 8 ? zeroPoint : zeroPoint << (4 * (block % 2));
  return row;
}

/** Round half to even, as numpy and torch round: the rule others reproduce the quantization with. */
function roundHalfToEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Symmetric block quantization, exactly: per row and per block of `blockSize` consecutive
 * columns, m = the block's element of largest magnitude with its sign, scale = m / −2^(bits−1)
 * (as float32), q = clamp(round(w / scale), −2^(bits−1), 2^(bits−1) − 1) with round half to
 * even, stored as q + 2^(bits−1); the value is q · scale. An all-zero block has scale 0 and
 * stays zero. `values` is row-major `[rows, cols]`.
 */
export function quantizeBlockwise(values: Float32Array, rows: number, cols: number, bits: QuantBits, blockSize: number): BlockQuantized {
  checkBlockSize(blockSize, 'block size');
  if (values.length !== rows * cols) throw new QwenVLError('INVALID_ARGUMENT', `has ${values.length} values, expected ${rows} × ${cols}`, { source: 'quantized matrix' });
  const blocksPerRow = Math.ceil(cols / blockSize);
  const blockBytes = (blockSize * bits) / 8;
  const zeroPoint = 1 << (bits - 1);
  const data = new Uint8Array(rows * blocksPerRow * blockBytes);
  const scales = new Float32Array(rows * blocksPerRow);
  const zeroPointsOfRow = zeroPointRow(blocksPerRow, bits);
  const zeroPoints = new Uint8Array(rows * zeroPointsOfRow.length);
  const packed = new Uint8Array(blockSize);
  for (let row = 0; row < rows; row++) {
    for (let block = 0; block < blocksPerRow; block++) {
      const start = row * cols + block * blockSize;
      const length = Math.min(blockSize, cols - block * blockSize);
      let extreme = 0;
      for (let i = 0; i < length; i++) if (Math.abs(values[start + i]) > Math.abs(extreme)) extreme = values[start + i];
      const scale = extreme === 0 ? 0 : Math.fround(extreme / -zeroPoint);
      scales[row * blocksPerRow + block] = scale;
      packed.fill(zeroPoint);
      if (scale !== 0) {
        for (let i = 0; i < length; i++) packed[i] = zeroPoint + Math.min(zeroPoint - 1, Math.max(-zeroPoint, roundHalfToEven(values[start + i] / scale)));
      }
      const offset = (row * blocksPerRow + block) * blockBytes;
      if (bits === 8) data.set(packed, offset);
      else for (let j = 0; j < blockBytes; j++) data[offset + j] = packed[2 * j] | (packed[2 * j + 1] << 4);
    }
    zeroPoints.set(zeroPointsOfRow, row * zeroPointsOfRow.length);
  }
  return { bits, blockSize, rows, cols, blocksPerRow, data, scales, zeroPoints };
}

/** The matrix a `BlockQuantized` stands for, `[rows, cols]` row-major: q · scale, as float64 arithmetic rounded once. */
export function dequantizeBlockwise(quantized: BlockQuantized): Float32Array {
  const { bits, blockSize, rows, cols, blocksPerRow, data, scales } = quantized;
  const blockBytes = (blockSize * bits) / 8;
  const zeroPoint = 1 << (bits - 1);
  const out = new Float32Array(rows * cols);
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const block = Math.floor(col / blockSize);
      const within = col % blockSize;
      const offset = (row * blocksPerRow + block) * blockBytes;
      const stored = bits === 8 ? data[offset + within] : (data[offset + (within >> 1)] >> (4 * (within & 1))) & 0xf;
      out[row * cols + col] = (stored - zeroPoint) * scales[row * blocksPerRow + block];
    }
  }
  return out;
}
