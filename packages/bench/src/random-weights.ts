import type { TensorSpec, WeightSource } from '@qwen-vl/builder';

/**
 * Random weights for benchmark models, made on demand so no multi-gigabyte checkpoint is
 * generated or held: the scales of the tiny test checkpoints (0.5/√fan_in for matrices, 0.02
 * for biases, 1 for norm scales) keep activations finite through many layers. Each tensor's
 * values depend on its name only (xorshift seeded by the name's FNV-1a hash), so every run
 * benchmarks the same model.
 */
export function randomWeight({ name, shape, kind }: TensorSpec): Float32Array {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  if (kind === 'norm') return values.fill(1);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const bound = Math.sqrt(3) * (kind === 'bias' ? 0.02 : 0.5 / Math.sqrt(fanIn)); // uniform with that std
  // xorshift never leaves the all-zero state, so the seed is made odd.
  let state = [...name].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 0x01000193), 0x811c9dc5) | 1;
  for (let i = 0; i < values.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    values[i] = (((state >>> 0) / 2 ** 32) * 2 - 1) * bound;
  }
  return values;
}

/**
 * The tensors of `layout` (the builder's `visionTensors` / `textTensors` of a config) as a
 * weight source for the exporters, each made when the writer asks for it.
 */
export function randomWeights(layout: readonly TensorSpec[]): WeightSource {
  const specs = new Map(layout.map((spec) => [spec.name, spec]));
  const spec = (name: string) => {
    const found = specs.get(name);
    if (found === undefined) throw new Error(`no tensor ${name} in the benchmark model`);
    return found;
  };
  return {
    info: (name) => spec(name),
    readFloat32: async (name) => randomWeight(spec(name)),
  };
}
