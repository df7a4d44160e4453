/**
 * The ONNX graph that onnx.ts builds from a tfjs model, and what each layer emitter is handed.
 *
 * Nodes and initializers are kept in emission order and nodes are named `<OpType>_<count>`: both
 * are part of the exported bytes, so an emitter must add them in a fixed order. `as` inserts the
 * Transposes between NHWC and NCHW on demand and reuses them (see onnx.ts's module comment).
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { UsageError } from '../errors.js';
import type { tf } from '../student/tf.js';
import type { Layout } from '../teacher/types.js';

const { onnx } = onnxProto;
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const A = onnx.AttributeProto.AttributeType;

export type Attr = OnnxTypes.IAttributeProto;
export const ints = (name: string, v: number[]): Attr => ({ name, type: A.INTS, ints: v });
export const int = (name: string, v: number): Attr => ({ name, type: A.INT, i: v });
export const float = (name: string, v: number): Attr => ({ name, type: A.FLOAT, f: v });

/** Where a Keras tensor lives in the ONNX graph: its name, rank and (for rank 4) its layout. */
export interface Value {
  name: string;
  rank: number;
  layout: Layout | null;
}

export type AnyLayer = tf.LayersModel['layers'][number];

/** One layer class's ONNX mapping: adds the layer's nodes to `g` and returns its output. */
export type LayerEmitter = (g: GraphBuilder, layer: AnyLayer, inputs: Value[]) => Value;

export class GraphBuilder {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly transposed = new Map<string, Value>();
  private nodeCount = 0;

  node(opType: string, inputs: string[], output: string, attribute: Attr[] = []): string {
    this.nodes.push({ opType, input: inputs, output: [output], name: `${opType}_${this.nodeCount++}`, attribute });
    return output;
  }

  init(name: string, dims: number[], values: Float32Array): string {
    const bytes = new Uint8Array(values.byteLength);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) dv.setFloat32(i * 4, values[i], true); // ONNX raw_data is LE
    this.initializers.push({ name, dims, dataType: FLOAT, rawData: bytes });
    return name;
  }

  /** A 1-D int64 initializer (the shape / pads inputs of Reshape and Pad). */
  initInt64(name: string, values: number[]): string {
    const bytes = new Uint8Array(values.length * 8);
    const dv = new DataView(bytes.buffer);
    values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push({ name, dims: [values.length], dataType: INT64, rawData: bytes });
    return name;
  }

  /** `v` in the wanted layout (rank-4 values only), adding one cached Transpose if needed. */
  as(v: Value, layout: Layout): Value {
    if (v.rank !== 4 || v.layout === layout) return v;
    const key = `${v.name}|${layout}`;
    const hit = this.transposed.get(key);
    if (hit) return hit;
    const perm = layout === 'NCHW' ? [0, 3, 1, 2] : [0, 2, 3, 1];
    const name = this.node('Transpose', [v.name], `${v.name}_${layout.toLowerCase()}`, [ints('perm', perm)]);
    const out = { name, rank: 4, layout };
    this.transposed.set(key, out);
    return out;
  }
}

/** The one error of a layer tfkd cannot export: a UsageError naming the layer and why. */
export function refuse(layer: AnyLayer, why: string): never {
  throw new UsageError(`cannot export layer '${layer.name}' (${layer.getClassName()}) to ONNX: ${why}`);
}

/** The single input of a one-input layer. */
export function oneInput(layer: AnyLayer, inputs: Value[]): Value {
  if (inputs.length !== 1) refuse(layer, `expected one input, got ${inputs.length}`);
  return inputs[0];
}

/** The layer's Keras config, read as the fields an emitter uses. */
export function configOf<T>(layer: AnyLayer): T {
  return layer.getConfig() as unknown as T;
}

/** Keras layers tfkd exports compute channels-last; any other data format is refused. */
export function requireChannelsLast(layer: AnyLayer, dataFormat: unknown): void {
  if (dataFormat && dataFormat !== 'channelsLast') refuse(layer, `dataFormat ${String(dataFormat)}`);
}

/**
 * An n-ary Keras merge (Add, Multiply) as a chain of binary ONNX ops: ((x0 op x1) op x2)…, rank-4
 * inputs in NCHW, the intermediate results named `<layer>_<i>` and the last one `<layer>`.
 */
export function emitMerge(g: GraphBuilder, layer: AnyLayer, inputs: Value[], opType: string): Value {
  const n = layer.name;
  const rank = inputs[0].rank;
  const xs = inputs.map((v) => (rank === 4 ? g.as(v, 'NCHW') : v));
  let acc = xs[0].name;
  for (let i = 1; i < xs.length; i++) acc = g.node(opType, [acc, xs[i].name], i === xs.length - 1 ? n : `${n}_${i}`);
  return { name: n, rank, layout: rank === 4 ? 'NCHW' : null };
}
