import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { QwenVLError, encodeNpy } from '@qwen-vl/core';
import type { HostTensor } from '@qwen-vl/core';

/** Fails unless `out` is free for `writeNpyFolder`; lets a caller check before doing the work. */
export async function assertDumpTargetFree(out: string): Promise<void> {
  const target = resolve(out);
  if (await stat(target).catch(() => undefined)) {
    throw new QwenVLError('INVALID_ARGUMENT', 'already exists; remove it or choose another dump folder', { source: target });
  }
}

/**
 * Writes each tensor as `<name>.npy` into the new folder `out`, all or nothing: the files go
 * into a temporary folder beside `out` that is renamed to `out` at the end, so a reader never
 * sees a half-written dump and a failure leaves nothing behind. An existing `out` is never
 * overwritten (rename cannot replace a non-empty folder, and silently deleting a user's
 * folder is worse than asking them to).
 */
export async function writeNpyFolder(out: string, tensors: Readonly<Record<string, HostTensor>>): Promise<void> {
  const target = resolve(out);
  await assertDumpTargetFree(target);
  const temp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(temp);
  } catch (cause) {
    throw new QwenVLError('MISSING_FILE', `cannot create the dump folder here (${(cause as Error).message})`, { source: dirname(target), cause });
  }
  try {
    for (const [name, tensor] of Object.entries(tensors)) {
      await writeFile(join(temp, `${name}.npy`), encodeNpy(tensor));
    }
    await rename(temp, target);
  } catch (cause) {
    await rm(temp, { recursive: true, force: true });
    if (cause instanceof QwenVLError) throw cause;
    throw new QwenVLError('INVALID_ARGUMENT', `cannot write the dump (${(cause as Error).message})`, { source: target, cause });
  }
}
