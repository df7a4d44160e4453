/**
 * The values an imported ONNX graph computes with, and their layouts.
 *
 * Two kinds: tensors (tfjs, float32, differentiable) and constants (plain JS numbers: shapes,
 * indices, axes, small float scalars). Shape / Gather / Unsqueeze / Concat / Cast / arithmetic on
 * constants run in JS at every call, so the shape chains torch.onnx.export writes (`x.view(n, g, c,
 * h, w)` → Shape → Gather → Unsqueeze → Concat → Reshape) fold to numbers with the actual batch
 * size, and never become tensors.
 *
 * Layout: tfjs' convolutions and pools are NHWC-only on the cpu and wasm backends, ONNX graphs are
 * NCHW. A rank-4 tensor is kept in whichever layout its producer made (`nhwc`); layout-aware ops
 * (Conv, BatchNormalization, pools, element-wise ops, Concat/Split/Slice, ReduceMean) map their
 * axes, and the ops whose meaning depends on memory order (Reshape, Flatten, Transpose, Gemm,
 * MatMul, Gather) first bring their input back to NCHW. So one transpose sits at the image input
 * and, typically, one before the classifier head.
 */
import { UsageError } from '../../../errors.js';
import { tf } from '../../tf.js';

export type AttrValue = number | number[] | string | ConstValue | null;

export interface ConstValue {
  dtype: 'float32' | 'int';
  shape: number[];
  data: Float32Array | number[];
}

interface TensorValue {
  t: tf.Tensor;
  /** For rank 4: stored as NHWC (logical NCHW axis a lives at physical axis NCHW_TO_NHWC[a]). */
  nhwc: boolean;
}

export type Value = ({ kind: 'tensor' } & TensorValue) | ({ kind: 'const' } & ConstValue);

export interface GraphNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

/** What an op implementation gets: its node, its inputs (missing optional ones undefined), mode. */
export interface OpContext {
  node: GraphNode;
  inputs: Array<Value | undefined>;
  training: boolean;
  /** BatchNormalization running statistics and Dropout seeds live in the layer. */
  state: OpState;
}

export interface OpState {
  /** Updates a running statistic (a non-trainable weight) by name, unless it is frozen. */
  updateRunning(name: string, value: tf.Tensor): void;
  readRunning(name: string): tf.Tensor;
  /** A fresh seed for a Dropout or drop-path mask (the model seed, the training step and the call within it). */
  dropoutSeed(): number;
  /** Tests: sees every drop-path mask drawn (1 = kept), in graph order. */
  onDropPathMask?: (mask: Float32Array) => void;
  /** Fused BatchNorm training kernel, when the backend has it. */
  fusedBn: boolean;
}

export type OpImpl = (ctx: OpContext) => Value[];

const NCHW_TO_NHWC = [0, 3, 1, 2];

export const tensor = (t: tf.Tensor, nhwc = false): Value => ({ kind: 'tensor', t, nhwc: nhwc && t.rank === 4 });
export const constant = (dtype: ConstValue['dtype'], shape: number[], data: Float32Array | number[]): Value => ({ kind: 'const', dtype, shape, data });

export function fail(node: GraphNode, why: string): never {
  throw new UsageError(`ONNX node ${node.name} (${node.op}): ${why}`);
}

export function attrInt(node: GraphNode, name: string, dflt: number): number {
  const v = node.attrs[name];
  return typeof v === 'number' ? v : dflt;
}
export function attrFloat(node: GraphNode, name: string, dflt: number): number {
  return attrInt(node, name, dflt);
}
export function attrInts(node: GraphNode, name: string): number[] | undefined {
  const v = node.attrs[name];
  return Array.isArray(v) ? v : undefined;
}

/** The input at `i` (required). */
export function arg(ctx: OpContext, i: number): Value {
  const v = ctx.inputs[i];
  if (!v) fail(ctx.node, `input ${i} is missing`);
  return v;
}

/** A constant input's numbers (shapes, axes, pads…). */
export function constArg(ctx: OpContext, i: number): number[] {
  const v = arg(ctx, i);
  if (v.kind !== 'const') fail(ctx.node, `input ${i} (${ctx.node.inputs[i]}) must be a constant, but it is computed from the image`);
  return Array.from(v.data);
}

/** The logical (ONNX) shape of a value. */
export function logicalShape(v: Value): number[] {
  if (v.kind === 'const') return v.shape;
  const s = v.t.shape as number[];
  return v.nhwc ? [s[0], s[3], s[1], s[2]] : [...s];
}

export function toTensor(v: Value): tf.Tensor {
  if (v.kind === 'tensor') return v.t;
  return tf.tensor(Float32Array.from(v.data), v.shape, 'float32');
}

/** The tensor in logical NCHW order (a transpose for NHWC-stored rank-4 tensors). */
export function asNchw(v: Value): tf.Tensor {
  if (v.kind === 'const') return toTensor(v);
  return v.nhwc ? tf.transpose(v.t, [0, 3, 1, 2]) : v.t;
}

/** A rank-4 value as a physical NHWC tensor. */
export function asNhwc(v: Value, node: GraphNode): tf.Tensor4D {
  const t = v.kind === 'const' ? toTensor(v) : v.t;
  if (t.rank !== 4) fail(node, `expects a 4-D [N, C, H, W] input, got shape [${logicalShape(v)}]`);
  if (v.kind === 'tensor' && v.nhwc) return t as tf.Tensor4D;
  return tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;
}

/** Normalises a (possibly negative) axis of a rank-`rank` value. */
export function normAxis(node: GraphNode, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!(a >= 0 && a < rank)) fail(node, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** The physical axis of logical axis `a` in a value. */
export function physAxis(v: Value, a: number): number {
  return v.kind === 'tensor' && v.nhwc ? NCHW_TO_NHWC[a] : a;
}
