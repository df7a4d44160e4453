/**
 * `--distill-token`: the two heads of a DeiT-distilled graph (timm's VisionTransformerDistilled,
 * DeiT's DistilledVisionTransformer). Exported in eval mode, such a model ends in the average of
 * its class-token head and its distillation-token head:
 *
 *   logits = Div(Add(head(x[:, 0]), head_dist(x[:, 1])), 2)       (or Mul(·, 0.5))
 *
 * In training DeiT uses the two separately — the base criterion on the first, the teacher's term
 * on the second (facebookresearch/deit losses.py::DistillationLoss) — which is what the layer
 * gives the trainer when this finds them; evaluation and export keep the graph's average.
 */
import { optionName, UsageError } from '../../errors.js';
import type { OnnxGraph } from './onnx-graph.js';

export interface DistillationHeads {
  /** The values of the class-token head and of the distillation-token head ([N, K] each). */
  cls: string;
  dist: string;
  /** The nodes computing them, for the run's log. */
  clsNode: string;
  distNode: string;
}

/** The two heads the output averages (Add's first operand is the class head, as timm and DeiT write it). */
export function distillationHeads(graph: OnnxGraph): DistillationHeads {
  const producer = new Map(graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const computed = (name: string) => producer.has(name) && !graph.consts.has(name);
  const scalar = (name: string, v: number) => {
    const c = graph.consts.get(name);
    return c !== undefined && c.data.length === 1 && c.data[0] === v;
  };
  const out = producer.get(graph.outputName);
  const half = out && ((out.op === 'Div' && scalar(out.inputs[1], 2)) || (out.op === 'Mul' && (scalar(out.inputs[1], 0.5) || scalar(out.inputs[0], 0.5))));
  const sumName = half ? (out.op === 'Mul' && scalar(out.inputs[0], 0.5) ? out.inputs[1] : out.inputs[0]) : null;
  const sum = sumName !== null ? producer.get(sumName) : undefined;
  if (!sum || sum.op !== 'Add' || sum.inputs.length !== 2 || !sum.inputs.every(computed)) {
    throw new UsageError(
      `${optionName('distillToken')}: the output of ${graph.file} is not the average of two heads, (head(x_cls) + head_dist(x_dist)) / 2, as a DeiT-distilled model's is`,
      "export a distilled ViT (timm's deit_*_distilled_*, VisionTransformerDistilled) in eval mode, or train without the option",
    );
  }
  const [cls, dist] = sum.inputs;
  return { cls, dist, clsNode: producer.get(cls)!.name, distNode: producer.get(dist)!.name };
}
