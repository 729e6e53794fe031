import { QwenVLError } from '@qwen-vl/core';
import { DEFAULT_EXTERNAL_ALIGNMENT, DEFAULT_EXTERNAL_THRESHOLD, checkExternalLocation, planExternalLayout } from './external-data.js';
import type { ExternalDataOptions, ExternalLayout } from './external-data.js';
import { isStoredTensor } from './graph-builder.js';
import type { InitializerData, OnnxInitializer, OnnxModel, StoredTensor, TensorBytesSource } from './graph-builder.js';
import type { TensorDataType } from '@qwen-vl/core';
import { ELEMENT_TYPES, bytesOf, onnx } from './proto.js';
import type { OnnxProto } from './proto.js';

export interface SerializeOptions {
  /** Move large initializers to a separate file; without it every initializer is inline. */
  readonly externalData?: ExternalDataOptions;
}

export interface SerializedModel {
  /** The .onnx file. */
  readonly model: Uint8Array;
  /**
   * The external data file as consecutive chunks: views of the initializers' own buffers
   * and zero padding, never one concatenated copy. Empty without `externalData`.
   */
  readonly externalData: readonly Uint8Array[];
  readonly externalDataByteLength: number;
}

export interface StreamedModel {
  /** The .onnx file, complete before any external weight is read. */
  readonly model: Uint8Array;
  readonly externalDataByteLength: number;
  /**
   * The external data file chunk by chunk; each lazy initializer is read only when its turn
   * comes, so at most one source chunk is held at a time. Each iteration starts over.
   */
  readonly externalData: AsyncIterable<Uint8Array>;
}

/** A protobuf message may not reach 2 GiB; larger weights must go to external data. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

/** An initializer whose bytes this model writes (not a `StoredTensor`). */
type OwnInitializer = OnnxInitializer & { readonly data: InitializerData<TensorDataType> };

interface InitializerPlan {
  readonly inline: readonly OwnInitializer[];
  readonly external: readonly OwnInitializer[];
  /** Initializers whose bytes another model already wrote (`StoredTensor`): referenced, never written. */
  readonly stored: ReadonlyMap<string, StoredTensor>;
  readonly layout: ExternalLayout;
  readonly location: string;
}

/** Serializes a model whose initializers are all in memory (typed arrays). */
export function serializeModel(model: OnnxModel, options: SerializeOptions = {}): SerializedModel {
  const plan = planInitializers(model, options);
  const lazy = [...plan.inline, ...plan.external].find((init) => isSource(init.data));
  if (lazy !== undefined) {
    throw new QwenVLError('INVALID_ARGUMENT', 'is read on demand (TensorBytesSource); write the model with streamModel', { source: `initializer "${lazy.name}"` });
  }
  const bytes = new Map(plan.inline.map((init) => [init.name, bytesOf(init.data as ArrayBufferView)]));
  const zeros = new Uint8Array(maxPadding(plan.layout));
  const externalData = plan.external.flatMap((init, i) => {
    const padding = plan.layout.placements[i].padding;
    const data = bytesOf(init.data as ArrayBufferView);
    return padding > 0 ? [zeros.subarray(0, padding), data] : [data];
  });
  return { model: encodeModel(model, plan, bytes), externalData, externalDataByteLength: plan.layout.byteLength };
}

/**
 * Serializes a model whose initializers may be read on demand. Only the small inline ones
 * are read now; external ones are read while `externalData` is iterated.
 */
export async function streamModel(model: OnnxModel, options: SerializeOptions = {}): Promise<StreamedModel> {
  const plan = planInitializers(model, options);
  const bytes = new Map<string, Uint8Array>();
  for (const init of plan.inline) bytes.set(init.name, isSource(init.data) ? await readAll(init.name, init.data) : bytesOf(init.data));
  return {
    model: encodeModel(model, plan, bytes),
    externalDataByteLength: plan.layout.byteLength,
    externalData: { [Symbol.asyncIterator]: () => externalChunks(plan) },
  };
}

