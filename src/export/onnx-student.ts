/**
 * Export of an `onnx:FILE` student (issue 19): the trained weights written back into the user's own
 * graph — the same nodes, the same initializer names with new values, the updated BatchNorm running
 * statistics — so the file stays what the user exported, with tfkd's training in it.
 *
 * Two changes to the graph besides the values: `Identity(initializer)` nodes that the import turned
 * into separate weights (torch.onnx.export shares identical parameters that way; training makes
 * them differ) become initializers of their output names; and the metadata gets `tfkd.preprocess`
 * (NCHW, the normalisation the student trained with, its eval transform) and `tfkd.model` (the
 * ModelSpec), so `tfkd eval M.onnx` and `tfkd precompute --teacher M.onnx` need no flags.
 * The source file must still have the sha256 the run recorded.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { WorkError, UsageError } from '../errors.js';
import type { ModelSpec, WeightRecord } from '../student/zoo/index.js';
import { readOnnxGraph } from '../student/zoo/onnx-graph.js';
import { weightKeys } from '../student/zoo/onnx-layer.js';
import type { PreprocessSpec } from '../teacher/types.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

export interface OnnxStudentExportOptions {
  /** The student's eval transform (as for zoo students), absent for fixed-size data at its size. */
  render?: Pick<PreprocessSpec, 'resize' | 'crop' | 'cropRounding' | 'interpolation' | 'channels'>;
  producerVersion?: string;
}

function floatBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const dv = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) dv.setFloat32(i * 4, values[i], true);
  return bytes;
}

/** The user's graph with the checkpoint's weights, as ONNX bytes. */
export function exportOnnxStudent(spec: ModelSpec, weights: WeightRecord, opts: OnnxStudentExportOptions): Uint8Array {
  const o = spec.onnx;
  if (!o) throw new UsageError(`model ${spec.name} is not an ONNX student`);
  const graph = readOnnxGraph(o.file);
  if (graph.sha256 !== o.sha256) throw new UsageError(`${spec.name}: the file changed since the run (sha256 ${graph.sha256.slice(0, 12)}…, the run has ${o.sha256.slice(0, 12)}…)`, 'put the original file back at that path');
  const keys = weightKeys(graph);
  const value = (name: string): { dims: number[]; rawData: Uint8Array } => {
    const e = weights[`onnx/${keys.get(name)}`];
    const w = graph.weights.find((x) => x.name === name)!;
    if (!e) throw new WorkError(`checkpoint lacks weight onnx/${keys.get(name)} (initializer ${name})`);
    if (e.data.length !== w.data.length) throw new WorkError(`checkpoint weight onnx/${keys.get(name)} has ${e.data.length} values, the graph's ${name} ${w.data.length}`);
    return { dims: w.shape, rawData: floatBytes(e.data) };
  };
  const proto = graph.proto;
  const g = proto.graph!;
  const trained = new Set(graph.weights.map((w) => w.name));
  const initializer: OnnxTypes.ITensorProto[] = (g.initializer ?? []).map((t) => {
    if (!trained.has(t.name ?? '')) return t;
    const v = value(t.name!);
    return { name: t.name, dims: v.dims, dataType: FLOAT, rawData: v.rawData, docString: t.docString };
  });
  for (const out of graph.identityWeights.keys()) {
    const v = value(out);
    initializer.push({ name: out, dims: v.dims, dataType: FLOAT, rawData: v.rawData });
  }
  const node = (g.node ?? []).filter((n) => !(n.opType === 'Identity' && graph.identityWeights.has(n.output?.[0] ?? '')));
  const [H, W, C] = spec.inputShape;
  const n = o.normalize;
  const preprocess: Partial<PreprocessSpec> = {
    layout: 'NCHW',
    size: [H, W],
    scale: n.scale,
    mean: n.mean,
    std: n.std,
    ...(opts.render ?? {}),
    channels: n.bgr ? 'BGR' : C === 1 ? 'L' : 'RGB',
  };
  const meta = (proto.metadataProps ?? []).filter((p) => p.key !== 'tfkd.preprocess' && p.key !== 'tfkd.model');
  meta.push({ key: 'tfkd.preprocess', value: JSON.stringify(preprocess) }, { key: 'tfkd.model', value: JSON.stringify(spec) });
  const out = onnx.ModelProto.create({
    ...proto,
    producerName: proto.producerName ? `${proto.producerName} + tfkd` : 'tfkd',
    producerVersion: opts.producerVersion ?? proto.producerVersion ?? '',
    graph: { ...g, node, initializer },
    metadataProps: meta,
  });
  return onnx.ModelProto.encode(out).finish();
}
