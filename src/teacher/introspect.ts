/**
 * What an ONNX image classifier expects and returns. Two sources: the model protobuf (decoded with
 * onnx-proto: opset, metadata_props, declared inputs/outputs — available before any session exists,
 * so a non-ONNX file fails fast) and the session's own input/output metadata (authoritative for
 * dtypes and shapes once a session is open). `resolveIO` turns a description plus the data set's
 * sample shape into the one input / one logits output the teacher uses, or a one-line UsageError.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { UsageError, optionName } from '../errors.js';
import type { OrtSession, OrtValueMetadata } from './ort.js';
import type { Layout } from './types.js';

const { onnx } = onnxProto;

export type Dim = number | string;
interface TensorDesc {
  name: string;
  /** onnxruntime's type names: 'float32', 'float16', 'int64', … */
  dtype: string;
  /** Declared dims; symbolic (or unknown: '?') dims are strings. */
  shape: Dim[];
}
export interface ModelDesc {
  opset: number;
  irVersion: number;
  producer: string;
  metadata: Record<string, string>;
  inputs: TensorDesc[];
  outputs: TensorDesc[];
}

/** ONNX TensorProto.DataType → onnxruntime type name. */
const ONNX_DTYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};

function toNum(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0); // Long → number (dims and opsets are small)
}

function tensorDesc(vi: OnnxTypes.IValueInfoProto): TensorDesc {
  const tt = vi.type?.tensorType;
  const dims = tt?.shape?.dim ?? [];
  return {
    name: vi.name ?? '',
    dtype: tt ? (ONNX_DTYPES[tt.elemType ?? 0] ?? `onnx-type-${tt.elemType}`) : 'non-tensor',
    shape: dims.map((d) => (d.dimValue != null && toNum(d.dimValue) > 0 ? toNum(d.dimValue) : d.dimParam || '?')),
  };
}

/** Decodes the model protobuf; anything that is not a model with a graph is "not an ONNX model". */
export function decodeModel(bytes: Uint8Array, file: string): ModelDesc {
  let m: OnnxTypes.ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch {
    throw new UsageError(`not an ONNX model: ${file}`);
  }
  const g = m.graph;
  if (!g || !g.node?.length || !g.output?.length || !(toNum(m.irVersion) > 0)) throw new UsageError(`not an ONNX model: ${file}`);
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const opsets = m.opsetImport ?? [];
  const main = opsets.find((o) => !o.domain || o.domain === 'ai.onnx');
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? '';
  return {
    opset: toNum(main?.version),
    irVersion: toNum(m.irVersion),
    producer: [m.producerName, m.producerVersion].filter(Boolean).join(' '),
    metadata,
    // Older exporters also list initializers as graph inputs; those are weights, not feeds.
    inputs: (g.input ?? []).filter((i) => !inits.has(i.name ?? '')).map(tensorDesc),
    outputs: g.output.map(tensorDesc),
  };
}

function fromMetadata(m: OrtValueMetadata): TensorDesc {
  if (!m.isTensor) return { name: m.name, dtype: 'non-tensor', shape: [] };
  return { name: m.name, dtype: m.type, shape: m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : String(d || '?'))) };
}

/** The session's view of inputs/outputs replaces the protobuf's where the session has one. */
export function withSessionMetadata(desc: ModelDesc, session: Pick<OrtSession, 'inputMetadata' | 'outputMetadata'>): ModelDesc {
  const ins = session.inputMetadata ?? [];
  const outs = session.outputMetadata ?? [];
  return {
    ...desc,
    inputs: ins.length ? ins.map(fromMetadata) : desc.inputs,
    outputs: outs.length ? outs.map(fromMetadata) : desc.outputs,
  };
}

export const fmtShape = (s: Dim[]): string => `[${s.join(', ')}]`;

export interface ResolvedIO {
  inputName: string;
  inputDtype: 'float32' | 'float16';
  inputShape: Dim[];
  layout: Layout;
  /** Fixed batch when the input declares a numeric batch dim, else null. */
  fixedBatch: number | null;
  /** [H, W] when the model fixes its spatial size, else null. */
  modelSize: [number, number] | null;
  outputName: string;
  outputDtype: 'float32' | 'float16';
  outputShape: Dim[];
  /** K when the output declares it; null when symbolic (found by a probe run). */
  numClasses: number | null;
}

export interface ResolveOptions {
  /** `--output NAME`. */
  output?: string;
  /** `--layout`: must fit the shape. */
  layout?: Layout;
  /** Layout from a preprocessing spec / model metadata: used only where the shape is ambiguous. */
  layoutHint?: Layout;
  data: { height: number; width: number; channels: number };
  file: string;
}

