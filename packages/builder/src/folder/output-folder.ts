import { randomBytes } from 'node:crypto';
import { lstat, mkdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { QwenVLError } from '@qwen-vl/core';

/** A sibling path of `target` that no other run picks: `<dir>/.<name>.<what>-<pid>-<random>`. */
function siblingPath(target: string, what: string): string {
  return join(dirname(target), `.${basename(target)}.${what}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/**
 * The real path of what replacing `target` would delete: its parent resolved through links,
 * its own name kept, as a link at `target` is removed itself, not what it points to.
 */
async function deletedPath(target: string): Promise<string> {
  return join(await realpath(dirname(target)), basename(target));
}

/** True when `inner` is `outer` or lies inside it (both real paths). */
function isSameOrInside(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** A path replacing the output must never delete, and how errors call it. */
export interface KeptPath {
  readonly path: string;
  readonly what: string;
}

/**
 * Fails unless `target` may be written: absent, or present and `replace` allowed. Replacing
 * it must not delete something the user did not name as output: one of `kept` (a build's
 * input) or a folder holding one, the current folder, the home folder or a parent of either,
 * or a git repository (a mistyped `--output ~ --force` or `--output src --force` is not a
 * request to delete them).
 */
export async function assertOutputWritable(target: string, replace: boolean, kept: readonly KeptPath[] = []): Promise<void> {
  if (!(await exists(target))) return;
  if (!replace) {
    throw new QwenVLError('INVALID_ARGUMENT', 'already exists; remove it, choose another output folder, or pass --force to replace it', { source: target });
  }
  const deleted = await deletedPath(target);
  const always: KeptPath[] = [
    { path: process.cwd(), what: 'the current folder' },
    { path: homedir(), what: 'your home folder' },
  ];
  for (const { path, what } of [...kept, ...always]) {
    const real = await realpath(path).catch(() => undefined);
    if (real === undefined || !isSameOrInside(real, deleted)) continue;
    const how = real === deleted ? `is ${what}` : `holds ${what} (${path})`;
    throw new QwenVLError('INVALID_ARGUMENT', `${how}; replacing it would delete it, so choose another output folder`, { source: target });
  }
  // A link named as output is replaced itself, whatever it points to.
  const isLink = (await lstat(deleted)).isSymbolicLink();
  if (!isLink && (await exists(join(deleted, '.git')))) {
    throw new QwenVLError('INVALID_ARGUMENT', 'is a git repository (it holds .git); replacing it would delete it, so choose another output folder', { source: target });
  }
}

/**
 * Fills a new folder and puts it at `target` all at once: `fill` writes into a temporary
 * folder beside `target` (same file system, so the final rename is atomic), which becomes
 * `target` only when complete. Any failure removes the temporary folder and leaves an old
 * `target` as it was. With `replace`, an existing `target` is swapped out only after the new
 * folder is complete, then deleted; `assertOutputWritable` guards `kept` and what it always
 * keeps both before the work and right before that deletion. Missing parent folders of
 * `target` are created, as `mkdir -p` would.
 */
export async function writeFolderAtomically(target: string, replace: boolean, fill: (folder: string) => Promise<void>, kept: readonly KeptPath[] = []): Promise<void> {
  await assertOutputWritable(target, replace, kept);
  const temp = siblingPath(target, 'tmp');
  try {
    await mkdir(dirname(target), { recursive: true });
    await mkdir(temp);
  } catch (cause) {
    throw new QwenVLError('MISSING_FILE', `cannot create a folder here (${(cause as Error).message})`, { source: dirname(target), cause });
  }
  let old: string | undefined;
  try {
    await fill(temp);
    if (await exists(target)) {
      await assertOutputWritable(target, replace, kept); // appeared or changed while we worked
      old = siblingPath(target, 'old');
      await rename(target, old);
    }
    await rename(temp, target);
  } catch (cause) {
    // Put a swapped-out original back if the final rename failed.
    if (old !== undefined && !(await exists(target))) await rename(old, target).catch(() => undefined);
    await rm(temp, { recursive: true, force: true });
    if (cause instanceof QwenVLError) throw cause;
    throw new QwenVLError('INVALID_ARGUMENT', `cannot write the folder (${(cause as Error).message})`, { source: target, cause });
  }
  if (old !== undefined) await rm(old, { recursive: true, force: true });
}
