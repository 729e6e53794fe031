/**
 * Random access to the bytes of one file. Node implements it over a file handle, the
 * browser over fetch ranges or a Blob; readers only ever ask for the ranges they need, so a
 * multi-gigabyte checkpoint is never held in memory whole.
 */
export interface ByteSource {
  /** The file's name or path, used in error messages. */
  readonly name: string;
  readonly size: number;
  /** Resolves with the bytes in [offset, offset + length), fewer only if the file is shorter. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A source over bytes already in memory; reads are views, not copies. */
export function memoryByteSource(name: string, bytes: Uint8Array): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
  };
}
