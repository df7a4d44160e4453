/**
 * Graph rewrites made once when an ONNX student is read (onnx-graph.ts), before anything runs:
 * chains of nodes that are one PyTorch module become that module's op, so they run as one kernel.
 *
 * GELU: below opset 20, torch.onnx.export writes nn.GELU() / F.gelu as
 *     a = Div(x, √2)   b = Erf(a)   c = Add(b, 1)   d = Mul(x, c)   y = Mul(d, 0.5)
 * (commuted operands accepted), which becomes one `Gelu` node (opset 20's op, approximate 'none')
 * when a, b, c and d feed nothing else and are not the graph's output. The chain's own arithmetic
 * is five ops; the Gelu op computes the same function in one pass (zoo/onnx-ops/elementwise.ts).
 * What the graph's file holds is unchanged (export writes the user's nodes).
 */
import type { ConstValue, GraphNode } from './onnx-ops/values.js';

/** The one float scalar a constant holds, or null. */
function scalarOf(consts: ReadonlyMap<string, ConstValue>, name: string): number | null {
  const c = consts.get(name);
  return c && c.data.length === 1 ? Number(c.data[0]) : null;
}

const near = (v: number | null, want: number): boolean => v !== null && Math.abs(v - want) <= 1e-6 * Math.abs(want);

/** For a binary node with one input `x`, the other input's name (either order); null if `x` is neither. */
function other(n: GraphNode, x: string): string | null {
  if (n.inputs[0] === x) return n.inputs[1] ?? null;
  if (n.inputs[1] === x) return n.inputs[0] ?? null;
  return null;
}

/** Folds every GELU chain of `nodes` into one Gelu node (module comment); the other nodes keep their order. */
export function foldGelu(nodes: readonly GraphNode[], consts: ReadonlyMap<string, ConstValue>, graphOutput: string): GraphNode[] {
  const consumers = new Map<string, GraphNode[]>();
  for (const n of nodes) for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  /** The single consumer of `name`, of op `op`, unless `name` is the graph's output. */
  const only = (name: string, op: string): GraphNode | null => {
    const c = consumers.get(name) ?? [];
    return name !== graphOutput && c.length === 1 && c[0].op === op ? c[0] : null;
  };
  const removed = new Set<GraphNode>();
  const replace = new Map<GraphNode, GraphNode>();
  for (const erf of nodes) {
    if (erf.op !== 'Erf') continue;
    const div = nodes.find((n) => n.op === 'Div' && n.outputs[0] === erf.inputs[0]);
    if (!div || !near(scalarOf(consts, div.inputs[1]), Math.SQRT2)) continue;
    const x = div.inputs[0];
    if (!only(div.outputs[0], 'Erf')) continue;
    const add = only(erf.outputs[0], 'Add');
    if (!add || !near(scalarOf(consts, other(add, erf.outputs[0]) ?? ''), 1)) continue;
    const mul = only(add.outputs[0], 'Mul');
    if (!mul || other(mul, add.outputs[0]) !== x) continue;
    const half = only(mul.outputs[0], 'Mul');
    if (!half || !near(scalarOf(consts, other(half, mul.outputs[0]) ?? ''), 0.5)) continue;
    for (const n of [div, erf, add, mul]) removed.add(n);
    replace.set(half, { op: 'Gelu', name: `${erf.name} (GELU)`, inputs: [x], outputs: [half.outputs[0]], attrs: { approximate: 'none' } });
  }
  return nodes.filter((n) => !removed.has(n)).map((n) => replace.get(n) ?? n);
}
