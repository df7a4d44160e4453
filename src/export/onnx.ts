/**
 * tfjs LayersModel (a zoo model) → ONNX ModelProto bytes, written with onnx-proto (protobufjs).
 *
 * The graph computes in NCHW, ONNX's native conv layout: an NHWC input (`layout: 'NHWC'`) gets one
 * Transpose at the start; a Keras Flatten of a 4-D tensor gets a Transpose back to NHWC first,
 * because Keras flattens in (h, w, c) order and the dense weights after it expect that order.
 * Transposes are inserted on demand and reused, so an NCHW input to a conv net has none.
 *
 * Layer mapping (anything else is refused, naming the layer):
 *   InputLayer → graph input `input` [batch, …] (dynamic batch dimension `batch`)
 *   Conv2D → Conv (HWIO kernel → OIHW; TF 'same' padding → explicit pads, which are asymmetric
 *            for stride 2 on even sizes: 0 before, 1 after) [+ Relu]
 *   DepthwiseConv2D → Conv with group = C (kernel [kh, kw, C, M] → [C·M, 1, kh, kw])
 *   Dense → Gemm [+ Relu] · BatchNormalization → BatchNormalization (inference form)
 *   ReLU → Relu, or Clip(0, maxValue) with min/max as inputs (opset ≥ 11) · Activation relu/linear
 *   MaxPooling2D → MaxPool · GlobalAveragePooling2D → GlobalAveragePool + Flatten · Add → Add
 *   Flatten → (Transpose to NHWC) + Flatten · mobilenet_v3_small's layers: onnx-layers.ts
 * The model output is named `logits`, [batch, K].
 *
 * metadata_props: `tfkd.preprocess` = {layout, size: [H, W], scale, mean, std} (what the input
 * expects: input = (pixel·scale − mean[c]) / std[c]) and `tfkd.model` = the ModelSpec JSON, so a
 * teacher built from this file needs no --preprocess.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { UsageError } from '../errors.js';
import { emitMoreLayer } from './onnx-layers.js';
import type { ModelSpec } from '../student/zoo/index.js';
import { tf } from '../student/tf.js';
import type { Layout, PreprocessSpec } from '../teacher/types.js';

const { onnx } = onnxProto;

export interface ExportOptions {
  /** Layout of the ONNX input tensor: NHWC ([batch, H, W, C], as tfjs) or NCHW ([batch, C, H, W]). */
  layout: Layout;
  /** The input normalisation the model was trained with: input = (pixel·scale − mean[c]) / std[c]. */
  preprocess: { scale: number; mean: number[]; std: number[] };
  /**
   * The student's eval transform (student/trainer/inputs.ts), recorded so that the exported model
   * renders images of any size the way the student was evaluated; absent for students of
   * fixed-size data at its own size (nothing to render).
   */
  render?: Pick<PreprocessSpec, 'resize' | 'crop' | 'cropRounding' | 'interpolation' | 'channels'>;
  /** ONNX opset, 13–17 (default 13; 17 is the newest that Debian's onnx 1.12 checker knows). */
  opset?: number;
  /** Recorded as the model's producer_version. */
  producerVersion?: string;
}

export const MIN_OPSET = 13;
export const MAX_OPSET = 17;
const IR_VERSION = 8;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const A = onnx.AttributeProto.AttributeType;

type Attr = OnnxTypes.IAttributeProto;
const ints = (name: string, v: number[]): Attr => ({ name, type: A.INTS, ints: v });
const int = (name: string, v: number): Attr => ({ name, type: A.INT, i: v });
const float = (name: string, v: number): Attr => ({ name, type: A.FLOAT, f: v });

/** Where a Keras tensor lives in the ONNX graph: its name, rank and (for rank 4) its layout. */
interface Value {
  name: string;
  rank: number;
  layout: Layout | null;
}

type AnyLayer = tf.LayersModel['layers'][number];

