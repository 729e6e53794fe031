import onnxProto from 'onnx-proto';

/** Test-side decoding of written models, straight through onnx-proto (not our writer's code). */
export const onnx = onnxProto.onnx;

/**
 * protobufjs' message types mark every field optional, but decoded messages carry a default
 * for each (empty arrays, 0, ""); this view lets tests read them without null checks.
 */
export type Decoded<T> = T extends Uint8Array ? T : T extends readonly (infer U)[] ? Decoded<U>[] : T extends object ? { [K in keyof T]-?: Decoded<NonNullable<T[K]>> } : T;

export function decodeModel(bytes: Uint8Array): Decoded<onnxProto.onnx.IModelProto> {
  return onnx.ModelProto.decode(bytes) as unknown as Decoded<onnxProto.onnx.IModelProto>;
}

/** protobufjs yields int64 fields as numbers or Long objects depending on the runtime. */
export function toNumber(value: number | { toString(): string } | null | undefined): number {
  return typeof value === 'number' ? value : Number(String(value));
}

export function toBigInt(value: number | { toString(): string } | null | undefined): bigint {
  return BigInt(String(value));
}

export function externalEntries(tensor: Decoded<onnxProto.onnx.ITensorProto>): Record<string, string> {
  return Object.fromEntries(tensor.externalData.map((entry) => [entry.key, entry.value]));
}
