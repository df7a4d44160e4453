/**
 * ONNX mappings of the layers zoo `mobilenet_v3_small` adds to the core set (onnx-core-layers.ts),
 * one emitter per layer class in `MOBILENET_V3_LAYERS`:
 *   HardSwish → HardSigmoid(α = 1/6, β = 0.5) · x (Mul): PyTorch's x · relu6(x + 3) / 6, in an op
 *               every opset 13–17 has (ONNX HardSwish needs 14)
 *   HardSigmoid → HardSigmoid(α = 1/6, β = 0.5) · SeededDropout → Identity (inference form)
 *   Reshape [B, C] → [B, 1, 1, C] → Reshape to NCHW [B, C, 1, 1] (the squeeze-excitation's 1×1 convs)
 *   Multiply → Mul (NCHW, ONNX broadcasting: [B, C, H, W] · [B, C, 1, 1])
 */
import { configOf, emitMerge, float, oneInput, refuse, type GraphBuilder, type LayerEmitter } from './onnx-graph-builder.js';

const hardSigmoid = (g: GraphBuilder, x: string, out: string): string => g.node('HardSigmoid', [x], out, [float('alpha', 1 / 6), float('beta', 0.5)]);

const emitMultiply: LayerEmitter = (g, layer, inputs) => {
  if (inputs.length < 2 || inputs.some((v) => v.rank !== inputs[0].rank)) return refuse(layer, 'Multiply needs two or more inputs of one rank');
  return emitMerge(g, layer, inputs, 'Mul');
};

const emitHardSwish: LayerEmitter = (g, layer, inputs) => {
  const x = oneInput(layer, inputs);
  g.node('Mul', [x.name, hardSigmoid(g, x.name, `${layer.name}_hsig`)], layer.name);
  return { ...x, name: layer.name };
};

const emitHardSigmoid: LayerEmitter = (g, layer, inputs) => {
  const x = oneInput(layer, inputs);
  hardSigmoid(g, x.name, layer.name);
  return { ...x, name: layer.name };
};

const emitSeededDropout: LayerEmitter = (g, layer, inputs) => {
  const x = oneInput(layer, inputs);
  g.node('Identity', [x.name], layer.name);
  return { ...x, name: layer.name };
};

/** Only the squeeze-excitation's [B, C] → [B, 1, 1, C], as [B, C] → NCHW [B, C, 1, 1]. */
const emitReshape: LayerEmitter = (g, layer, inputs) => {
  const x = oneInput(layer, inputs);
  const target = configOf<{ targetShape?: number[] }>(layer).targetShape ?? [];
  if (x.rank !== 2 || target.length !== 3 || target[0] !== 1 || target[1] !== 1) return refuse(layer, `Reshape to [${target}] (only [B, C] → [B, 1, 1, C])`);
  g.node('Reshape', [x.name, g.initInt64(`${layer.name}/shape`, [0, target[2], 1, 1])], layer.name);
  return { name: layer.name, rank: 4, layout: 'NCHW' };
};

export const MOBILENET_V3_LAYERS: Readonly<Record<string, LayerEmitter>> = Object.freeze({
  HardSwish: emitHardSwish,
  HardSigmoid: emitHardSigmoid,
  SeededDropout: emitSeededDropout,
  Reshape: emitReshape,
  Multiply: emitMultiply,
});
