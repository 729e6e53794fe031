import { QwenVLError } from '@qwen-vl/core';
import type { ModelConfigs, ModelFolder } from '@qwen-vl/core';
import type { BuiltModel, BuiltModelHost } from '../built-model.js';
import { GENAI_LAYOUT } from './genai-layout.js';
import { QWEN_VL_LAYOUT } from './qwen-vl-layout.js';
import { TRANSFORMERS_JS_LAYOUT } from './transformers-js-layout.js';

/** The model folder layouts qwen-vl opens (and `qwen-vl build --layout` writes). */
export type FolderLayoutName = 'qwen-vl' | 'genai' | 'transformers.js';

/** One layout: how to recognise a folder in it, and how to open one. */
export interface FolderLayout {
  readonly name: FolderLayoutName;
  /** What marks a folder as this layout's, for messages. */
  readonly marker: string;
  /** Whether `folder` is in this layout; must not throw. */
  holds(folder: ModelFolder): Promise<boolean>;
  /** The folder's configs as qwen-vl describes a model, without opening its models. */
  configs(folder: ModelFolder): Promise<ModelConfigs>;
  open(host: BuiltModelHost): Promise<BuiltModel>;
}

/**
 * Every layout, in the order folders are tested: the first that holds a folder opens it.
 * qwen-vl's own comes last, as it takes any other folder (and names what is missing).
 */
export const FOLDER_LAYOUTS: readonly FolderLayout[] = [GENAI_LAYOUT, TRANSFORMERS_JS_LAYOUT, QWEN_VL_LAYOUT];

export const FOLDER_LAYOUT_NAMES: readonly FolderLayoutName[] = FOLDER_LAYOUTS.map((layout) => layout.name);

/** The layout `folder` is in. */
export async function detectFolderLayout(folder: ModelFolder): Promise<FolderLayout> {
  for (const layout of FOLDER_LAYOUTS) if (await layout.holds(folder)) return layout;
  throw new QwenVLError('INVALID_MODEL', `is in none of the layouts qwen-vl opens (${FOLDER_LAYOUTS.map((l) => `${l.name}: ${l.marker}`).join('; ')})`, { source: folder.location });
}

/** The configs of `folder`, whatever its layout: for checks made before its models are opened. */
export async function loadFolderConfigs(folder: ModelFolder): Promise<ModelConfigs> {
  return (await detectFolderLayout(folder)).configs(folder);
}
