import { QwenVLError } from '@qwen-vl/core';
import { HEADER_LENGTH_BYTES, SAFETENSORS_DTYPE_BYTES } from './header.js';
import type { SafetensorsDtype } from './header.js';
import { encodeUtf8 } from './utf8.js';

export interface SafetensorsTensorInput {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** Little-endian element bytes, exactly shape × dtype size of them. */
  data: Uint8Array;
}

/** The format aligns the data section to 8 bytes by padding the JSON header with spaces. */
const DATA_ALIGNMENT = 8;

function checkTensor(tensor: SafetensorsTensorInput, seen: Set<string>): void {
  const fail = (message: string) => new QwenVLError('INVALID_ARGUMENT', message, { source: `tensor "${tensor.name}"` });
  if (tensor.name === '__metadata__') throw fail('is a reserved header key');
  if (seen.has(tensor.name)) throw fail('is given twice');
  if (!Object.hasOwn(SAFETENSORS_DTYPE_BYTES, tensor.dtype)) throw fail(`has unknown dtype ${JSON.stringify(tensor.dtype)}`);
  if (!tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw fail(`has invalid shape [${tensor.shape.join(', ')}]`);
  const expected = tensor.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[tensor.dtype];
  if (tensor.data.byteLength !== expected) {
    throw fail(`shape [${tensor.shape.join(', ')}] of ${tensor.dtype} needs ${expected} bytes, got ${tensor.data.byteLength}`);
  }
  seen.add(tensor.name);
}

/**
 * Encodes tensors as a safetensors file, stored in the order given. Returns the header chunk
 * followed by the tensors' own byte arrays (not copied), for streaming to a file or `Blob`;
 * `concatBytes` joins them when one buffer is wanted.
 */
export function encodeSafetensors(tensors: readonly SafetensorsTensorInput[], metadata?: Readonly<Record<string, string>>): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  const seen = new Set<string>();
  let offset = 0;
  for (const tensor of tensors) {
    checkTensor(tensor, seen);
    header[tensor.name] = { dtype: tensor.dtype, shape: [...tensor.shape], data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  const json = encodeUtf8(JSON.stringify(header));
  const padding = (DATA_ALIGNMENT - ((HEADER_LENGTH_BYTES + json.byteLength) % DATA_ALIGNMENT)) % DATA_ALIGNMENT;
  const headerLength = json.byteLength + padding;
  const head = new Uint8Array(HEADER_LENGTH_BYTES + headerLength).fill(0x20, HEADER_LENGTH_BYTES + json.byteLength);
  const view = new DataView(head.buffer);
  view.setUint32(0, headerLength % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  head.set(json, HEADER_LENGTH_BYTES);
  return [head, ...tensors.map((t) => t.data)];
}

export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
