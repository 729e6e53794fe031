/**
 * A byte buffer that outlives the call that filled it and is only ever grown, so work
 * buffers (resampled rows, bands of rows) are allocated once per process rather than once
 * per image: the same memory, already in cache and already mapped, serves every call.
 */
export class ScratchBytes {
  private bytes = new Uint8ClampedArray(0);

  /**
   * At least `length` bytes. When the buffer has to grow, its first `keep` bytes are carried
   * into the new one; otherwise the contents are left as the last user left them.
   */
  take(length: number, keep = 0): Uint8ClampedArray {
    if (this.bytes.length < length) {
      const grown = new Uint8ClampedArray(length);
      grown.set(this.bytes.subarray(0, keep));
      this.bytes = grown;
    }
    return this.bytes;
  }
}
