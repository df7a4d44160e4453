/**
 * tfjs LayersModel (a zoo model) → ONNX ModelProto bytes, written with onnx-proto (protobufjs).
 *
 * The graph computes in NCHW, ONNX's native conv layout: an NHWC input (`layout: 'NHWC'`) gets one
 * Transpose at the start; a Keras Flatten of a 4-D tensor gets a Transpose back to NHWC first,
 * because Keras flattens in (h, w, c) order and the dense weights after it expect that order.
 * Transposes are inserted on demand and reused, so an NCHW input to a conv net has none.
 *
 * Layer mapping, one emitter per Keras layer class in `LAYERS` (anything else is refused, naming
 * the layer); the emitters live in onnx-core-layers.ts and onnx-layers.ts:
 *   InputLayer → graph input `input` [batch, …] (dynamic batch dimension `batch`)
 *   Conv2D → Conv (HWIO kernel → OIHW; TF 'same' padding → explicit pads, which are asymmetric
 *            for stride 2 on even sizes: 0 before, 1 after) [+ Relu]
 *   DepthwiseConv2D → Conv with group = C (kernel [kh, kw, C, M] → [C·M, 1, kh, kw])
 *   Dense → Gemm [+ Relu] · BatchNormalization → BatchNormalization (inference form)
 *   ReLU → Relu, or Clip(0, maxValue) with min/max as inputs (opset ≥ 11) · Activation relu/linear
 *   MaxPooling2D → MaxPool · GlobalAveragePooling2D → GlobalAveragePool + Flatten · Add → Add
 *   ZeroPadding2D → Pad · Flatten → (Transpose to NHWC) + Flatten
 *   mobilenet_v3_small's HardSwish, HardSigmoid, SeededDropout, Reshape, Multiply: onnx-layers.ts
 * The model output is named `logits`, [batch, K].
 *
 * metadata_props: `tfkd.preprocess` = {layout, size: [H, W], scale, mean, std} (what the input
 * expects: input = (pixel·scale − mean[c]) / std[c]) and `tfkd.model` = the ModelSpec JSON, so a
 * teacher built from this file needs no --preprocess.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { UsageError } from '../errors.js';
import { CORE_LAYERS } from './onnx-core-layers.js';
import { FLOAT, GraphBuilder, refuse, type AnyLayer, type LayerEmitter, type Value } from './onnx-graph-builder.js';
import { MOBILENET_V3_LAYERS } from './onnx-layers.js';
import type { ModelSpec } from '../student/zoo/index.js';
import { tf } from '../student/tf.js';
import type { Layout, PreprocessSpec } from '../teacher/types.js';

const { onnx } = onnxProto;

export interface ExportOptions {
  /** Layout of the ONNX input tensor: NHWC ([batch, H, W, C], as tfjs) or NCHW ([batch, C, H, W]). */
  layout: Layout;
  /** The input normalisation the model was trained with: input = (pixel·scale − mean[c]) / std[c]. */
  preprocess: { scale: number; mean: number[]; std: number[] };
  /**
   * The student's eval transform (student/trainer/inputs.ts), recorded so that the exported model
   * renders images of any size the way the student was evaluated; absent for students of
   * fixed-size data at its own size (nothing to render).
   */
  render?: Pick<PreprocessSpec, 'resize' | 'crop' | 'cropRounding' | 'interpolation' | 'channels'>;
  /** ONNX opset, 13–17 (default 13; 17 is the newest that Debian's onnx 1.12 checker knows). */
  opset?: number;
  /** Recorded as the model's producer_version. */
  producerVersion?: string;
}

export const MIN_OPSET = 13;
export const MAX_OPSET = 17;
const IR_VERSION = 8;

/** Every Keras layer class tfkd exports, by class name (the input layer is the graph input). */
const LAYERS: Readonly<Record<string, LayerEmitter>> = Object.freeze({ ...CORE_LAYERS, ...MOBILENET_V3_LAYERS });

/** `layer`'s ONNX nodes, added to `g`, from the values of its inputs; refused for a class not in LAYERS. */
function emitLayer(g: GraphBuilder, layer: AnyLayer, inputs: Value[]): Value {
  const cls = layer.getClassName();
  if (!Object.prototype.hasOwnProperty.call(LAYERS, cls)) refuse(layer, 'no ONNX mapping for this layer type');
  return LAYERS[cls](g, layer, inputs);
}

/** The values of `layer`'s inputs, each emitted before it (one call per layer, single-output inputs). */
function inputsOf(layer: AnyLayer, values: Map<string, Value>): Value[] {
  if (layer.inboundNodes.length !== 1) refuse(layer, 'shared layers (called more than once) are not supported');
  const node = layer.inboundNodes[0];
  return node.inboundLayers.map((l, i) => {
    if (node.tensorIndices[i] !== 0) refuse(layer, 'multi-output inputs are not supported');
    const v = values.get(l.name);
    if (!v) refuse(layer, `input '${l.name}' was not exported before it`);
    return v;
  });
}

