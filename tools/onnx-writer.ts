/**
 * A minimal ONNX model writer: just enough of the protobuf wire format and of
 * onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto,
 * AttributeProto) to write small test models that a real ONNX runtime loads.
 * Field numbers follow onnx/onnx.proto; only writing is supported.
 */

/** onnx.TensorProto.DataType */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;
export type ElemType = (typeof DataType)[keyof typeof DataType];

enum Wire {
  Varint = 0,
  Fixed32 = 5,
  Bytes = 2,
}

/** Appends protobuf fields to a growing list of byte chunks. */
class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];

  private tag(field: number, wire: Wire): void {
    this.varint(BigInt((field << 3) | wire));
  }

  private varint(value: bigint): void {
    // Negative int64 values are written as their 64-bit two's complement, as protobuf does.
    let v = value < 0n ? (1n << 64n) + value : value;
    const bytes: number[] = [];
    while (v >= 0x80n) {
      bytes.push(Number((v & 0x7fn) | 0x80n));
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.chunks.push(Uint8Array.from(bytes));
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, Wire.Varint);
    this.varint(BigInt(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, Wire.Fixed32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.chunks.push(bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, Wire.Bytes);
    this.varint(BigInt(value.length));
    this.chunks.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  finish(): Uint8Array {
    const length = this.chunks.reduce((sum, c) => sum + c.length, 0);
    const out = new Uint8Array(length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** A dimension: a fixed size or a symbolic name (`batch_size`). */
export type Dim = number | string;

export interface ValueInfo {
  readonly name: string;
  readonly type: ElemType;
  readonly shape: readonly Dim[];
}

export interface Tensor {
  readonly name: string;
  readonly type: ElemType;
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array | Int32Array;
}

export type AttributeValue =
  | { readonly f: number }
  | { readonly i: number }
  | { readonly s: string }
  | { readonly ints: readonly number[] }
  | { readonly t: Tensor };

export interface Node {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

export interface Model {
  readonly graphName: string;
  readonly opset: number;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly initializers: readonly Tensor[];
  readonly nodes: readonly Node[];
  readonly metadata?: Readonly<Record<string, string>>;
  readonly producer?: string;
}

/** The IR version that goes with opsets 15–18 (ONNX 1.10–1.13 era). */
const IR_VERSION = 8;

function tensorProto(tensor: Tensor): ProtoWriter {
  const w = new ProtoWriter();
  for (const dim of tensor.dims) w.int(1, dim);
  w.int(2, tensor.type);
  w.string(8, tensor.name);
  const { data } = tensor;
  w.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return w;
}

function valueInfoProto(info: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const dim of info.shape) {
    const d = new ProtoWriter();
    if (typeof dim === 'number') d.int(1, dim);
    else d.string(2, dim);
    shape.message(1, d);
  }
  const tensorType = new ProtoWriter().int(1, info.type).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, info.name).message(2, type);
}

/** AttributeProto.AttributeType */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, INTS: 7 } as const;

function attributeProto(name: string, value: AttributeValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ('f' in value) return w.float(2, value.f).int(20, AttributeType.FLOAT);
  if ('i' in value) return w.int(3, value.i).int(20, AttributeType.INT);
  if ('s' in value) return w.string(4, value.s).int(20, AttributeType.STRING);
  if ('t' in value) return w.message(5, tensorProto(value.t)).int(20, AttributeType.TENSOR);
  for (const i of value.ints) w.int(8, i);
  return w.int(20, AttributeType.INTS);
}

function nodeProto(node: Node, index: number): ProtoWriter {
  const w = new ProtoWriter();
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, `${node.op}_${index}`).string(4, node.op);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    w.message(5, attributeProto(name, value));
  }
  return w;
}

/** Serialises a model to the bytes of a `.onnx` file. */
export function encodeModel(model: Model): Uint8Array {
  const graph = new ProtoWriter();
  model.nodes.forEach((node, i) => {
    graph.message(1, nodeProto(node, i));
  });
  graph.string(2, model.graphName);
  for (const tensor of model.initializers) graph.message(5, tensorProto(tensor));
  for (const input of model.inputs) graph.message(11, valueInfoProto(input));
  for (const output of model.outputs) graph.message(12, valueInfoProto(output));

  const w = new ProtoWriter().int(1, IR_VERSION).string(2, model.producer ?? 'voice-stack-test-tools');
  w.message(7, graph);
  w.message(8, new ProtoWriter().string(1, '').int(2, model.opset));
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.message(14, new ProtoWriter().string(1, key).string(2, value));
  }
  return w.finish();
}

/** Deterministic pseudo-random numbers (mulberry32), so generated models are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomFloats(count: number, scale: number, random: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (random() * 2 - 1) * scale;
  return out;
}

export function floatTensor(name: string, dims: readonly number[], data: Float32Array | number[]): Tensor {
  return { name, type: DataType.FLOAT, dims, data: Float32Array.from(data) };
}

export function int64Tensor(name: string, dims: readonly number[], data: readonly number[]): Tensor {
  return { name, type: DataType.INT64, dims, data: BigInt64Array.from(data.map(BigInt)) };
}
