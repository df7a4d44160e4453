/**
 * ONNX mappings of the layers zoo `mobilenet_v3_small` adds to the core set of onnx.ts (which calls
 * `emitMoreLayer` for any class it does not map itself):
 *   HardSwish → HardSigmoid(α = 1/6, β = 0.5) · x (Mul): PyTorch's x · relu6(x + 3) / 6, in an op
 *               every opset 13–17 has (ONNX HardSwish needs 14)
 *   HardSigmoid → HardSigmoid(α = 1/6, β = 0.5) · SeededDropout → Identity (inference form)
 *   Reshape [B, C] → [B, 1, 1, C] → Reshape to NCHW [B, C, 1, 1] (the squeeze-excitation's 1×1 convs)
 *   Multiply → Mul (NCHW, ONNX broadcasting: [B, C, H, W] · [B, C, 1, 1])
 * Structural types only: this file must not import onnx.ts (which imports it).
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { Layout } from '../teacher/types.js';
import type { tf } from '../student/tf.js';

const { onnx } = onnxProto;
const A = onnx.AttributeProto.AttributeType;

/** What onnx.ts's GraphBuilder offers (its node/initializer lists and the layout adapter). */
export interface OnnxEmitter {
  readonly initializers: OnnxTypes.ITensorProto[];
  node(opType: string, inputs: string[], output: string, attribute?: OnnxTypes.IAttributeProto[]): string;
  as(v: EmittedValue, layout: Layout): EmittedValue;
}

export interface EmittedValue {
  name: string;
  rank: number;
  layout: Layout | null;
}

type AnyLayer = tf.LayersModel['layers'][number];

const hardSigmoid = (g: OnnxEmitter, x: string, out: string): string =>
  g.node('HardSigmoid', [x], out, [
    { name: 'alpha', type: A.FLOAT, f: 1 / 6 },
    { name: 'beta', type: A.FLOAT, f: 0.5 },
  ]);

/** The ONNX value of `layer` applied to `inputs`; `refuse` (onnx.ts's UsageError naming the layer) otherwise. */
export function emitMoreLayer(g: OnnxEmitter, layer: AnyLayer, inputs: EmittedValue[], refuse: (layer: AnyLayer, why: string) => never): EmittedValue {
  const n = layer.name;
  const cls = layer.getClassName();
  if (cls === 'Multiply') {
    if (inputs.length < 2 || inputs.some((v) => v.rank !== inputs[0].rank)) return refuse(layer, 'Multiply needs two or more inputs of one rank');
    const rank = inputs[0].rank;
    const xs = inputs.map((v) => (rank === 4 ? g.as(v, 'NCHW') : v));
    let acc = xs[0].name;
    for (let i = 1; i < xs.length; i++) acc = g.node('Mul', [acc, xs[i].name], i === xs.length - 1 ? n : `${n}_${i}`);
    return { name: n, rank, layout: rank === 4 ? 'NCHW' : null };
  }
  if (inputs.length !== 1) return refuse(layer, `expected one input, got ${inputs.length}`);
  const x = inputs[0];
  switch (cls) {
    case 'HardSwish':
      g.node('Mul', [x.name, hardSigmoid(g, x.name, `${n}_hsig`)], n);
      return { ...x, name: n };
    case 'HardSigmoid':
      hardSigmoid(g, x.name, n);
      return { ...x, name: n };
    case 'SeededDropout':
      g.node('Identity', [x.name], n);
      return { ...x, name: n };
    case 'Reshape': {
      const target = (layer.getConfig() as { targetShape?: number[] }).targetShape ?? [];
      if (x.rank !== 2 || target.length !== 3 || target[0] !== 1 || target[1] !== 1) return refuse(layer, `Reshape to [${target}] (only [B, C] → [B, 1, 1, C])`);
      const shape = new Uint8Array(32);
      new BigInt64Array(shape.buffer).set([0n, BigInt(target[2]), 1n, 1n]);
      g.initializers.push({ name: `${n}/shape`, dims: [4], dataType: onnx.TensorProto.DataType.INT64, rawData: shape });
      g.node('Reshape', [x.name, `${n}/shape`], n);
      return { name: n, rank: 4, layout: 'NCHW' };
    }
    default:
      return refuse(layer, 'no ONNX mapping for this layer type');
  }
}