/** Emits every layer of `model` from the graph input `input`; the model output's value, if emitted. */
function emitLayers(g: GraphBuilder, model: tf.LayersModel, layout: Layout): Value | undefined {
  const values = new Map<string, Value>();
  const inputLayer = model.inputLayers[0];
  values.set(inputLayer.name, { name: 'input', rank: 4, layout });
  // model.layers is in topological order for functional models.
  for (const layer of model.layers) {
    if (layer !== inputLayer) values.set(layer.name, emitLayer(g, layer, inputsOf(layer, values)));
  }
  return values.get(model.outputLayers[0].name);
}

/** Names the model output `logits`: renames its producer's output, or adds an Identity. */
function nameLogits(g: GraphBuilder, out: Value | undefined): void {
  if (!out || out.rank !== 2) throw new UsageError('export: the model output must be a rank-2 [batch, K] tensor');
  const producer = g.nodes.find((nd) => nd.output?.[0] === out.name);
  if (producer) producer.output = ['logits'];
  else g.node('Identity', [out.name], 'logits');
}

type Normalisation = ExportOptions['preprocess'];

function validatePreprocess(p: Normalisation, channels: number): Normalisation {
  if (!p || !Number.isFinite(p.scale)) throw new UsageError('export: preprocess.scale must be a finite number');
  const fit = (what: string, v: number[], positive: boolean): number[] => {
    if (!Array.isArray(v) || !(v.length === 1 || v.length === channels) || !v.every(Number.isFinite)) {
      throw new UsageError(`export: preprocess.${what} must hold 1 or ${channels} finite numbers, got ${JSON.stringify(v)}`);
    }
    if (positive && v.some((x) => x <= 0)) throw new UsageError(`export: preprocess.${what} must be > 0`);
    return v.length === channels ? [...v] : new Array<number>(channels).fill(v[0]);
  };
  return { scale: p.scale, mean: fit('mean', p.mean, false), std: fit('std', p.std, true) };
}

/** Checks the options and that `model` is the one input → one output model `spec` describes. */
function checkExport(model: tf.LayersModel, spec: ModelSpec, opts: ExportOptions): { opset: number; pre: Normalisation } {
  const opset = opts.opset ?? MIN_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new UsageError(`export: opset must be an integer in [${MIN_OPSET}, ${MAX_OPSET}], got ${opset}`);
  }
  if (opts.layout !== 'NHWC' && opts.layout !== 'NCHW') throw new UsageError(`export: layout must be NHWC or NCHW, got ${opts.layout}`);
  if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new UsageError('export: the model must have one input and one output');

  const inShape = model.inputs[0].shape;
  const [H, W, C] = spec.inputShape;
  if (inShape.length !== 4 || inShape[1] !== H || inShape[2] !== W || inShape[3] !== C) {
    throw new UsageError(`export: model input [${inShape.slice(1)}] does not match spec inputShape [${spec.inputShape}]`);
  }
  const outShape = model.outputs[0].shape;
  if (outShape.length !== 2 || outShape[1] !== spec.numClasses) {
    throw new UsageError(`export: model output [${outShape}] does not match spec numClasses ${spec.numClasses}`);
  }
  return { opset, pre: validatePreprocess(opts.preprocess, C) };
}

/** The ModelProto around the emitted graph: typed input/output, opset, and the tfkd metadata. */
function encodeModel(g: GraphBuilder, spec: ModelSpec, opts: ExportOptions, opset: number, pre: Normalisation): Uint8Array {
  const [H, W, C] = spec.inputShape;
  const inputDims = opts.layout === 'NHWC' ? [H, W, C] : [C, H, W];
  const tensorType = (dims: number[]): OnnxTypes.ITypeProto => ({
    tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, ...dims.map((d) => ({ dimValue: d }))] } },
  });
  // The keys a teacher reads back (teacher/preprocess.ts); size alone = a stretch for data of another size.
  const preprocess: Partial<PreprocessSpec> = { layout: opts.layout, size: [H, W], scale: pre.scale, mean: pre.mean, std: pre.std, ...(opts.render ?? {}) };

  const modelProto = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'tfkd',
    producerVersion: opts.producerVersion ?? '',
    docString: `tfkd zoo model ${spec.name}, exported from tfjs`,
    graph: {
      name: spec.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [{ name: 'input', type: tensorType(inputDims) }],
      output: [{ name: 'logits', type: tensorType([spec.numClasses]) }],
    },
    metadataProps: [
      { key: 'tfkd.preprocess', value: JSON.stringify(preprocess) },
      { key: 'tfkd.model', value: JSON.stringify(spec) },
    ],
  });
  return onnx.ModelProto.encode(modelProto).finish();
}

/** Exports `model` (built from `spec`) as ONNX bytes; see the module comment for the mapping. */
export function exportOnnx(model: tf.LayersModel, spec: ModelSpec, opts: ExportOptions): Uint8Array {
  const { opset, pre } = checkExport(model, spec, opts);
  const g = new GraphBuilder();
  nameLogits(g, emitLayers(g, model, opts.layout));
  return encodeModel(g, spec, opts, opset, pre);
}
