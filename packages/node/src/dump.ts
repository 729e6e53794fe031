import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { QwenVLError, encodeNpy } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';
import { assertOutputWritable, writeFolderAtomically } from '@qwen-vl/builder';

/** Fails unless `out` is free for `writeNpyFolder`; lets a caller check before doing the work. */
export function assertDumpTargetFree(out: string): Promise<void> {
  return assertOutputWritable(resolve(out), false);
}

/**
 * Writes each tensor as `<name>.npy` into the new folder `out`, all or nothing (see
 * `writeFolderAtomically`): a reader never sees a half-written dump and a failure leaves
 * nothing behind. An existing `out` is never overwritten: silently deleting a user's folder
 * is worse than asking them to choose another. An aborted `signal` stops it between files,
 * leaving nothing.
 */
export function writeNpyFolder(out: string, tensors: Readonly<Record<string, HostTensor>>, signal?: AbortSignal): Promise<void> {
  return writeFolderAtomically(resolve(out), false, async (folder) => {
    for (const [name, tensor] of Object.entries(tensors)) {
      if (signal?.aborted === true) throw new QwenVLError('ABORTED', 'stopped before the dump was complete; nothing was written', { source: out });
      await writeFile(join(folder, `${name}.npy`), encodeNpy(tensor));
    }
  });
}
