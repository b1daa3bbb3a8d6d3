// A minimal ONNX graph builder over onnx-proto: named initializers, nodes with attributes, and
// serialisation to a ModelProto. Shared by every emitter: the stand-in CLIP, the network (src/network/*.onnx.ts), the
// evaluation's stand-in Inception and AlexNet, and the training graphs.
import { createRequire } from 'node:module';
import type onnxProto from 'onnx-proto';

// onnx-proto (protobufjs and the whole ONNX schema) is loaded the first time a graph is written, not at import.
let protoModule: typeof onnxProto | null = null;
function onnxNs(): typeof onnxProto.onnx {
  protoModule ??= createRequire(import.meta.url)('onnx-proto') as typeof onnxProto;
  return protoModule.onnx;
}

export type Attr = number | number[] | string | { float: number } | { floats: number[] };

const FLOAT = 1;
const INT64 = 7;
const INT8 = 3;

function f32Bytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i], true);
  return out;
}

function i64Bytes(data: readonly number[]): Uint8Array {
  const out = new Uint8Array(data.length * 8);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setBigInt64(i * 8, BigInt(data[i]), true);
  return out;
}

/** A graph input/output: element type and shape, where strings are symbolic dimensions. */
export interface IoSpec {
  name: string;
  type: 'float32' | 'int64' | 'int8';
  shape: (number | string)[];
}

function valueInfo(s: IoSpec): onnxProto.onnx.IValueInfoProto {
  return {
    name: s.name,
    type: {
      tensorType: {
        elemType: { float32: FLOAT, int64: INT64, int8: INT8 }[s.type],
        shape: { dim: s.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inits: onnxProto.onnx.ITensorProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;
  /** Number of float parameters stored, for reports. */
  parameters = 0;

  private unique(base: string): string {
    let name = base;
    while (this.names.has(name)) name = `${base}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  /** A float initializer (a weight). */
  weight(name: string, dims: number[], data: Float32Array): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`weight ${name}: ${data.length} values for shape [${dims}]`);
    const n = this.unique(name);
    this.inits.push({ name: n, dims, dataType: FLOAT, rawData: f32Bytes(data) });
    this.parameters += size;
    return n;
  }

  /**
   * A float initializer whose values are in another file beside the model (ONNX external data: `location`
   * a file name, `offset` in bytes), so that a model can share a large tensor with a file its folder holds
   * anyway; the runtime is given that file when it opens the model (onnxruntime-web: `externalData`).
   */
  externalWeight(name: string, dims: number[], location: string, offset = 0): string {
    const n = this.unique(name);
    const length = dims.reduce((a, b) => a * b, 1) * 4;
    this.inits.push({ name: n, dims, dataType: FLOAT, dataLocation: 1, // EXTERNAL
      externalData: [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }] });
    return n;
  }

  /** An int8 initializer (a quantised weight). */
  int8Weight(name: string, dims: number[], data: Int8Array): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`weight ${name}: ${data.length} values for shape [${dims}]`);
    const n = this.unique(name);
    this.inits.push({ name: n, dims, dataType: INT8, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return n;
  }

  /** An int64 constant (shapes, axes, indices); `dims` [] makes a scalar. */
  ints(name: string, values: readonly number[], dims: number[] = [values.length]): string {
    const n = this.unique(name);
    this.inits.push({ name: n, dims, dataType: INT64, rawData: i64Bytes(values) });
    return n;
  }

  /** A float scalar constant. */
  scalar(name: string, value: number): string {
    const n = this.unique(name);
    this.inits.push({ name: n, dims: [], dataType: FLOAT, rawData: f32Bytes(Float32Array.of(value)) });
    return n;
  }

  /** One node; returns its single output's name (or `output` if given). */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string): string {
    const out = output ? output : this.unique(`${opType.toLowerCase()}_out`);
    if (output) this.names.add(output);
    const attribute: onnxProto.onnx.IAttributeProto[] = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'number') return { name, type: onnxNs().AttributeProto.AttributeType.INT, i: v };
      if (typeof v === 'string') return { name, type: onnxNs().AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) };
      if (Array.isArray(v)) return { name, type: onnxNs().AttributeProto.AttributeType.INTS, ints: v };
      if ('float' in v) return { name, type: onnxNs().AttributeProto.AttributeType.FLOAT, f: v.float };
      return { name, type: onnxNs().AttributeProto.AttributeType.FLOATS, floats: v.floats };
    });
    this.nodes.push({ opType, input: inputs, output: [out], name: this.unique(`${opType}_${this.nodes.length}`), attribute });
    return out;
  }

  /** One node with several outputs (TopK: values, indices); returns their names. */
  opN(opType: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}): string[] {
    const names = Array.from({ length: outputs }, (_, i) => this.unique(`${opType.toLowerCase()}_out${i}`));
    const first = this.op(opType, inputs, attrs, names[0]);
    const node = this.nodes[this.nodes.length - 1];
    node.output = names;
    return [first, ...names.slice(1)];
  }

  /** Serialise as an ONNX model (IR 8, default opset 17). */
  build(graphName: string, inputs: IoSpec[], outputs: IoSpec[], docString = ''): Uint8Array {
    const model = onnxNs().ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'v2l',
      docString,
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.inits,
        input: inputs.map(valueInfo),
        output: outputs.map(valueInfo),
      },
    });
    return onnxNs().ModelProto.encode(model).finish();
  }
}
