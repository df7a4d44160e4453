/**
 * Tiny ONNX teachers built in-process with onnx-proto, for unit tests here and in other areas
 * (cache tests use them as cheap, deterministic teachers).
 *
 * The graph is a linear classifier: [Cast to float] → Flatten → MatMul W → Add b → [Cast] → logits.
 * The weights are a seeded function of (h, w, c, k) laid out to match the input layout, so an NCHW
 * and an NHWC build of the same options compute the *same* function of the image; `tinyTeacherForward`
 * is an independent float64 reference of that function.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;

export interface TinyTeacherOptions {
  height?: number; // default 4
  width?: number; // default 4
  channels?: number; // default 1
  numClasses?: number; // default 3
  layout?: 'NCHW' | 'NHWC'; // default NCHW
  inputDtype?: 'float32' | 'float16'; // float16: input is float16, Cast to float inside
  outputDtype?: 'float32' | 'float16'; // float16: logits Cast to float16 at the end
  /** A fixed batch size declared in the input/output shapes; default dynamic ('batch'). */
  fixedBatch?: number;
  /** Bad teacher: the logits come out as [N, K, 1, 1]. */
  output4d?: boolean;
  /** Extra outputs: 'features' = the input itself (4-D), 'probs' = softmax of the logits (2-D). */
  extraOutputs?: Array<'features' | 'probs'>;
  /** Leave the spatial dims symbolic ('h', 'w') instead of fixed numbers. */
  symbolicSpatial?: boolean;
  /** Leave the channel dim symbolic ('c'), so the layout cannot be inferred from the shape. */
  symbolicChannels?: boolean;
  /** Declare the logits as [batch, 'k'] (K then found by running the model). */
  symbolicClasses?: boolean;
  metadata?: Record<string, string>;
  seed?: number;
  opset?: number; // default 13
  inputName?: string; // default 'pixels'
  outputName?: string; // default 'logits'
  /** The K biases instead of the default ones (NaN here makes a model whose outputs are NaN). */
  bias?: number[];
}

type Full = Required<Omit<TinyTeacherOptions, 'fixedBatch' | 'metadata' | 'bias'>> & Pick<TinyTeacherOptions, 'fixedBatch' | 'metadata' | 'bias'>;

function full(o: TinyTeacherOptions): Full {
  return {
    height: 4, width: 4, channels: 1, numClasses: 3, layout: 'NCHW', inputDtype: 'float32', outputDtype: 'float32',
    output4d: false, extraOutputs: [], symbolicSpatial: false, symbolicChannels: false, symbolicClasses: false, seed: 1, opset: 13,
    inputName: 'pixels', outputName: 'logits', ...o,
  };
}

/** Deterministic weight in [-0.5, 0.5) for (h, w, c, k): a hash, so no RNG state to carry. */
function weight(seed: number, h: number, w: number, c: number, k: number): number {
  let x = (seed * 0x9e3779b1) ^ (h * 0x85ebca6b) ^ (w * 0xc2b2ae35) ^ (c * 0x27d4eb2f) ^ (k * 0x165667b1);
  x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d);
  x = Math.imul(x ^ (x >>> 12), 0x297a2d39);
  x ^= x >>> 15;
  return ((x >>> 0) / 2 ** 32 - 0.5);
}
function bias(seed: number, k: number): number {
  return 0.1 * k - 0.05 * seed;
}

function f32Bytes(values: ArrayLike<number>): Uint8Array {
  const a = Float32Array.from(values);
  return new Uint8Array(a.buffer);
}
function i64Bytes(values: number[]): Uint8Array {
  return new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
}

