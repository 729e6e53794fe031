import { stat } from 'node:fs/promises';
import { join } from 'node:path';
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

  readBytes(name: string): Promise<Uint8Array> {
    return readLocalFile(this.path(name));
  }

  async readText(name: string): Promise<string> {
    return new TextDecoder('utf-8').decode(await this.readBytes(name));
  }

  private path(name: string): string {
    return join(this.location, name);
  }
}
