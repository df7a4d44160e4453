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

/**
 * Stochastic depth (drop path) for an imported student: an eval-mode export holds no
 * StochasticDepth / DropPath modules (they are identities there), so `--drop-path R` puts them
 * back on the residual branches. A residual Add is one whose operands are both computed from the
 * image and one depends on the other — `x + branch(x)` in ViT, DeiT, Swin and ConvNeXt blocks (a
 * shortcut that is a layer of its own, as in a downsampling ResNet block, is neither and is left
 * alone). The branch operand gets a `TfkdDropPath` node before the Add.
 * Rates follow timm's and torchvision's stochastic-depth decay rule: blocks (the Adds of one
 * module scope, the node name up to its last '/') in graph order, block i of B gets R·i/(B − 1)
 * (timm: linspace(0, drop_path_rate, depth); torchvision Swin / ConvNeXt: p·block_id/(blocks − 1)),
 * so the first block has rate 0 and draws no mask, as PyTorch's StochasticDepth(p = 0) draws none.
 */
export function insertDropPath(nodes: readonly GraphNode[], rate: number, isTensor: (name: string) => boolean): GraphNode[] {
  if (!(rate > 0)) return [...nodes];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  /** Whether value `a` is among the inputs `b` is computed from (a search back from b's producer). */
  const dependsOn = (b: string, a: string): boolean => {
    const stop = producer.get(a) ?? -1;
    const seen = new Set<number>();
    const stack = [producer.get(b)];
    while (stack.length) {
      const i = stack.pop();
      if (i === undefined || i <= stop || seen.has(i)) continue;
      seen.add(i);
      for (const inp of nodes[i].inputs) {
        if (inp === a) return true;
        stack.push(producer.get(inp));
      }
    }
    return false;
  };
  const residual: Array<{ at: number; branch: 0 | 1 }> = [];
  nodes.forEach((n, i) => {
    if (n.op !== 'Add' || n.inputs.length !== 2 || !n.inputs.every(isTensor)) return;
    const [a, b] = n.inputs;
    if (dependsOn(b, a)) residual.push({ at: i, branch: 1 });
    else if (dependsOn(a, b)) residual.push({ at: i, branch: 0 });
  });
  const scopeOf = (n: GraphNode) => (n.name.includes('/') ? n.name.slice(0, n.name.lastIndexOf('/')) : n.name);
  const blocks = [...new Set(residual.map((r) => scopeOf(nodes[r.at])))];
  const rateOf = (scope: string) => (blocks.length === 1 ? rate : (rate * blocks.indexOf(scope)) / (blocks.length - 1));
  const out: GraphNode[] = [];
  const byAt = new Map(residual.map((r) => [r.at, r.branch]));
  nodes.forEach((n, i) => {
    const branch = byAt.get(i);
    if (branch === undefined) return void out.push(n);
    const src = n.inputs[branch];
    const dropped = `${src}#drop_path`;
    out.push({ op: 'TfkdDropPath', name: `${n.name} (drop path)`, inputs: [src], outputs: [dropped], attrs: { rate: rateOf(scopeOf(n)) } });
    out.push({ ...n, inputs: n.inputs.map((x, j) => (j === branch ? dropped : x)) });
  });
  return out;
}

/** The residual branches `insertDropPath` found and their rates, in graph order (for the run's log and tests). */
export function dropPathRates(nodes: readonly GraphNode[]): number[] {
  return nodes.filter((n) => n.op === 'TfkdDropPath').map((n) => Number(n.attrs.rate));
}
