import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/**
 * A fresh folder under the system's temporary folder for the tests of the calling file (or
 * describe block): made before its first test, removed with its contents after its last.
 * Call it before the hooks that use the folder: they then run after it is made, and their
 * clean-up (vitest runs after-hooks in reverse) before it is removed. Returns a getter, as
 * the folder exists only once the hook has run.
 */
export function useTempDir(prefix: string): () => string {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return () => {
    if (dir === undefined) throw new Error(`the temporary folder ${prefix}* is made in a beforeAll hook; use it from tests and later hooks`);
    return dir;
  };
}

/** Makes the new folder `name` in `parent` and returns its path; an existing one is an error, so each test starts empty. */
export async function newFolder(parent: string, name: string): Promise<string> {
  const path = join(parent, name);
  await mkdir(path);
  return path;
}
