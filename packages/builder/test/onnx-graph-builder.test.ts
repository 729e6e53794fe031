import { describe, expect, it } from 'vitest';
import { float, floats, tensorAttribute } from '../src/onnx/attributes.js';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { decodeModel, onnx, toBigInt, toNumber } from './onnx-proto-decode.js';
import { expectQwenVLError } from '@qwen-vl/test-support';

const { AttributeType } = onnx.AttributeProto;
const { DataType } = onnx.TensorProto;

function bytes(view: ArrayBufferView): number[] {
  return [...new Uint8Array(view.buffer, view.byteOffset, view.byteLength)];
}

/** x[n,3] · w[3,2] + b → Softmax → com.microsoft Gelu → Reshape to 1-D. */
function buildSmallModel() {
  const g = new GraphBuilder('small');
  const x = g.input('x', 'float32', ['batch', 3]);
  const w = g.initializer('w', 'float32', [3, 2], new Float32Array([1, 2, 3, 4, 5, 6]));
  const b = g.initializer('b', 'float16', [2], new Uint16Array([0x3c00, 0xc000]));
  const bf = g.op('Cast', [b], { to: DataType.FLOAT });
  const y = g.op('MatMul', [x, w]);
  const z = g.op('Add', [y, bf]);
  const s = g.op('Softmax', [z], { axis: -1 });
  const gelu = g.op('Gelu', [s], {}, { domain: 'com.microsoft', name: 'gelu' });
  const shape = g.constInt64([-1]);
  const flat = g.op('Reshape', [gelu, shape], {}, { output: 'flat' });
  g.output(flat, 'flat', 'float32', ['n']);
  g.output(s, 'probs', 'float32', ['batch', 2]);
  return g.build({ producer: 'qwen-vl-test', producerVersion: '0.0.1', metadata: { purpose: 'unit test' } });
}