/** Decides inline vs external for each initializer, before any lazy one is read. */
function planInitializers(model: OnnxModel, options: SerializeOptions): InitializerPlan {
  const external = options.externalData;
  if (external !== undefined) checkExternalLocation(external.location);
  const threshold = external?.threshold ?? DEFAULT_EXTERNAL_THRESHOLD;
  const stored = new Map<string, StoredTensor>();
  for (const init of model.initializers) {
    if (!isStoredTensor(init.data)) continue;
    checkExternalLocation(init.data.location);
    stored.set(init.name, init.data);
  }
  const isExternal = (init: OnnxInitializer) => external !== undefined && init.byteLength >= threshold;
  const own = model.initializers.filter((init): init is OwnInitializer => !isStoredTensor(init.data));
  const inline = own.filter((init) => !isExternal(init));
  const outside = own.filter(isExternal);
  const inlineTotal = inline.reduce((sum, init) => sum + init.byteLength, 0);
  if (inlineTotal >= PROTOBUF_LIMIT) {
    throw new QwenVLError('INVALID_ARGUMENT', `inline initializers take ${inlineTotal} bytes, past protobuf's 2 GiB limit; write them as external data (options.externalData)`, {
      source: `graph "${model.proto.graph?.name ?? ''}"`,
    });
  }
  return {
    inline,
    external: outside,
    stored,
    layout: planExternalLayout(
      outside.map((init) => init.byteLength),
      external?.alignment ?? DEFAULT_EXTERNAL_ALIGNMENT,
    ),
    location: external?.location ?? '',
  };
}

function encodeModel(model: OnnxModel, plan: InitializerPlan, inlineBytes: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const placements = externalTensors(plan);
  const initializer = model.initializers.map((init): OnnxProto.ITensorProto => {
    const header = { name: init.name, dataType: ELEMENT_TYPES[init.type].code, dims: [...init.dims] };
    const placement = plan.stored.get(init.name) ?? placements.get(init.name);
    if (placement === undefined) return { ...header, rawData: inlineBytes.get(init.name) };
    return {
      ...header,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: placement.location },
        { key: 'offset', value: String(placement.offset) },
        { key: 'length', value: String(init.byteLength) },
      ],
    };
  });
  return onnx.ModelProto.encode({ ...model.proto, graph: { ...model.proto.graph, initializer } }).finish();
}

/**
 * Where serializing `model` with `options` puts each initializer it writes to the external
 * data file: the `StoredTensor` a later model of the same folder can refer to.
 */
export function externalTensorPlacements(model: OnnxModel, options: SerializeOptions): Map<string, StoredTensor> {
  return externalTensors(planInitializers(model, options));
}

function externalTensors(plan: InitializerPlan): Map<string, StoredTensor> {
  return new Map(plan.external.map((init, i) => [init.name, { location: plan.location, offset: plan.layout.placements[i].offset }]));
}

async function* externalChunks(plan: InitializerPlan): AsyncGenerator<Uint8Array> {
  const zeros = new Uint8Array(maxPadding(plan.layout));
  for (const [i, init] of plan.external.entries()) {
    const { padding } = plan.layout.placements[i];
    if (padding > 0) yield zeros.subarray(0, padding);
    if (isSource(init.data)) yield* checkedChunks(init.name, init.data);
    else yield bytesOf(init.data);
  }
}

async function readAll(name: string, source: TensorBytesSource): Promise<Uint8Array> {
  const out = new Uint8Array(source.byteLength);
  let offset = 0;
  for await (const chunk of checkedChunks(name, source)) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** The source's chunks, failing as soon as they run past, or stop short of, its declared size. */
async function* checkedChunks(name: string, source: TensorBytesSource): AsyncGenerator<Uint8Array> {
  let produced = 0;
  for await (const chunk of source.chunks()) {
    produced += chunk.byteLength;
    if (produced > source.byteLength) throw sizeMismatch(name, source.byteLength, `more than ${source.byteLength}`);
    yield chunk;
  }
  if (produced !== source.byteLength) throw sizeMismatch(name, source.byteLength, String(produced));
}

function sizeMismatch(name: string, declared: number, produced: string): QwenVLError {
  return new QwenVLError('INVALID_WEIGHTS', `declares ${declared} bytes but its source produced ${produced}`, { source: `initializer "${name}"` });
}

function isSource(data: InitializerData<TensorDataType>): data is TensorBytesSource {
  return !ArrayBuffer.isView(data);
}

function maxPadding(layout: ExternalLayout): number {
  return layout.placements.reduce((max, p) => Math.max(max, p.padding), 0);
}
