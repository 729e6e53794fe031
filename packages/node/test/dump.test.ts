import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy, hostTensor, isQwenVLError } from '@qwen-vl/core';
import { writeNpyFolder } from '../src/dump.js';
import { useTempDir } from './helpers/temp-dir.js';

const dir = useTempDir('qwen-vl-dump-');

describe('writeNpyFolder', () => {
  it('writes one .npy per tensor into the new folder', async () => {
    const out = join(dir(), 'ok');
    await writeNpyFolder(out, {
      a: hostTensor('int64', new BigInt64Array([1n, -2n]), [1, 2]),
      b: hostTensor('float32', new Float32Array([0.5]), [1]),
    });
    expect((await readdir(out)).sort()).toEqual(['a.npy', 'b.npy']);
    const a = decodeNpy(await readFile(join(out, 'a.npy')));
    expect([a.type, a.dims, Array.from(a.data as BigInt64Array)]).toEqual(['int64', [1, 2], [1n, -2n]]);
    expect(await readdir(dir())).toEqual(['ok']);
  });

  it('removes its temporary folder and creates nothing when a write fails midway', async () => {
    const parent = await mkdtemp(join(dir(), 'fail-'));
    const out = join(parent, 'out');
    const tensor = hostTensor('float32', new Float32Array([1]), [1]);
    // The first file is written, the second cannot be (its subfolder does not exist).
    const error = await writeNpyFolder(out, { first: tensor, 'no/such/folder': tensor }).catch((e: unknown) => e);
    expect(isQwenVLError(error)).toBe(true);
    expect((error as Error).message).toContain(out);
    expect(await readdir(parent)).toEqual([]);
  });

  it('refuses a folder that already exists', async () => {
    const error = await writeNpyFolder(dir(), {}).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect((error as Error).message).toContain(dir());
  });

  it('creates parent folders that do not exist yet, as mkdir -p does', async () => {
    const out = join(dir(), 'missing-parent', 'out');
    await writeNpyFolder(out, {});
    expect(existsSync(out)).toBe(true);
  });

  it('reports a parent that cannot be a folder (a file), naming it', async () => {
    await writeFile(join(dir(), 'a-file'), '');
    const error = await writeNpyFolder(join(dir(), 'a-file', 'out'), {}).catch((e: unknown) => e);
    expect(isQwenVLError(error, 'MISSING_FILE')).toBe(true);
    expect((error as Error).message).toContain(join(dir(), 'a-file'));
  });
});