describe('GraphBuilder', () => {
  it('writes nodes, initializers, inputs, outputs and opsets that decode back as built', () => {
    const model = decodeModel(serializeModel(buildSmallModel()).model);
    expect(toNumber(model.irVersion)).toBe(10);
    expect(model.producerName).toBe('qwen-vl-test');
    expect(model.producerVersion).toBe('0.0.1');
    expect(model.metadataProps.map((p) => [p.key, p.value])).toEqual([['purpose', 'unit test']]);
    expect(model.opsetImport.map((o) => [o.domain, toNumber(o.version)])).toEqual([
      ['', 21],
      ['com.microsoft', 1],
    ]);

    const graph = model.graph;
    expect(graph.name).toBe('small');
    expect(graph.node.map((n) => [n.opType, n.domain])).toEqual([
      ['Cast', ''],
      ['MatMul', ''],
      ['Add', ''],
      ['Softmax', ''],
      ['Gelu', 'com.microsoft'],
      ['Reshape', ''],
      ['Identity', ''],
    ]);
    const [cast, matmul, add, softmax, gelu, reshape, identity] = graph.node;
    expect(matmul.input).toEqual(['x', 'w']);
    expect(add.input).toEqual([matmul.output[0], cast.output[0]]);
    expect(softmax.input).toEqual(add.output);
    expect(gelu.name).toBe('gelu');
    expect(reshape.output).toEqual(['flat']);
    // "probs" is a renamed intermediate, so it gets an Identity; "flat" already has its name.
    expect(identity.input).toEqual(softmax.output);
    expect(identity.output).toEqual(['probs']);
    const nodeNames = graph.node.map((n) => n.name);
    expect(new Set(nodeNames).size).toBe(nodeNames.length);
    const valueNames = graph.node.flatMap((n) => n.output);
    expect(new Set(valueNames).size).toBe(valueNames.length);

    expect(toNumber(cast.attribute[0].i)).toBe(DataType.FLOAT);
    expect(softmax.attribute.map((a) => [a.name, a.type, toNumber(a.i)])).toEqual([['axis', AttributeType.INT, -1]]);

    const [w, b, shape] = graph.initializer;
    expect([w.name, w.dataType, w.dims.map(toNumber)]).toEqual(['w', DataType.FLOAT, [3, 2]]);
    expect([...w.rawData]).toEqual(bytes(new Float32Array([1, 2, 3, 4, 5, 6])));
    expect([b.name, b.dataType, [...b.rawData]]).toEqual(['b', DataType.FLOAT16, [0x00, 0x3c, 0x00, 0xc0]]);
    expect(shape.name).toBe(reshape.input[1]);
    expect([shape.dataType, shape.dims.map(toNumber), [...shape.rawData]]).toEqual([DataType.INT64, [1], bytes(new BigInt64Array([-1n]))]);
    expect(w.dataLocation).toBe(onnx.TensorProto.DataLocation.DEFAULT);

    expect(graph.input.map((i) => i.name)).toEqual(['x']);
    const xType = graph.input[0].type.tensorType;
    expect(xType.elemType).toBe(DataType.FLOAT);
    expect(xType.shape.dim.map((d) => d.dimParam || toNumber(d.dimValue))).toEqual(['batch', 3]);
    expect(graph.output.map((o) => o.name)).toEqual(['flat', 'probs']);
    expect(graph.output[1].type.tensorType.shape.dim.map((d) => d.dimParam || toNumber(d.dimValue))).toEqual(['batch', 2]);
  });

  it('types attributes by their values', () => {
    const g = new GraphBuilder('attrs');
    const x = g.input('x', 'float32', [1]);
    const y = g.op(
      'Custom',
      [x],
      {
        int: 7,
        big: 2n ** 63n - 1n,
        real: 0.5,
        whole: float(1),
        text: 'tanh',
        ints: [1, -2, 3],
        empty: [],
        reals: [0.25, 1],
        wholes: floats([1, 2]),
        words: ['a', 'bc'],
        tensor: tensorAttribute('int32', [2], new Int32Array([5, -6])),
        skipped: undefined,
      },
      { domain: 'com.microsoft' },
    );
    g.output(y, y, 'float32', [1]);
    const attrs = Object.fromEntries(decodeModel(serializeModel(g.build({ producer: 't' })).model).graph.node[0].attribute.map((a) => [a.name, a]));
    expect(Object.keys(attrs)).not.toContain('skipped');
    expect([attrs.int.type, toNumber(attrs.int.i)]).toEqual([AttributeType.INT, 7]);
    expect([attrs.big.type, toBigInt(attrs.big.i)]).toEqual([AttributeType.INT, 9223372036854775807n]);
    expect([attrs.real.type, attrs.real.f]).toEqual([AttributeType.FLOAT, 0.5]);
    expect([attrs.whole.type, attrs.whole.f]).toEqual([AttributeType.FLOAT, 1]);
    expect([attrs.text.type, String.fromCharCode(...attrs.text.s)]).toEqual([AttributeType.STRING, 'tanh']);
    expect([attrs.ints.type, attrs.ints.ints.map(toNumber)]).toEqual([AttributeType.INTS, [1, -2, 3]]);
    expect([attrs.empty.type, attrs.empty.ints]).toEqual([AttributeType.INTS, []]);
    expect([attrs.reals.type, attrs.reals.floats]).toEqual([AttributeType.FLOATS, [0.25, 1]]);
    expect([attrs.wholes.type, attrs.wholes.floats]).toEqual([AttributeType.FLOATS, [1, 2]]);
    expect([attrs.words.type, attrs.words.strings.map((s) => String.fromCharCode(...s))]).toEqual([AttributeType.STRINGS, ['a', 'bc']]);
    const t = attrs.tensor.t;
    expect([attrs.tensor.type, t.dataType, t.dims.map(toNumber), [...t.rawData]]).toEqual([AttributeType.TENSOR, DataType.INT32, [2], bytes(new Int32Array([5, -6]))]);
  });

  it('writes scalar and 1-D constants', () => {
    const g = new GraphBuilder('consts');
    const a = g.constInt64(3);
    const b = g.constInt64([1n, -1]);
    const c = g.constFloat(0.5);
    const d = g.constFloat([1, 2]);
    g.output(g.op('Concat', [g.op('Cast', [a], { to: DataType.FLOAT }), d], { axis: 0 }), 'out', 'float32', [3]);
    const inits = decodeModel(serializeModel(g.build({ producer: 't' })).model).graph.initializer;
    const byName = Object.fromEntries(inits.map((t) => [t.name, t]));
    expect(new Set([a, b, c, d]).size).toBe(4);
    expect([byName[a].dims.length, [...byName[a].rawData]]).toEqual([0, bytes(new BigInt64Array([3n]))]);
    expect([byName[b].dims.map(toNumber), [...byName[b].rawData]]).toEqual([[2], bytes(new BigInt64Array([1n, -1n]))]);
    expect([byName[c].dataType, byName[c].dims.length, [...byName[c].rawData]]).toEqual([DataType.FLOAT, 0, bytes(new Float32Array([0.5]))]);
    expect([byName[d].dims.map(toNumber), [...byName[d].rawData]]).toEqual([[2], bytes(new Float32Array([1, 2]))]);
  });

  it('numbers auto names past names already taken', () => {
    const g = new GraphBuilder('names');
    const x = g.input('MatMul_output_0', 'float32', [1, 1]);
    const y = g.op('MatMul', [x, x], {}, { name: 'MatMul' });
    const z = g.op('MatMul', [y, y]);
    g.output(z, z, 'float32', [1, 1]);
    const graph = decodeModel(serializeModel(g.build({ producer: 't' })).model).graph;
    expect(graph.node.map((n) => n.name)).toEqual(['MatMul', 'MatMul_2']);
    expect(graph.node.map((n) => n.output[0])).toEqual(['MatMul_output_0_2', 'MatMul_2_output_0']);
  });

  it('rejects graphs that would not be valid ONNX, naming the culprit', () => {
    const g = new GraphBuilder('bad');
    const x = g.input('x', 'float32', [2]);
    expectQwenVLError(() => g.op('Relu', ['y']), 'INVALID_ARGUMENT', /node "Relu".*input 0 "y" is not a graph input/);
    expectQwenVLError(() => g.input('x', 'float32', [2]), 'INVALID_ARGUMENT', /"x" is already used/);
    expectQwenVLError(() => g.op('Foo', [x], {}, { domain: 'org.example' }), 'INVALID_ARGUMENT', /domain "org.example" has no opset version/);
    expectQwenVLError(() => g.initializer('w', 'float16', [2], new Float32Array(2) as unknown as Uint16Array), 'INVALID_ARGUMENT', /initializer "w".*takes 4 bytes, the data has 8/);
    expectQwenVLError(() => g.input('z', 'float32', [-1]), 'INVALID_ARGUMENT', /dimension 0 must be a non-negative integer/);
    expectQwenVLError(() => g.op('Relu', [x], { bad: [1, 'a'] as unknown as string[] }), 'INVALID_ARGUMENT', /attribute "bad".*mixes value kinds/);
    expectQwenVLError(() => new GraphBuilder('empty').build({ producer: 't' }), 'INVALID_ARGUMENT', /graph "empty".*has no outputs/);
  });

  it('writes If branches as subgraphs that read the outer graph by name, with their constants and domains declared on the model', () => {
    const g = new GraphBuilder('branches');
    const x = g.input('x', 'float32', [2]);
    const flag = g.input('flag', 'bool', []);
    const [y] = g.opMulti(
      'If',
      [flag],
      ['y'],
      {
        then_branch: g.subgraph('then', (branch) => branch.output(branch.op('Gelu', [x], {}, { domain: 'com.microsoft', output: 'gelu' }), 'gelu', 'float32', [2])),
        else_branch: g.subgraph('else', (branch) => branch.output(branch.op('Add', [x, branch.constFloat(1)], {}, { output: 'plus_one' }), 'plus_one', 'float32', [2])),
      },
      { name: 'choose' },
    );
    g.output(y, 'y', 'float32', [2]);
    const model = decodeModel(serializeModel(g.build({ producer: 't' })).model);
    // Gelu appears only inside a branch, yet the model declares its domain.
    expect(model.opsetImport.map((o) => o.domain)).toEqual(['', 'com.microsoft']);
    const [choose] = model.graph.node;
    expect([choose.opType, choose.input, choose.output]).toEqual(['If', ['flag'], ['y']]);
    const branches = Object.fromEntries(choose.attribute.map((a) => [a.name, a]));
    expect([branches.then_branch.type, branches.else_branch.type]).toEqual([AttributeType.GRAPH, AttributeType.GRAPH]);
    const [thenGraph, elseGraph] = [branches.then_branch.g, branches.else_branch.g];
    expect([thenGraph.name, thenGraph.input, thenGraph.node.map((n) => [n.opType, n.domain, n.input]), thenGraph.output.map((o) => o.name)]).toEqual([
      'then',
      [],
      [['Gelu', 'com.microsoft', ['x']]],
      ['gelu'],
    ]);
    // The branch's constant is an initializer of the outer graph, which the branch reads by name.
    const [add] = elseGraph.node;
    expect(add.input[0]).toBe('x');
    expect(model.graph.initializer.map((t) => t.name)).toEqual([add.input[1]]);
    expect(elseGraph.initializer).toEqual([]);
  });

  it('keeps one namespace across a graph and its subgraphs', () => {
    const g = new GraphBuilder('scopes');
    const x = g.input('x', 'float32', [1]);
    g.subgraph('inner', (branch) => {
      expectQwenVLError(() => branch.op('Relu', [x], {}, { output: 'x' }), 'INVALID_ARGUMENT', /"x" is already used in graph "inner" or a graph around or inside it/);
      branch.output(branch.op('Relu', [x], {}, { name: 'relu', output: 'inner_y' }), 'inner_y', 'float32', [1]);
    });
    expectQwenVLError(() => g.op('Relu', [x], {}, { name: 'relu' }), 'INVALID_ARGUMENT', /node name "relu" is already used/);
    expectQwenVLError(() => g.subgraph('empty', () => undefined), 'INVALID_ARGUMENT', /graph "empty".*has no outputs/);
  });

  it('accepts other operator domains when given their opset', () => {
    const g = new GraphBuilder('custom', { opsets: { '': 20, 'org.example': 3 } });
    const x = g.input('x', 'float32', [2]);
    g.output(g.op('Foo', [x], {}, { domain: 'org.example', output: 'y' }), 'y', 'float32', [2]);
    const model = decodeModel(serializeModel(g.build({ producer: 't' })).model);
    expect(model.opsetImport.map((o) => [o.domain, toNumber(o.version)])).toEqual([
      ['', 20],
      ['org.example', 3],
    ]);
  });
});
