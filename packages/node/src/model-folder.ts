import { stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { QwenVLError } from '@qwen-vl/core';
import type { ModelFolder } from '@qwen-vl/core';
import { readLocalFile } from './read-file.js';

/** A Hugging Face model folder on the local file system. */
export class NodeModelFolder implements ModelFolder {
  readonly location: string;

  constructor(directory: string) {
    this.location = directory;
  }

  /** Like the constructor, but fails early with `MISSING_FILE` when `directory` is not a folder. */
  static async open(directory: string): Promise<NodeModelFolder> {
    const info = await stat(directory).catch(() => undefined);
    if (info === undefined || !info.isDirectory()) {
      throw new QwenVLError('MISSING_FILE', info === undefined ? 'model folder does not exist' : 'is not a folder', { source: directory });
    }
    return new NodeModelFolder(directory);
  }

  async exists(name: string): Promise<boolean> {
    const info = await stat(this.path(name)).catch(() => undefined);
    return info !== undefined && info.isFile();
  }

  async readBytes(name: string): Promise<Uint8Array> {
    return readLocalFile(this.path(name));
  }

  async readText(name: string): Promise<string> {
    return new TextDecoder('utf-8').decode(await this.readBytes(name));
  }

  /** The path of the folder's file `name`; a name that leads outside the folder (`../x`, `/etc/x`) is refused. */
  private path(name: string): string {
    const path = join(this.location, name);
    const inside = relative(this.location, path);
    if (inside.startsWith('..') || isAbsolute(inside) || isAbsolute(name)) {
      throw new QwenVLError('INVALID_MODEL', `names ${JSON.stringify(name)}, which is not a file inside the model folder`, { source: this.location });
    }
    return path;
  }
}
