/**
 * ONNX mappings of the core Keras layers the zoo builds (mlp, cnn, the CIFAR ResNets, mobilenetv2,
 * resnet18), one emitter per layer class in `CORE_LAYERS`; the mapping is listed in onnx.ts's
 * module comment. Each emitter checks what it cannot map before it adds nodes, in the order below,
 * so a layer with several problems is refused for the first.
 */
import {
  configOf, emitMerge, float, int, ints, oneInput, refuse, requireChannelsLast,
  type AnyLayer, type GraphBuilder, type LayerEmitter,
} from './onnx-graph-builder.js';

/** TF 'same' padding: output ceil(in/s), total pad split with the extra pixel after. */
export function tfSamePads(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
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
  if (!Array.isArray(s) || s.length !== 4 || s[1] == null || s[2] == null) refuse(layer, 'needs a static 4-D input shape');
  return [s[1] as number, s[2] as number];
}

/** ONNX pads [top, left, bottom, right] for a Keras 'same'/'valid' window op. */
function padsFor(layer: AnyLayer, padding: string, kernel: number[], strides: number[]): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') refuse(layer, `padding '${padding}'`);
  const [h, w] = spatialOf(layer);
  const [t, b] = tfSamePads(h, kernel[0], strides[0]);
  const [l, r] = tfSamePads(w, kernel[1], strides[1]);
  return [t, l, b, r];
}

/** A fused Keras activation after the op whose output is `x`: none, or a Relu named `out`. */
function activation(g: GraphBuilder, layer: AnyLayer, act: string | undefined, x: string, out: string): string {
  if (act === undefined || act === 'linear') return x;
  if (act === 'relu') return g.node('Relu', [x], out);
  return refuse(layer, `activation '${act}'`);
}

/** Whether a fused activation follows the op: then it, not the op, outputs under the layer's name. */
const hasActivation = (act: string | undefined): boolean => !!act && act !== 'linear';

interface ConvConfig {
  kernelSize: number[];
  strides: number[];
  padding: string;
  dataFormat?: string;
  dilationRate?: number[] | number;
  activation?: string;
  useBias?: boolean;
}

/**
 * The ONNX Conv weight of a Keras kernel: Conv2D's HWIO → OIHW; DepthwiseConv2D's [kh, kw, C, M]
 * → [C, M, kh, kw] = [C·M, 1, kh, kw] with group C (output channel c·M + m, as in Keras).
 */
function convWeight(g: GraphBuilder, layer: AnyLayer, w: { data: Float32Array; shape: number[] }): { name: string; group: number } {
  const [kh, kw, ci, co] = w.shape;
  if (layer.getClassName() === 'Conv2D') return { name: g.init(`${layer.name}/W`, [co, ci, kh, kw], permute(w.data, w.shape, [3, 2, 0, 1])), group: 1 };
  return { name: g.init(`${layer.name}/W`, [ci * co, 1, kh, kw], permute(w.data, w.shape, [2, 3, 0, 1])), group: ci };
}

/** Conv2D and DepthwiseConv2D → Conv (explicit pads for TF 'same') [+ Relu]. */
const emitConv: LayerEmitter = (g, layer, inputs) => {
  const n = layer.name;
  const c = configOf<ConvConfig>(layer);
  requireChannelsLast(layer, c.dataFormat);
  const dil = Array.isArray(c.dilationRate) ? c.dilationRate : [c.dilationRate ?? 1];
  if (dil.some((d) => d !== 1)) refuse(layer, 'dilation ≠ 1');
  const x = g.as(oneInput(layer, inputs), 'NCHW');
  const ws = weightsOf(layer);
  const [kh, kw] = ws[0].shape;
  const weight = convWeight(g, layer, ws[0]);
  const convInputs = [x.name, weight.name];
  if (c.useBias !== false && ws.length > 1) convInputs.push(g.init(`${n}/B`, ws[1].shape, ws[1].data));
  const attrs = [
    ints('kernel_shape', [kh, kw]),
    ints('strides', c.strides),
    ints('pads', padsFor(layer, c.padding, [kh, kw], c.strides)),
    ints('dilations', [1, 1]),
    int('group', weight.group),
  ];
  const conv = g.node('Conv', convInputs, hasActivation(c.activation) ? `${n}_conv` : n, attrs);
  return { name: activation(g, layer, c.activation, conv, n), rank: 4, layout: 'NCHW' };
};

/** Dense (on a rank-2 input) → Gemm [+ Relu]. */
const emitDense: LayerEmitter = (g, layer, inputs) => {
  const n = layer.name;
  const c = configOf<{ activation?: string; useBias?: boolean }>(layer);
  const x = oneInput(layer, inputs);
  if (x.rank !== 2) refuse(layer, `Dense on a rank-${x.rank} tensor`);
  const ws = weightsOf(layer);
  const gemmInputs = [x.name, g.init(`${n}/W`, ws[0].shape, ws[0].data)];
  if (c.useBias !== false && ws.length > 1) gemmInputs.push(g.init(`${n}/B`, ws[1].shape, ws[1].data));
  const gemm = g.node('Gemm', gemmInputs, hasActivation(c.activation) ? `${n}_gemm` : n);
  return { name: activation(g, layer, c.activation, gemm, n), rank: 2, layout: null };
};

