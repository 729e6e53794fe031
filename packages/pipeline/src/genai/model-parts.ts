import { QwenVLError } from '@qwen-vl/core';
import type { Device, ModelFolder } from '@qwen-vl/core';
import type { BuiltModel } from '../built-model.js';

/** What the genai classes share of a `Model` and keep out of its public surface. */
export interface ModelParts extends BuiltModel {
  readonly folder: ModelFolder;
  readonly device: Device;
  disposed: boolean;
}

const registry = new WeakMap<object, ModelParts>();

export function registerModelParts(model: object, parts: ModelParts): void {
  registry.set(model, parts);
}

/** The parts of `model`, disposed or not; undefined for anything but a Model. */
export function lookupModelParts(model: object): ModelParts | undefined {
  return registry.get(model);
}

/** The parts of `model`; INVALID_ARGUMENT naming `source` when it is not a Model, or was disposed. */
export function modelParts(model: unknown, source: string): ModelParts {
  const parts = typeof model === 'object' && model !== null ? registry.get(model) : undefined;
  if (parts === undefined) throw new QwenVLError('INVALID_ARGUMENT', 'must be a Model (from Model.create)', { source });
  if (parts.disposed) throw new QwenVLError('INVALID_ARGUMENT', 'was disposed; create the model again', { source });
  return parts;
}
