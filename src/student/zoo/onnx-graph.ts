/**
 * An ONNX classifier read for training (issue 19): the protobuf decoded with onnx-proto into a
 * plain graph — nodes in order, float initializers (the weights a student trains), every other
 * initializer and Constant as a small constant — checked before anything trains: every op must be
 * one tfkd can train (onnx-ops/), the graph must have one image input and one output.
 *
 * One rewrite: torch.onnx.export stores parameters of identical value once and feeds the others
 * through `Identity(initializer)` nodes whose outputs carry the state_dict names (seeded BatchNorm
 * γ = 1, β = 0 are the common case). Trained, they must become separate parameters, as in PyTorch,
 * so each such Identity turns into its own weight named after its output (and export writes it
 * back as an initializer of that name). And GELU chains become one Gelu node (onnx-fold.ts).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { UsageError } from '../../errors.js';
import { foldGelu } from './onnx-fold.js';
import { SUPPORTED_OPS } from './onnx-ops/index.js';
import type { AttrValue, ConstValue, GraphNode } from './onnx-ops/values.js';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;

export interface OnnxWeight {
  /** The initializer's name in the graph (the state_dict name for torch exports). */
  name: string;
  shape: number[];
  data: Float32Array;
  /** BatchNormalization running mean / variance: updated by the forward pass, not by gradients. */
  runningStat: boolean;
}

export interface OnnxGraph {
  file: string;
  sha256: string;
  opset: number;
  metadata: Record<string, string>;
  inputName: string;
  /** Declared input dims (NCHW); symbolic dims are null. */
  inputShape: Array<number | null>;
  outputName: string;
  outputShape: Array<number | null>;
  nodes: GraphNode[];
  weights: OnnxWeight[];
  /** Integer and non-weight float initializers, and Constant nodes' values. */
  consts: Map<string, ConstValue>;
  /** Identity nodes turned into weights: output name → the initializer they copied. */
  identityWeights: Map<string, string>;
  /** True when the graph has convolutions with biases but no BatchNormalization (folded on export) nor LayerNormalization. */
  folded: boolean;
  /** The decoded model (export writes the trained values back into it). */
  proto: OnnxTypes.ModelProto;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

/** An initializer / Constant tensor → its values (float32 or plain numbers). */
function tensorValues(t: OnnxTypes.ITensorProto, what: string): ConstValue {
  const dims = (t.dims ?? []).map(num);
  const n = dims.reduce((a, d) => a * d, 1);
  const raw = t.rawData && t.rawData.length ? t.rawData : null;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) throw new UsageError(`${what}: tensor ${t.name} is stored in an external file; save the model with its weights inside (onnx.save(..., save_as_external_data=False))`);
  const dv = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  switch (t.dataType) {
    case DT.FLOAT: {
      const out = new Float32Array(n);
      if (dv) for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      else out.set((t.floatData ?? []).slice(0, n));
      return { dtype: 'float32', shape: dims, data: out };
    }
    case DT.DOUBLE: {
      const out = new Float32Array(n);
      if (dv) for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      else out.set((t.doubleData ?? []).slice(0, n));
      return { dtype: 'float32', shape: dims, data: out };
    }
    case DT.INT64: {
      const out = new Array<number>(n);
      if (dv) for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      else for (let i = 0; i < n; i++) out[i] = num((t.int64Data ?? [])[i]);
      return { dtype: 'int', shape: dims, data: out };
    }
    case DT.INT32: {
      const out = new Array<number>(n);
      if (dv) for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      else for (let i = 0; i < n; i++) out[i] = num((t.int32Data ?? [])[i]);
      return { dtype: 'int', shape: dims, data: out };
    }
    case DT.BOOL: {
      const out = new Array<number>(n);
      for (let i = 0; i < n; i++) out[i] = dv ? dv.getUint8(i) : num((t.int32Data ?? [])[i]);
      return { dtype: 'int', shape: dims, data: out };
    }
    default:
      throw new UsageError(`${what}: tensor ${t.name} has ONNX data type ${t.dataType}, which tfkd cannot train (float32, float64, int32, int64 and bool only)`);
  }
}

