import { QwenVLError, elementCount } from '@qwen-vl/core';
import type { TensorDataMap, TensorDataType } from '@qwen-vl/core';
import { encodeAttribute } from './attributes.js';
import type { Attributes, GraphAttribute } from './attributes.js';
import { ELEMENT_TYPES } from './proto.js';
import type { OnnxProto } from './proto.js';

/** A dimension: a fixed size, or a symbolic name for a size known only at run time. */
export type Dim = number | string;

/**
 * Weight bytes produced on demand (read from a checkpoint, converted chunk by chunk), so
 * that writing a multi-gigabyte model never holds every weight in memory at once. The
 * chunks, in order, must add up to exactly `byteLength`, and a chunk must not change once
 * yielded (a writer may still hold it).
 */
export interface TensorBytesSource {
  readonly byteLength: number;
  chunks(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

export type InitializerData<T extends TensorDataType> = TensorDataMap[T] | TensorBytesSource;

/**
 * Weight bytes that are already in an external data file beside the model (written for
 * another model of the same folder): the model reads them from there instead of a copy of
 * its own.
 */
export interface StoredTensor {
  /** The external data file, relative to the model's folder. */
  readonly location: string;
  /** Byte offset of the tensor in that file. */
  readonly offset: number;
}

export interface OnnxInitializer {
  readonly name: string;
  readonly type: TensorDataType;
  readonly dims: readonly number[];
  readonly byteLength: number;
  readonly data: InitializerData<TensorDataType> | StoredTensor;
}

export function isStoredTensor(data: OnnxInitializer['data']): data is StoredTensor {
  return !ArrayBuffer.isView(data) && 'location' in data;
}

/**
 * A built model: the protobuf message without initializers, plus the initializers whose
 * bytes `serializeModel` / `streamModel` place inline or in external data.
 */
export interface OnnxModel {
  readonly proto: OnnxProto.IModelProto;
  readonly initializers: readonly OnnxInitializer[];
}

export interface GraphBuilderOptions {
  /** Opset version per operator domain; defaults: "" (ONNX) 21, "com.microsoft" 1. */
  readonly opsets?: Readonly<Record<string, number>>;
}

export interface OpOptions {
  /** Operator domain, "" (ONNX) by default, e.g. "com.microsoft" for contrib ops. */
  readonly domain?: string;
  /** Node name; auto-numbered from the op type when omitted. */
  readonly name?: string;
}

export interface SingleOutputOpOptions extends OpOptions {
  /** Name of the output value; auto-named from the node when omitted. */
  readonly output?: string;
}

export interface BuildOptions {
  readonly producer: string;
  readonly producerVersion?: string;
  readonly docString?: string;
  /** Free-form key/value pairs stored in the model's metadata_props. */
  readonly metadata?: Readonly<Record<string, string>>;
}

const DEFAULT_OPSETS: Readonly<Record<string, number>> = { '': 21, 'com.microsoft': 1 };
/** IR version 10 is the first that admits opset 21 (onnx/docs/Versioning.md). */
const IR_VERSION = 10;

/**
 * What a graph shares with the subgraphs built inside it (If branches): one namespace for
 * values and nodes, as ONNX forbids a subgraph to shadow an outer name; the initializers,
 * which live in the outermost graph and which subgraphs read by name; the opsets and the
 * domains used anywhere, which the model declares.
 */
export interface GraphScope {
  readonly valueNames: Set<string>;
  readonly nodeNames: Set<string>;
  readonly initializers: OnnxInitializer[];
  readonly usedDomains: Set<string>;
  readonly opsets: Readonly<Record<string, number>>;
}

/**
 * Builds an ONNX graph in topological order: every node input must already exist (graph
 * input, initializer, earlier node output, or a value of an enclosing graph), so a finished
 * builder is a valid graph. Methods return value names, to be passed on as inputs of later
 * nodes.
 */
export class GraphBuilder {
  private readonly inputs: OnnxProto.IValueInfoProto[] = [];
  private readonly outputs: OnnxProto.IValueInfoProto[] = [];
  private readonly nodes: OnnxProto.INodeProto[] = [];
  private readonly scope: GraphScope;

  /** `scope` is the enclosing graph's, for a subgraph (`subgraph` makes them). */
  constructor(
    readonly name: string,
    options: GraphBuilderOptions = {},
    scope?: GraphScope,
  ) {
    this.scope = scope ?? { valueNames: new Set(), nodeNames: new Set(), initializers: [], usedDomains: new Set(['']), opsets: { ...DEFAULT_OPSETS, ...options.opsets } };
  }

  input(name: string, type: TensorDataType, dims: readonly Dim[]): string {
    this.claimValueName(name, 'graph input');
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  initializer<T extends TensorDataType>(name: string, type: T, dims: readonly number[], data: InitializerData<T>): string {
    const source = `initializer "${name}"`;
    checkStaticDims(dims, source);
    const byteLength = elementCount(dims) * ELEMENT_TYPES[type].bytes;
    if (data.byteLength !== byteLength) {
      throw new QwenVLError('INVALID_ARGUMENT', `${type} [${dims.join(', ')}] takes ${byteLength} bytes, the data has ${data.byteLength}`, { source });
    }
    this.claimValueName(name, 'initializer');
    this.scope.initializers.push({ name, type, dims: [...dims], byteLength, data });
    return name;
  }

  /** An auto-named constant initializer. */
  constant<T extends TensorDataType>(type: T, dims: readonly number[], data: TensorDataMap[T]): string {
    return this.initializer(this.freshName(this.scope.valueNames, 'const'), type, dims, data);
  }

  /** An int64 constant: a scalar for a single value, 1-D for a list (shapes, axes, Slice bounds). */
  constInt64(values: number | bigint | readonly (number | bigint)[]): string {
    const list = typeof values === 'object' ? values : [values];
    return this.constant(
      'int64',
      typeof values === 'object' ? [list.length] : [],
      BigInt64Array.from(list, (v) => BigInt(v)),
    );
  }

  /** A float32 constant: a scalar for a single value, 1-D for a list. */
  constFloat(values: number | readonly number[]): string {
    const list = typeof values === 'object' ? values : [values];
    return this.constant('float32', typeof values === 'object' ? [list.length] : [], Float32Array.from(list));
  }

  /** Adds a node with one output and returns that output's name. */
  op(opType: string, inputs: readonly string[], attributes: Attributes = {}, options: SingleOutputOpOptions = {}): string {
    return this.opMulti(opType, inputs, options.output !== undefined ? [options.output] : 1, attributes, options)[0];
  }

  /** Adds a node with several outputs, given as a count (auto-named) or as names. */
  opMulti(opType: string, inputs: readonly string[], outputs: number | readonly string[], attributes: Attributes = {}, options: OpOptions = {}): string[] {
    const domain = options.domain ?? '';
    const nodeName = options.name ?? this.freshName(this.scope.nodeNames, opType);
    const source = `node "${nodeName}" (${domain === '' ? '' : `${domain}.`}${opType})`;
    if (this.scope.opsets[domain] === undefined) {
      throw new QwenVLError('INVALID_ARGUMENT', `domain "${domain}" has no opset version; pass opsets: { "${domain}": N } to the GraphBuilder`, { source });
    }
    inputs.forEach((input, i) => {
      // An empty name is ONNX's way to leave out an optional input.
      if (input !== '' && !this.scope.valueNames.has(input)) {
        throw new QwenVLError('INVALID_ARGUMENT', `input ${i} "${input}" is not a graph input, initializer or earlier node output`, { source });
      }
    });
    this.claimName(this.scope.nodeNames, nodeName, source, 'node name');
    const outputNames = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, k) => this.freshName(this.scope.valueNames, `${nodeName}_output_${k}`)) : [...outputs];
    for (const out of outputNames) this.claimName(this.scope.valueNames, out, source, 'output name');
    const attribute = Object.entries(attributes)
      .filter((entry): entry is [string, NonNullable<(typeof entry)[1]>] => entry[1] !== undefined)
      .map(([key, value]) => encodeAttribute(key, value, source));
    this.nodes.push({ name: nodeName, opType, domain, input: [...inputs], output: outputNames, attribute });
    this.scope.usedDomains.add(domain);
    return outputNames;
  }

  /**
   * Declares `value` a graph output called `name`. When `value` is not already a node
   * output of that name, an Identity node gives it the name.
   */
  output(value: string, name: string, type: TensorDataType, dims: readonly Dim[]): void {
    const producedHere = value === name && this.nodes.some((node) => node.output?.includes(value));
    const outputName = producedHere ? value : this.op('Identity', [value], {}, { output: name });
    if (this.outputs.some((info) => info.name === outputName)) {
      throw new QwenVLError('INVALID_ARGUMENT', 'is already a graph output', { source: `output "${name}"` });
    }
    this.outputs.push(valueInfo(outputName, type, dims));
  }

  /**
   * A subgraph named `name` (an If's `then_branch` / `else_branch`), as the attribute that
   * holds it: `body` adds its nodes and declares its outputs on the builder it is given,
   * reading any value of this graph by name. Its constants become initializers of the
   * outermost graph. It takes no inputs.
   */
  subgraph(name: string, body: (graph: GraphBuilder) => void): GraphAttribute {
    const sub = new GraphBuilder(name, {}, this.scope);
    body(sub);
    return { kind: 'graph', graph: sub.graphProto() };
  }

  build(options: BuildOptions): OnnxModel {
    const proto: OnnxProto.IModelProto = {
      irVersion: IR_VERSION,
      opsetImport: [...this.scope.usedDomains].map((domain) => ({ domain, version: this.scope.opsets[domain] })),
      producerName: options.producer,
      producerVersion: options.producerVersion ?? '',
      docString: options.docString ?? '',
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: this.graphProto(),
    };
    return { proto, initializers: [...this.scope.initializers] };
  }

  /** The graph without its initializers (the serializer writes those). */
  private graphProto(): OnnxProto.IGraphProto {
    if (this.outputs.length === 0) {
      throw new QwenVLError('INVALID_ARGUMENT', 'has no outputs', { source: `graph "${this.name}"` });
    }
    return { name: this.name, node: [...this.nodes], input: [...this.inputs], output: [...this.outputs] };
  }

  private claimValueName(name: string, what: string): void {
    this.claimName(this.scope.valueNames, name, `${what} "${name}"`, 'value name');
  }

  private claimName(names: Set<string>, name: string, source: string, what: string): void {
    if (name === '') throw new QwenVLError('INVALID_ARGUMENT', `${what} must not be empty`, { source });
    if (names.has(name)) throw new QwenVLError('INVALID_ARGUMENT', `${what} "${name}" is already used in graph "${this.name}" or a graph around or inside it`, { source });
    names.add(name);
  }

  /** `base`, or `base_2`, `base_3`… whichever is not taken yet. */
  private freshName(names: ReadonlySet<string>, base: string): string {
    let name = base;
    for (let k = 2; names.has(name); k++) name = `${base}_${k}`;
    return name;
  }
}

function checkStaticDims(dims: readonly number[], source: string): void {
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new QwenVLError('INVALID_ARGUMENT', `dims must be non-negative integers, got [${dims.join(', ')}]`, { source });
  }
}

function valueInfo(name: string, type: TensorDataType, dims: readonly Dim[]): OnnxProto.IValueInfoProto {
  const dim = dims.map((d, i) => {
    if (typeof d === 'string') return { dimParam: d };
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new QwenVLError('INVALID_ARGUMENT', `dimension ${i} must be a non-negative integer or a symbolic name, got ${d}`, { source: `value "${name}"` });
    }
    return { dimValue: d };
  });
  return { name, type: { tensorType: { elemType: ELEMENT_TYPES[type].code, shape: { dim } } } };
}
