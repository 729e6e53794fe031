import type { Precision } from '@qwen-vl/vision';

/** The file `qwen-vl build` writes into every model folder it makes. */
export const MANIFEST_FILE = 'qwen-vl.json';

/** Bumped whenever a change to the exported graphs' inputs or files breaks older readers. */
export const FORMAT_VERSION = 2;

export interface ManifestPart {
  /** What the part is (`vision`, ...). */
  name: string;
  /** The .onnx file, relative to the folder. */
  model: string;
  /** Its external weights file, when it has one. */
  externalData?: string;
}

/** What a reader needs to know before opening the folder's models. */
export interface BuildManifest {
  format: 'qwen-vl';
  formatVersion: number;
  producer: string;
  precision: Precision;
  parts: ManifestPart[];
}