function inferLayout(shape: Dim[], channels: number, o: ResolveOptions, name: string): Layout {
  const [, d1, , d3] = shape;
  const fits = { NCHW: d1 === channels || typeof d1 === 'string', NHWC: d3 === channels || typeof d3 === 'string' };
  const chDesc = `the data has ${channels} channel(s)`;
  if (o.layout) {
    if (!fits[o.layout]) {
      const pos = o.layout === 'NCHW' ? d1 : d3;
      throw new UsageError(`${o.file}: input '${name}' ${fmtShape(shape)} read as ${o.layout} has ${pos} channels, ${chDesc}`, channelFix(pos, channels));
    }
    return o.layout;
  }
  const exact = { NCHW: d1 === channels, NHWC: d3 === channels };
  if (exact.NCHW !== exact.NHWC) return exact.NCHW ? 'NCHW' : 'NHWC';
  if (exact.NCHW && exact.NHWC) return o.layoutHint ?? 'NCHW';
  // No numeric match: a symbolic channel dim may still fit.
  if (fits.NCHW && fits.NHWC) {
    if (o.layoutHint) return o.layoutHint;
    throw new UsageError(`${o.file}: cannot tell the layout of input '${name}' ${fmtShape(shape)}; pass ${optionName('layout')} NCHW or ${optionName('layout')} NHWC`);
  }
  if (fits.NCHW || fits.NHWC) return fits.NCHW ? 'NCHW' : 'NHWC';
  throw new UsageError(`${o.file}: input '${name}' ${fmtShape(shape)} expects ${d1} (NCHW) or ${d3} (NHWC) channels, ${chDesc}`, channelFix(d1 === 1 || d3 === 1 ? 1 : d1 === 3 || d3 === 3 ? 3 : d1, channels));
}

/**
 * The hint for a model fed 1 channel where the data is read as 3, or the other way round: images
 * are converted (PIL's convert) when the preprocessing names the mode.
 */
function channelFix(model: Dim, data: number): string | undefined {
  if (model === 1 && data === 3) return `the model takes grayscale: pass ${optionName('preprocess')} '{"channels": "L"}' (images converted as PIL's convert('L'))`;
  if (model === 3 && data === 1) return `the model takes color: pass ${optionName('preprocess')} '{"channels": "RGB"}' (gray replicated, as PIL's convert('RGB'))`;
  return undefined;
}

/** Picks the image input and the logits output and checks them against the data's sample shape. */
export function resolveIO(desc: ModelDesc, o: ResolveOptions): ResolvedIO {
  if (desc.inputs.length !== 1) {
    throw new UsageError(`${o.file}: a teacher takes one image input, the model has ${desc.inputs.length}: ${desc.inputs.map((i) => i.name).join(', ')}`);
  }
  const input = desc.inputs[0];
  if (input.dtype !== 'float32' && input.dtype !== 'float16') {
    throw new UsageError(`${o.file}: input '${input.name}' is ${input.dtype}; supported input types are float32 and float16`);
  }
  if (input.shape.length !== 4) {
    throw new UsageError(
      `${o.file}: input '${input.name}' ${fmtShape(input.shape)} has rank ${input.shape.length}; ` +
        `an image teacher takes rank 4 (NCHW or NHWC) for data of ${o.data.height}x${o.data.width}x${o.data.channels}`,
    );
  }
  const layout = inferLayout(input.shape, o.data.channels, o, input.name);
  const [b, d1, d2, d3] = input.shape;
  const [h, w] = layout === 'NCHW' ? [d2, d3] : [d1, d2];
  const modelSize: [number, number] | null = typeof h === 'number' && typeof w === 'number' ? [h, w] : null;

  const twoD = desc.outputs.filter((x) => x.shape.length === 2);
  let out: TensorDesc;
  const list = desc.outputs.map((x) => `${x.name} ${fmtShape(x.shape)}`).join(', ');
  if (o.output) {
    const found = desc.outputs.find((x) => x.name === o.output);
    if (!found) throw new UsageError(`${o.file}: no output named '${o.output}' (outputs: ${list})`);
    if (found.shape.length !== 2) throw new UsageError(`${o.file}: output '${found.name}' ${fmtShape(found.shape)} is not 2-D; a teacher's logits are [batch, K]`);
    out = found;
  } else if (twoD.length === 1) {
    out = twoD[0];
  } else if (twoD.length === 0) {
    throw new UsageError(`${o.file}: no 2-D output (outputs: ${list}); a teacher's logits are [batch, K]`);
  } else {
    throw new UsageError(`${o.file}: several 2-D outputs (${twoD.map((x) => x.name).join(', ')}); choose the logits with ${optionName('output')} NAME`);
  }
  if (out.dtype !== 'float32' && out.dtype !== 'float16') {
    throw new UsageError(`${o.file}: output '${out.name}' is ${out.dtype}; supported logits types are float32 and float16`);
  }
  const k = out.shape[1];
  return {
    inputName: input.name,
    inputDtype: input.dtype,
    inputShape: input.shape,
    layout,
    fixedBatch: typeof b === 'number' ? b : null,
    modelSize,
    outputName: out.name,
    outputDtype: out.dtype,
    outputShape: out.shape,
    numClasses: typeof k === 'number' ? k : null,
  };
}