/** BatchNormalization over the last axis → BatchNormalization (inference form; absent γ/β as 1/0). */
const emitBatchNorm: LayerEmitter = (g, layer, inputs) => {
  const n = layer.name;
  const c = configOf<{ axis: number; epsilon: number }>(layer);
  const x0 = oneInput(layer, inputs);
  if (c.axis !== -1 && c.axis !== x0.rank - 1) refuse(layer, `axis ${c.axis}`);
  const x = g.as(x0, 'NCHW');
  // Keras drops γ (scale: false) and β (center: false) from the weights; find the rest by name.
  const byName = new Map(layer.weights.map((w, i) => [w.originalName.slice(w.originalName.lastIndexOf('/') + 1), i]));
  const ws = weightsOf(layer);
  const get = (k: string, fill: number): Float32Array => {
    const i = byName.get(k);
    if (i !== undefined) return ws[i].data;
    return new Float32Array(ws[byName.get('moving_mean') as number].shape[0]).fill(fill);
  };
  const ch = get('moving_mean', 0).length;
  const bnInputs = [
    x.name,
    g.init(`${n}/scale`, [ch], get('gamma', 1)),
    g.init(`${n}/B`, [ch], get('beta', 0)),
    g.init(`${n}/mean`, [ch], get('moving_mean', 0)),
    g.init(`${n}/var`, [ch], get('moving_variance', 1)),
  ];
  g.node('BatchNormalization', bnInputs, n, [float('epsilon', c.epsilon)]);
  return { name: n, rank: x.rank, layout: x.layout };
};

/** ReLU → Relu, or Clip(0, maxValue) with min/max as inputs (opset ≥ 11). */
const emitRelu: LayerEmitter = (g, layer, inputs) => {
  const n = layer.name;
  const x = oneInput(layer, inputs);
  const max = configOf<{ maxValue?: number | null }>(layer).maxValue;
  if (max == null) g.node('Relu', [x.name], n);
  else g.node('Clip', [x.name, g.init(`${n}/min`, [], Float32Array.of(0)), g.init(`${n}/max`, [], Float32Array.of(max))], n);
  return { ...x, name: n };
};

/** Activation relu → Relu, linear → Identity. */
const emitActivation: LayerEmitter = (g, layer, inputs) => {
  const n = layer.name;
  const x = oneInput(layer, inputs);
  const act = configOf<{ activation: string }>(layer).activation;
  if (act === 'linear') g.node('Identity', [x.name], n);
  else activation(g, layer, act, x.name, n);
  return { ...x, name: n };
};

const emitMaxPool: LayerEmitter = (g, layer, inputs) => {
  const c = configOf<{ poolSize: number[]; strides: number[]; padding: string; dataFormat?: string }>(layer);
  requireChannelsLast(layer, c.dataFormat);
  const x = g.as(oneInput(layer, inputs), 'NCHW');
  g.node('MaxPool', [x.name], layer.name, [
    ints('kernel_shape', c.poolSize),
    ints('strides', c.strides),
    ints('pads', padsFor(layer, c.padding, c.poolSize, c.strides)),
  ]);
  return { name: layer.name, rank: 4, layout: 'NCHW' };
};

/** GlobalAveragePooling2D → GlobalAveragePool [N, C, 1, 1] + Flatten [N, C]. */
const emitGlobalAveragePool: LayerEmitter = (g, layer, inputs) => {
  requireChannelsLast(layer, configOf<{ dataFormat?: string }>(layer).dataFormat);
  const x = g.as(oneInput(layer, inputs), 'NCHW');
  const pooled = g.node('GlobalAveragePool', [x.name], `${layer.name}_nc11`);
  g.node('Flatten', [pooled], layer.name, [int('axis', 1)]);
  return { name: layer.name, rank: 2, layout: null };
};

const emitAdd: LayerEmitter = (g, layer, inputs) => {
  if (inputs.length < 2) refuse(layer, 'Add needs two or more inputs');
  return emitMerge(g, layer, inputs, 'Add');
};

/** ZeroPadding2D → Pad (opset ≥ 11: pads as an int64 input), NCHW [0, 0, top, left, 0, 0, bottom, right]. */
const emitZeroPadding: LayerEmitter = (g, layer, inputs) => {
  const c = configOf<{ padding: [[number, number], [number, number]]; dataFormat?: string }>(layer);
  requireChannelsLast(layer, c.dataFormat);
  const x = g.as(oneInput(layer, inputs), 'NCHW');
  const [[t, b], [l, r]] = c.padding;
  g.node('Pad', [x.name, g.initInt64(`${layer.name}/pads`, [0, 0, t, l, 0, 0, b, r])], layer.name);
  return { name: layer.name, rank: 4, layout: 'NCHW' };
};

/** Flatten → (Transpose to NHWC) + Flatten: Keras flattens channels-last tensors in (h, w, c) order. */
const emitFlatten: LayerEmitter = (g, layer, inputs) => {
  const x = g.as(oneInput(layer, inputs), 'NHWC');
  g.node('Flatten', [x.name], layer.name, [int('axis', 1)]);
  return { name: layer.name, rank: 2, layout: null };
};

export const CORE_LAYERS: Readonly<Record<string, LayerEmitter>> = Object.freeze({
  Conv2D: emitConv,
  DepthwiseConv2D: emitConv,
  Dense: emitDense,
  BatchNormalization: emitBatchNorm,
  ReLU: emitRelu,
  Activation: emitActivation,
  MaxPooling2D: emitMaxPool,
  GlobalAveragePooling2D: emitGlobalAveragePool,
  Add: emitAdd,
  ZeroPadding2D: emitZeroPadding,
  Flatten: emitFlatten,
});