function attrValue(a: OnnxTypes.IAttributeProto, what: string): AttrValue {
  const A = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case A.INT:
      return num(a.i);
    case A.FLOAT:
      return a.f ?? 0;
    case A.INTS:
      return (a.ints ?? []).map(num);
    case A.FLOATS:
      return [...(a.floats ?? [])];
    case A.STRING:
      return Buffer.from(a.s ?? new Uint8Array()).toString('utf8');
    case A.TENSOR:
      return tensorValues(a.t ?? {}, what);
    default:
      return null;
  }
}

function dimsOf(vi: OnnxTypes.IValueInfoProto): Array<number | null> {
  return (vi.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue != null && num(d.dimValue) > 0 ? num(d.dimValue) : null));
}

/** The file's bytes decoded, with their sha256; UsageError unless it is an ONNX model with a graph. */
function decodeModel(file: string, what: string): { proto: OnnxTypes.ModelProto; graph: OnnxTypes.IGraphProto; sha256: string } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`${what}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  let proto: OnnxTypes.ModelProto;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch {
    throw new UsageError(`${what}: not an ONNX model`);
  }
  const graph = proto.graph;
  if (!graph || !graph.node?.length) throw new UsageError(`${what}: not an ONNX model (no graph)`);
  return { proto, graph, sha256 };
}

/** The graph's one image input [N, C, H, W] (initializers listed as inputs are not inputs) and its one logits output. */
function imageInputAndLogits(g: OnnxTypes.IGraphProto, inits: Map<string, ConstValue>, what: string) {
  const inputs = (g.input ?? []).filter((i) => !inits.has(i.name ?? ''));
  if (inputs.length !== 1) throw new UsageError(`${what}: the graph has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); a student takes one image input`);
  const outputs = g.output ?? [];
  if (outputs.length !== 1) throw new UsageError(`${what}: the graph has ${outputs.length} outputs; a student needs one [N, K] logits output`);
  const inputShape = dimsOf(inputs[0]);
  if (inputShape.length !== 4) throw new UsageError(`${what}: input ${inputs[0].name} has rank ${inputShape.length}; a student takes images [N, C, H, W]`);
  const outputShape = dimsOf(outputs[0]);
  if (outputShape.length !== 0 && outputShape.length !== 2) throw new UsageError(`${what}: output ${outputs[0].name} has rank ${outputShape.length}; a student needs one [N, K] logits output`);
  return { inputName: inputs[0].name ?? '', inputShape, outputName: outputs[0].name ?? '', outputShape };
}

/** The float initializers that are BatchNormalization running statistics (its inputs 3 and 4). */
function runningStatNames(g: OnnxTypes.IGraphProto): Set<string> {
  const running = new Set<string>();
  for (const n of g.node ?? []) if (n.opType === 'BatchNormalization') for (const i of [3, 4]) if (n.input?.[i]) running.add(n.input[i]);
  return running;
}

/** What the graph's initializers and nodes become: the student's nodes, weights and constants. */
interface GraphParts {
  nodes: GraphNode[];
  weights: OnnxWeight[];
  consts: Map<string, ConstValue>;
  identityWeights: Map<string, string>;
  /** One line per node tfkd cannot train, in graph order. */
  unsupported: string[];
}

/** Initializers split: float tensors of rank ≥ 1 are weights, the rest (integers, scalars) constants. */
function initializerParts(inits: Map<string, ConstValue>, running: Set<string>): GraphParts {
  const parts: GraphParts = { nodes: [], weights: [], consts: new Map(), identityWeights: new Map(), unsupported: [] };
  for (const [name, v] of inits) {
    if (v.dtype === 'float32' && v.shape.length > 0) parts.weights.push({ name, shape: v.shape, data: v.data as Float32Array, runningStat: running.has(name) });
    else parts.consts.set(name, v);
  }
  return parts;
}

/** A Constant node's value (its first attribute: a tensor, or a float / int / floats / ints); null for others. */
function constantValue(a: OnnxTypes.IAttributeProto | undefined, what: string): ConstValue | null {
  const AT = onnx.AttributeProto.AttributeType;
  const v = a ? attrValue(a, what) : null;
  if (typeof v === 'number') return a?.type === AT.FLOAT ? { dtype: 'float32', shape: [], data: Float32Array.of(v) } : { dtype: 'int', shape: [], data: [v] };
  if (Array.isArray(v)) return a?.type === AT.FLOATS ? { dtype: 'float32', shape: [v.length], data: Float32Array.from(v) } : { dtype: 'int', shape: [v.length], data: v };
  return v && typeof v === 'object' ? v : null;
}

/**
 * Adds node `n` to `parts`: an Identity of a float initializer becomes its own weight (module
 * comment), a Constant a constant, a node of a trainable op a GraphNode; anything else is noted
 * as unsupported.
 */
function addNode(parts: GraphParts, n: OnnxTypes.INodeProto, inits: Map<string, ConstValue>, running: Set<string>, what: string): void {
  const op = n.opType ?? '';
  const label = n.name || n.output?.[0] || '?';
  if (n.domain && n.domain !== 'ai.onnx') {
    parts.unsupported.push(`${op} (domain ${n.domain}) at node ${label}`);
  } else if (op === 'Identity' && n.input?.[0] && inits.get(n.input[0])?.dtype === 'float32') {
    const src = inits.get(n.input[0])!;
    const out = n.output![0];
    parts.weights.push({ name: out, shape: src.shape, data: Float32Array.from(src.data as Float32Array), runningStat: running.has(out) });
    parts.identityWeights.set(out, n.input[0]);
  } else if (op === 'Constant') {
    const a = (n.attribute ?? [])[0];
    const c = constantValue(a, what);
    if (c) parts.consts.set(n.output![0], c);
    else parts.unsupported.push(`Constant with attribute ${a?.name} at node ${label}`);
  } else if (!SUPPORTED_OPS.has(op)) {
    parts.unsupported.push(`${op} at node ${label}`);
  } else {
    const attrs: Record<string, AttrValue> = {};
    for (const a of n.attribute ?? []) attrs[a.name ?? ''] = attrValue(a, what);
    parts.nodes.push({ op, name: label, inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs });
  }
}

/** One line for every op tfkd cannot train: the first in full, the others' op types. */
function refuseUnsupported(unsupported: string[], what: string): void {
  if (!unsupported.length) return;
  const more = unsupported.length > 1 ? ` (and ${unsupported.length - 1} more: ${[...new Set(unsupported.slice(1).map((u) => u.split(' ')[0]))].join(', ')})` : '';
  throw new UsageError(`${what}: cannot train op ${unsupported[0]}${more}`, `ops tfkd trains: ${[...SUPPORTED_OPS].sort().join(', ')}`);
}

/**
 * Reads and checks `file` (module comment): decode → initializer values → the image input and
 * logits output → weights, constants and trainable nodes → refuse any op tfkd cannot train.
 * UsageError with one line for anything tfkd cannot train.
 */
export function readOnnxGraph(file: string): OnnxGraph {
  const what = `--model onnx:${file}`;
  const { proto, graph: g, sha256 } = decodeModel(file, what);
  const main = (proto.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const metadata: Record<string, string> = {};
  for (const p of proto.metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? '';

  const inits = new Map<string, ConstValue>();
  for (const t of g.initializer ?? []) inits.set(t.name ?? '', tensorValues(t, what));
  const io = imageInputAndLogits(g, inits, what);
  const running = runningStatNames(g);
  const parts = initializerParts(inits, running);
  for (const n of g.node ?? []) addNode(parts, n, inits, running, what);
  refuseUnsupported(parts.unsupported, what);

  const nodes = foldGelu(parts.nodes, parts.consts, io.outputName);
  // LayerNorm nets (ViT, ConvNeXt) have conv biases and no BatchNorm by design, not by folding. A
  // net that mixes the two (MobileViT) and was exported folded passes this check unnoticed.
  const hasBn = parts.nodes.some((n) => n.op === 'BatchNormalization' || n.op === 'LayerNormalization');
  const convBias = parts.nodes.some((n) => n.op === 'Conv' && n.inputs.length > 2 && n.inputs[2] !== '');
  return {
    file,
    sha256,
    opset: num(main?.version),
    metadata,
    ...io,
    nodes,
    weights: parts.weights,
    consts: parts.consts,
    identityWeights: parts.identityWeights,
    folded: !hasBn && convBias,
    proto,
  };
}
