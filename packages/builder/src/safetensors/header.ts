import { QwenVLError } from '@qwen-vl/core';
import { decodeUtf8Strict } from './utf8.js';

/**
 * The safetensors container: an 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, then
 * the data section that the offsets index. This module checks a header completely before any
 * tensor byte is read, so a damaged file fails with a message naming the file and tensor.
 */

/** Bytes per element of every byte-aligned dtype the format defines. */
export const SAFETENSORS_DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_BYTES;

export interface TensorInfo {
  /** The key as stored in the file. */
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute position of the tensor's first byte in the file. */
  offset: number;
  byteLength: number;
  /** Name of the file holding the tensor (its `ByteSource.name`). */
  file: string;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

/** Same limit as the reference implementation: anything larger is not a real header. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Size of the length prefix that precedes the JSON header. */
export const HEADER_LENGTH_BYTES = 8;

export function weightsError(file: string, message: string, tensor?: string): QwenVLError {
  return new QwenVLError('INVALID_WEIGHTS', message, { source: tensor === undefined ? file : `${file} tensor "${tensor}"` });
}

/** Reads N from the first 8 bytes and checks that N bytes of header fit in the file. */
export function readHeaderLength(prefix: Uint8Array, file: string, fileSize: number): number {
  if (fileSize < HEADER_LENGTH_BYTES || prefix.length < HEADER_LENGTH_BYTES) {
    throw weightsError(file, `is ${fileSize} bytes, too short for a safetensors file (which starts with an 8-byte header length)`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, HEADER_LENGTH_BYTES);
  const length = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
  if (length > MAX_HEADER_BYTES) {
    throw weightsError(file, `declares a ${length}-byte header, over the ${MAX_HEADER_BYTES}-byte limit: not a safetensors file`);
  }
  if (HEADER_LENGTH_BYTES + length > fileSize) {
    throw weightsError(file, `declares a ${length}-byte header but the file is only ${fileSize} bytes: truncated or not a safetensors file`);
  }
  return length;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeIntegerList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => Number.isSafeInteger(v) && v >= 0);
}

function parseJsonHeader(headerBytes: Uint8Array, file: string): Json {
  let text: string;
  try {
    text = decodeUtf8Strict(headerBytes);
  } catch (cause) {
    throw new QwenVLError('INVALID_WEIGHTS', 'header is not UTF-8 text', { source: file, cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new QwenVLError('INVALID_WEIGHTS', `header is not valid JSON (${(cause as Error).message})`, { source: file, cause });
  }
  if (!isObject(json)) throw weightsError(file, 'header must be a JSON object');
  return json;
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw weightsError(file, '__metadata__ must map strings to strings');
  }
  return value as Record<string, string>;
}

function parseTensorEntry(name: string, entry: unknown, file: string, dataStart: number): TensorInfo {
  const fail = (message: string) => weightsError(file, message, name);
  if (!isObject(entry)) throw fail('header entry must be an object with dtype, shape and data_offsets');
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPE_BYTES, dtype)) {
    throw fail(`unknown dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')})`);
  }
  if (!isNonNegativeIntegerList(shape)) throw fail(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!isNonNegativeIntegerList(offsets) || offsets.length !== 2) {
    throw fail(`data_offsets must be two non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets;
  if (begin > end) throw fail(`data_offsets [${begin}, ${end}] are out of order`);
  const byteLength = end - begin;
  const expected = shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDtype];
  if (expected !== byteLength) {
    throw fail(`shape [${shape.join(', ')}] of ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${byteLength}`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape, offset: dataStart + begin, byteLength, file };
}

/** Tensors may be stored in any order, but their byte ranges must be disjoint and inside the file. */
function checkLayout(tensors: Iterable<TensorInfo>, file: string, fileSize: number, dataStart: number): void {
  const byStart = [...tensors].sort((a, b) => a.offset - b.offset);
  let previous: TensorInfo | undefined;
  for (const tensor of byStart) {
    const end = tensor.offset + tensor.byteLength;
    if (end > fileSize) {
      throw weightsError(
        file,
        `data ends at byte ${end - dataStart} of the data section, past the end of the file (the data section holds ${fileSize - dataStart} bytes): truncated file or bad data_offsets`,
        tensor.name,
      );
    }
    if (previous !== undefined && tensor.offset < previous.offset + previous.byteLength) {
      throw weightsError(file, `data overlaps tensor "${previous.name}"`, tensor.name);
    }
    previous = tensor;
  }
}

/** Parses and validates the JSON header; `fileSize` bounds the data offsets. */
export function parseSafetensorsHeader(headerBytes: Uint8Array, file: string, fileSize: number): SafetensorsHeader {
  const json = parseJsonHeader(headerBytes, file);
  const dataStart = HEADER_LENGTH_BYTES + headerBytes.length;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') metadata = parseMetadata(entry, file);
    else tensors.set(name, parseTensorEntry(name, entry, file, dataStart));
  }
  checkLayout(tensors.values(), file, fileSize, dataStart);
  return { tensors, metadata };
}
