import type { ByteSource } from './byte-source.js';
import { HEADER_LENGTH_BYTES, parseSafetensorsHeader, readHeaderLength, weightsError } from './header.js';
import type { TensorInfo } from './header.js';
import { bf16ToFloat32, float16ToFloat32 } from '@qwen-vl/core';

/**
 * One `.safetensors` file, opened by reading its header only. Tensor bytes are fetched one
 * tensor at a time when asked for.
 */
export class SafetensorsFile {
  private constructor(
    private readonly source: ByteSource,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  static async open(source: ByteSource): Promise<SafetensorsFile> {
    const prefix = await readExactly(source, 0, Math.min(HEADER_LENGTH_BYTES, source.size));
    const headerLength = readHeaderLength(prefix, source.name, source.size);
    const headerBytes = await readExactly(source, HEADER_LENGTH_BYTES, headerLength);
    const { tensors, metadata } = parseSafetensorsHeader(headerBytes, source.name, source.size);
    return new SafetensorsFile(source, tensors, metadata);
  }

  get name(): string {
    return this.source.name;
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (info === undefined) throw weightsError(this.source.name, 'no such tensor in this file', name);
    return info;
  }

  /** The tensor's bytes as stored (little-endian elements). */
  async readRaw(name: string): Promise<Uint8Array> {
    const info = this.info(name);
    return readExactly(this.source, info.offset, info.byteLength, name);
  }

  /** The tensor widened to float32; exact for BF16, F16 and F32, the dtypes weights come in. */
  async readFloat32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    const raw = await this.readRaw(name);
    switch (info.dtype) {
      case 'F32': {
        const out = new Float32Array(raw.byteLength / 4);
        new Uint8Array(out.buffer).set(raw);
        return out;
      }
      case 'BF16':
        return bf16ToFloat32(asUint16(raw));
      case 'F16':
        return float16ToFloat32(asUint16(raw));
      default:
        throw weightsError(this.source.name, `has dtype ${info.dtype}, which cannot be read as float32 weights (expected BF16, F16 or F32)`, name);
    }
  }
}

/** Views the bytes as 16-bit words, copying only when the view would be misaligned. */
function asUint16(raw: Uint8Array): Uint16Array {
  const aligned = raw.byteOffset % 2 === 0 ? raw : raw.slice();
  return new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
}

async function readExactly(source: ByteSource, offset: number, length: number, tensor?: string): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (bytes.byteLength !== length) {
    throw weightsError(source.name, `wanted ${length} bytes at offset ${offset} but the file returned ${bytes.byteLength}: it is shorter than its header says`, tensor);
  }
  return bytes;
}
