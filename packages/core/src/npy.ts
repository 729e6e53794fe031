import type { HostTensor, TensorDataType } from './tensor.js';

/**
 * NumPy `.npy` format 1.0 encoding and decoding (little-endian), so that dumps can be read
 * by `numpy.load` and golden fixtures can be read back. Pure bytes in, bytes out.
 */
const DESCR: Record<TensorDataType, string> = {
  float32: '<f4',
  float16: '<f2',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  bool: '|b1',
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

export function encodeNpy(tensor: HostTensor): Uint8Array {
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${DESCR[tensor.type]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Magic (6) + version (2) + header length (2) + header + '\n' must be a multiple of 64.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const body = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  const out = new Uint8Array(10 + header.length + body.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = header.length & 0xff;
  out[9] = header.length >> 8;
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(body, 10 + header.length);
  return out;
}

export function decodeNpy(bytes: Uint8Array, source = 'npy'): HostTensor {
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw new Error(`${source}: not a .npy file`);
  }
  const major = bytes[6];
  const headerLength = major === 1 ? bytes[8] | (bytes[9] << 8) : bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (bytes[11] << 24);
  const headerStart = major === 1 ? 10 : 12;
  const header = String.fromCharCode(...bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || shapeText === undefined || /'fortran_order':\s*True/.test(header)) {
    throw new Error(`${source}: unsupported .npy header ${header.trim()}`);
  }
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const type = (Object.keys(DESCR) as TensorDataType[]).find((t) => DESCR[t] === descr);
  if (type === undefined) throw new Error(`${source}: unsupported dtype ${descr}`);
  const start = headerStart + headerLength;
  // Copy into a fresh, aligned buffer: `bytes` may be a view into a larger pool (Node's
  // Buffer), and typed views need an element-aligned offset.
  const body = new Uint8Array(bytes.byteLength - start);
  body.set(bytes.subarray(start));
  const buffer = body.buffer;
  const count = dims.reduce((a, b) => a * b, 1);
  const data = (() => {
    switch (type) {
      case 'float32':
        return new Float32Array(buffer, 0, count);
      case 'float16':
        return new Uint16Array(buffer, 0, count);
      case 'int32':
        return new Int32Array(buffer, 0, count);
      case 'int64':
        return new BigInt64Array(buffer, 0, count);
      case 'uint8':
      case 'bool':
        return new Uint8Array(buffer, 0, count);
    }
  })();
  return { type, dims, data };
}