function valueInfo(name: string, elemType: number, dims: Array<number | string>) {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** The serialized .onnx bytes of a tiny teacher. */
export function buildTinyTeacher(opts: TinyTeacherOptions = {}): Uint8Array {
  const o = full(opts);
  const { height: H, width: W, channels: C, numClasses: K, seed } = o;
  const D = H * W * C;
  const b: number | string = o.fixedBatch ?? 'batch';
  const h: number | string = o.symbolicSpatial ? 'h' : H;
  const w: number | string = o.symbolicSpatial ? 'w' : W;
  const c: number | string = o.symbolicChannels ? 'c' : C;
  const inShape = o.layout === 'NCHW' ? [b, c, h, w] : [b, h, w, c];

  // W[d, k] with d the flattened index in the model's own layout.
  const wm = new Float64Array(D * K);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let ch = 0; ch < C; ch++) {
        const d = o.layout === 'NCHW' ? ch * H * W + y * W + x : (y * W + x) * C + ch;
        for (let k = 0; k < K; k++) wm[d * K + k] = weight(seed, y, x, ch, k);
      }
  const bv = o.bias ?? Array.from({ length: K }, (_, k) => bias(seed, k));

  const nodes: object[] = [];
  const inDt = o.inputDtype === 'float16' ? DT.FLOAT16 : DT.FLOAT;
  let x = o.inputName;
  if (o.inputDtype === 'float16') {
    nodes.push({ opType: 'Cast', input: [x], output: ['x32'], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DT.FLOAT }] });
    x = 'x32';
  }
  nodes.push({ opType: 'Flatten', input: [x], output: ['flat'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] });
  nodes.push({ opType: 'MatMul', input: ['flat', 'W'], output: ['mm'] });
  const logits32 = o.outputDtype === 'float16' || o.output4d ? 'logits32' : o.outputName;
  nodes.push({ opType: 'Add', input: ['mm', 'B'], output: [logits32] });
  let last = logits32;
  if (o.output4d) {
    const tgt = o.outputDtype === 'float16' ? 'l4' : o.outputName;
    nodes.push({ opType: 'Reshape', input: [last, 'shape4'], output: [tgt] });
    last = tgt;
  }
  if (o.outputDtype === 'float16') {
    nodes.push({ opType: 'Cast', input: [last], output: [o.outputName], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DT.FLOAT16 }] });
  }
  const outDt = o.outputDtype === 'float16' ? DT.FLOAT16 : DT.FLOAT;
  const kDim: number | string = o.symbolicClasses ? 'k' : K;
  const outputs = [valueInfo(o.outputName, outDt, o.output4d ? [b, kDim, 1, 1] : [b, kDim])];
  for (const e of o.extraOutputs) {
    if (e === 'features') {
      nodes.push({ opType: 'Identity', input: [o.inputName], output: ['features'] });
      outputs.push(valueInfo('features', inDt, inShape));
    } else {
      nodes.push({ opType: 'Softmax', input: [logits32], output: ['probs'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] });
      outputs.push(valueInfo('probs', DT.FLOAT, [b, K]));
    }
  }
  const initializer = [
    { name: 'W', dims: [D, K], dataType: DT.FLOAT, rawData: f32Bytes(wm) },
    { name: 'B', dims: [K], dataType: DT.FLOAT, rawData: f32Bytes(bv) },
  ];
  if (o.output4d) initializer.push({ name: 'shape4', dims: [4], dataType: DT.INT64, rawData: i64Bytes([-1, K, 1, 1]) });

  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'tfkd-test-fixtures',
    opsetImport: [{ domain: '', version: o.opset }],
    metadataProps: Object.entries(o.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: { name: 'tiny_teacher', node: nodes, initializer, input: [valueInfo(o.inputName, inDt, inShape)], output: outputs },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Writes `buildTinyTeacher(opts)` to `dir/name` (default `tiny.onnx`) and returns the path. */
export function writeTinyTeacher(dir: string, opts: TinyTeacherOptions = {}, name = 'tiny.onnx'): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, buildTinyTeacher(opts));
  return p;
}

/**
 * Independent float64 reference: logits of `n` images given as packed HWC uint8 pixels, with the
 * preprocessing x = (p·scale − mean[c]) / std[c] (defaults 1/255, 0, 1). Inputs are rounded to
 * float32 (or float16 when `inputDtype` is float16 — pass `roundInput`) the way the model sees them.
 */
export function tinyTeacherForward(
  opts: TinyTeacherOptions,
  pixels: Uint8Array,
  n: number,
  pre: { scale?: number; mean?: number[]; std?: number[] } = {},
  roundInput: (v: number) => number = Math.fround,
): Float64Array {
  const o = full(opts);
  const { height: H, width: W, channels: C, numClasses: K, seed } = o;
  const scale = pre.scale ?? 1 / 255;
  const out = new Float64Array(n * K);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < K; k++) {
      let s = Math.fround(bias(seed, k));
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
          for (let ch = 0; ch < C; ch++) {
            const p = pixels[i * H * W * C + (y * W + x) * C + ch];
            const v = roundInput((p * scale - (pre.mean?.[ch] ?? 0)) / (pre.std?.[ch] ?? 1));
            s += v * Math.fround(weight(seed, y, x, ch, k));
          }
      out[i * K + k] = s;
    }
  return out;
}

/**
 * Graph surgery: the same model with a float16 input. The old float32 input becomes the output of
 * a Cast node fed by a new float16 graph input of the same name + shape, so every weight and op is
 * untouched and only the input rounding changes.
 */
export function withFloat16Input(bytes: Uint8Array): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  const g = m.graph!;
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const input = (g.input ?? []).find((i) => !inits.has(i.name))!;
  const name = input.name!;
  const inner = `${name}__f32`;
  for (const node of g.node ?? []) node.input = (node.input ?? []).map((x) => (x === name ? inner : x));
  for (const out of g.output ?? []) if (out.name === name) throw new Error('input is also an output');
  const cast = onnx.NodeProto.create({
    opType: 'Cast', name: 'tfkd_f16_cast', input: [name], output: [inner],
    attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DT.FLOAT }],
  });
  g.node = [cast, ...(g.node ?? [])];
  input.type!.tensorType!.elemType = DT.FLOAT16;
  return onnx.ModelProto.encode(m).finish();
}

/** `n` seeded pseudo-random uint8 pixels (an LCG's top byte), for feeding the tiny teachers. */
export function pixels(n: number, seed = 3): Uint8Array {
  const a = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}