/** TF 'same' padding: output ceil(in/s), total pad split with the extra pixel after. */
export function tfSamePads(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

class GraphBuilder {
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

function unsupported(layer: AnyLayer, why: string): never {
  throw new UsageError(`cannot export layer '${layer.name}' (${layer.getClassName()}) to ONNX: ${why}`);
}

/** Reorders a row-major array of `shape` by `perm` (out dim i = in dim perm[i]). */
function permute(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((a, d) => a * d, 1));
  const out = new Float32Array(data.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < perm.length; d++) src += idx[d] * inStrides[perm[d]];
    out[o] = data[src];
    for (let d = outShape.length - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

function weightsOf(layer: AnyLayer): Array<{ data: Float32Array; shape: number[] }> {
  return layer.getWeights().map((t) => ({ data: t.dataSync() as Float32Array, shape: [...t.shape] }));
}

function spatialOf(layer: AnyLayer): [number, number] {
  const node = layer.inboundNodes[0];
  const s = (Array.isArray(node.inputShapes[0]) ? node.inputShapes[0] : node.inputShapes) as Array<number | null>;
  if (!Array.isArray(s) || s.length !== 4 || s[1] == null || s[2] == null) unsupported(layer, 'needs a static 4-D input shape');
  return [s[1] as number, s[2] as number];
}

/** ONNX pads [top, left, bottom, right] for a Keras 'same'/'valid' window op. */
function padsFor(layer: AnyLayer, padding: string, kernel: number[], strides: number[]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') unsupported(layer, `padding '${padding}'`);
  const [h, w] = spatialOf(layer);
  const [t, b] = tfSamePads(h, kernel[0], strides[0]);
  const [l, r] = tfSamePads(w, kernel[1], strides[1]);
  return [t, l, b, r];
}

interface ConvLikeConfig {
  kernelSize: number[];
  strides: number[];
  padding: string;
  dataFormat?: string;
  dilationRate?: number[] | number;
  activation?: string;
  useBias?: boolean;
}

function checkConvConfig(layer: AnyLayer, c: ConvLikeConfig): void {
  if (c.dataFormat && c.dataFormat !== 'channelsLast') unsupported(layer, `dataFormat ${c.dataFormat}`);
  const dil = Array.isArray(c.dilationRate) ? c.dilationRate : [c.dilationRate ?? 1];
  if (dil.some((d) => d !== 1)) unsupported(layer, 'dilation ≠ 1');
}

function activation(g: GraphBuilder, layer: AnyLayer, act: string | undefined, x: string, out: string): string {
  if (act === undefined || act === 'linear') return x;
  if (act === 'relu') return g.node('Relu', [x], out);
  return unsupported(layer, `activation '${act}'`);
}

function emitLayer(g: GraphBuilder, layer: AnyLayer, inputs: Value[]): Value {
  const cls = layer.getClassName();
  const cfg = layer.getConfig() as unknown as Record<string, unknown>;
  const n = layer.name;
  const one = (): Value => {
    if (inputs.length !== 1) unsupported(layer, `expected one input, got ${inputs.length}`);
    return inputs[0];
  };
  switch (cls) {
    case 'Conv2D':
    case 'DepthwiseConv2D': {
      const c = cfg as unknown as ConvLikeConfig;
      checkConvConfig(layer, c);
      const x = g.as(one(), 'NCHW');
      const ws = weightsOf(layer);
      const [kh, kw, ci, co] = ws[0].shape;
      let wName: string;
      let group = 1;
      if (cls === 'Conv2D') {
        wName = g.init(`${n}/W`, [co, ci, kh, kw], permute(ws[0].data, ws[0].shape, [3, 2, 0, 1]));
      } else {
        // [kh, kw, C, M] → [C, M, kh, kw] = [C·M, 1, kh, kw]; output channel c·M + m, as in Keras.
        wName = g.init(`${n}/W`, [ci * co, 1, kh, kw], permute(ws[0].data, ws[0].shape, [2, 3, 0, 1]));
        group = ci;
      }
      const inputsOnnx = [x.name, wName];
      if (c.useBias !== false && ws.length > 1) inputsOnnx.push(g.init(`${n}/B`, ws[1].shape, ws[1].data));
      const attrs = [
        ints('kernel_shape', [kh, kw]),
        ints('strides', c.strides),
        ints('pads', padsFor(layer, c.padding, [kh, kw], c.strides)),
        ints('dilations', [1, 1]),
        int('group', group),
      ];
      const conv = g.node('Conv', inputsOnnx, c.activation && c.activation !== 'linear' ? `${n}_conv` : n, attrs);
      return { name: activation(g, layer, c.activation, conv, n), rank: 4, layout: 'NCHW' };
    }
    case 'Dense': {
      const x = one();
      if (x.rank !== 2) unsupported(layer, `Dense on a rank-${x.rank} tensor`);
      const ws = weightsOf(layer);
      const act = cfg.activation as string | undefined;
      const inputsOnnx = [x.name, g.init(`${n}/W`, ws[0].shape, ws[0].data)];
      if (cfg.useBias !== false && ws.length > 1) inputsOnnx.push(g.init(`${n}/B`, ws[1].shape, ws[1].data));
      const gemm = g.node('Gemm', inputsOnnx, act && act !== 'linear' ? `${n}_gemm` : n);
      return { name: activation(g, layer, act, gemm, n), rank: 2, layout: null };
    }
    case 'BatchNormalization': {
      const axis = cfg.axis as number;
      const x0 = one();
      if (axis !== -1 && axis !== x0.rank - 1) unsupported(layer, `axis ${axis}`);
      const x = g.as(x0, 'NCHW');
      const byName = new Map(layer.weights.map((w, i) => [w.originalName.slice(w.originalName.lastIndexOf('/') + 1), i]));
      const ws = weightsOf(layer);
      const get = (k: string, fill: number): Float32Array => {
        const i = byName.get(k);
        if (i !== undefined) return ws[i].data;
        const ch = ws[byName.get('moving_mean') as number].shape[0];
        return new Float32Array(ch).fill(fill);
      };
      const ch = get('moving_mean', 0).length;
      const ins = [
        x.name,
        g.init(`${n}/scale`, [ch], get('gamma', 1)),
        g.init(`${n}/B`, [ch], get('beta', 0)),
        g.init(`${n}/mean`, [ch], get('moving_mean', 0)),
        g.init(`${n}/var`, [ch], get('moving_variance', 1)),
      ];
      g.node('BatchNormalization', ins, n, [float('epsilon', cfg.epsilon as number)]);
      return { name: n, rank: x.rank, layout: x.layout };
    }
    case 'ReLU': {
      const x = one();
      const max = cfg.maxValue as number | null | undefined;
      if (max == null) g.node('Relu', [x.name], n);
      else {
        const lo = g.init(`${n}/min`, [], Float32Array.of(0));
        const hi = g.init(`${n}/max`, [], Float32Array.of(max));
        g.node('Clip', [x.name, lo, hi], n);
      }
      return { ...x, name: n };
    }
    case 'Activation': {
      const x = one();
      const act = cfg.activation as string;
      if (act === 'linear') g.node('Identity', [x.name], n);
      else activation(g, layer, act, x.name, n);
      return { ...x, name: n };
    }
    case 'MaxPooling2D': {
      const c = cfg as unknown as { poolSize: number[]; strides: number[]; padding: string; dataFormat?: string };
      if (c.dataFormat && c.dataFormat !== 'channelsLast') unsupported(layer, `dataFormat ${c.dataFormat}`);
      const x = g.as(one(), 'NCHW');
      g.node('MaxPool', [x.name], n, [
        ints('kernel_shape', c.poolSize),
        ints('strides', c.strides),
        ints('pads', padsFor(layer, c.padding, c.poolSize, c.strides)),
      ]);
      return { name: n, rank: 4, layout: 'NCHW' };
    }
    case 'GlobalAveragePooling2D': {
      if (cfg.dataFormat && cfg.dataFormat !== 'channelsLast') unsupported(layer, `dataFormat ${cfg.dataFormat}`);
      const x = g.as(one(), 'NCHW');
      const pooled = g.node('GlobalAveragePool', [x.name], `${n}_nc11`);
      g.node('Flatten', [pooled], n, [int('axis', 1)]);
      return { name: n, rank: 2, layout: null };
    }
    case 'Add': {
      if (inputs.length < 2) unsupported(layer, 'Add needs two or more inputs');
      const rank = inputs[0].rank;
      const xs = inputs.map((v) => (rank === 4 ? g.as(v, 'NCHW') : v));
      let acc = xs[0].name;
      for (let i = 1; i < xs.length; i++) acc = g.node('Add', [acc, xs[i].name], i === xs.length - 1 ? n : `${n}_${i}`);
      return { name: n, rank, layout: rank === 4 ? 'NCHW' : null };
    }
    case 'ZeroPadding2D': {
      // Pad (opset ≥ 11: pads as an int64 input), NCHW [0, 0, top, left, 0, 0, bottom, right].
      const c = cfg as unknown as { padding: [[number, number], [number, number]]; dataFormat?: string };
      if (c.dataFormat && c.dataFormat !== 'channelsLast') unsupported(layer, `dataFormat ${c.dataFormat}`);
      const x = g.as(one(), 'NCHW');
      const [[t, b], [l, r]] = c.padding;
      const pads = new Uint8Array(64);
      new BigInt64Array(pads.buffer).set([0, 0, t, l, 0, 0, b, r].map((v) => BigInt(v)));
      g.initializers.push({ name: `${n}/pads`, dims: [8], dataType: onnx.TensorProto.DataType.INT64, rawData: pads });
      g.node('Pad', [x.name, `${n}/pads`], n);
      return { name: n, rank: 4, layout: 'NCHW' };
    }
    case 'Flatten': {
      // Keras flattens channels-last tensors in (h, w, c) order.
      const x = g.as(one(), 'NHWC');
      g.node('Flatten', [x.name], n, [int('axis', 1)]);
      return { name: n, rank: 2, layout: null };
    }
    default: // HardSwish, HardSigmoid, SeededDropout, Reshape, Multiply; else refused
      return emitMoreLayer(g, layer, inputs, unsupported);
  }
}

function validatePreprocess(p: ExportOptions['preprocess'], channels: number): { scale: number; mean: number[]; std: number[] } {
  if (!p || !Number.isFinite(p.scale)) throw new UsageError('export: preprocess.scale must be a finite number');
  const fit = (what: string, v: number[], positive: boolean): number[] => {
    if (!Array.isArray(v) || !(v.length === 1 || v.length === channels) || !v.every(Number.isFinite)) {
      throw new UsageError(`export: preprocess.${what} must hold 1 or ${channels} finite numbers, got ${JSON.stringify(v)}`);
    }
    if (positive && v.some((x) => x <= 0)) throw new UsageError(`export: preprocess.${what} must be > 0`);
    return v.length === channels ? [...v] : new Array<number>(channels).fill(v[0]);
  };
  return { scale: p.scale, mean: fit('mean', p.mean, false), std: fit('std', p.std, true) };
}

/** Exports `model` (built from `spec`) as ONNX bytes; see the module comment for the mapping. */
export function exportOnnx(model: tf.LayersModel, spec: ModelSpec, opts: ExportOptions): Uint8Array {
  const opset = opts.opset ?? MIN_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new UsageError(`export: opset must be an integer in [${MIN_OPSET}, ${MAX_OPSET}], got ${opset}`);
  }
  if (opts.layout !== 'NHWC' && opts.layout !== 'NCHW') throw new UsageError(`export: layout must be NHWC or NCHW, got ${opts.layout}`);
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new UsageError('export: the model must have one input and one output');

  const inShape = model.inputs[0].shape;
  const [H, W, C] = spec.inputShape;
  if (inShape.length !== 4 || inShape[1] !== H || inShape[2] !== W || inShape[3] !== C) {
    throw new UsageError(`export: model input [${inShape.slice(1)}] does not match spec inputShape [${spec.inputShape}]`);
  }
  const outShape = model.outputs[0].shape;
  if (outShape.length !== 2 || outShape[1] !== spec.numClasses) {
    throw new UsageError(`export: model output [${outShape}] does not match spec numClasses ${spec.numClasses}`);
  }
  const pre = validatePreprocess(opts.preprocess, C);

  const g = new GraphBuilder();
  const values = new Map<string, Value>();
  const inputLayer = model.inputLayers[0];
  values.set(inputLayer.name, { name: 'input', rank: 4, layout: opts.layout });

  // model.layers is in topological order for functional models.
  for (const layer of model.layers) {
    if (layer === inputLayer) continue;
    if (layer.inboundNodes.length !== 1) unsupported(layer, 'shared layers (called more than once) are not supported');
    const node = layer.inboundNodes[0];
    const ins = node.inboundLayers.map((l, i) => {
      if (node.tensorIndices[i] !== 0) unsupported(layer, 'multi-output inputs are not supported');
      const v = values.get(l.name);
      if (!v) unsupported(layer, `input '${l.name}' was not exported before it`);
      return v;
    });
    values.set(layer.name, emitLayer(g, layer, ins));
  }

  const outLayer = model.outputLayers[0];
  const out = values.get(outLayer.name);
  if (!out || out.rank !== 2) throw new UsageError('export: the model output must be a rank-2 [batch, K] tensor');
  const producer = g.nodes.find((nd) => nd.output?.[0] === out.name);
  if (producer) producer.output = ['logits'];
  else g.node('Identity', [out.name], 'logits');

  const inputDims = opts.layout === 'NHWC' ? [H, W, C] : [C, H, W];
  const tensorType = (dims: number[]): OnnxTypes.ITypeProto => ({
    tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, ...dims.map((d) => ({ dimValue: d }))] } },
  });
  // The keys a teacher reads back (teacher/preprocess.ts); size alone = a stretch for data of another size.
  const preprocess: Partial<PreprocessSpec> = { layout: opts.layout, size: [H, W], scale: pre.scale, mean: pre.mean, std: pre.std, ...(opts.render ?? {}) };

  const modelProto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'tfkd',
    producerVersion: opts.producerVersion ?? '',
    docString: `tfkd zoo model ${spec.name}, exported from tfjs`,
    graph: {
      name: spec.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [{ name: 'input', type: tensorType(inputDims) }],
      output: [{ name: 'logits', type: tensorType([spec.numClasses]) }],
    },
    metadataProps: [
      { key: 'tfkd.preprocess', value: JSON.stringify(preprocess) },
      { key: 'tfkd.model', value: JSON.stringify(spec) },
    ],
  });
  return onnx.ModelProto.encode(modelProto).finish();
}
