/**
 * An imported ONNX graph as one tfjs layer: every float initializer is a weight of this layer
 * (trainable, except BatchNormalization running statistics and what --freeze names), and `call`
 * interprets the graph's nodes in order with the ops of onnx-ops/. Wrapped in a LayersModel
 * (onnx-import.ts), the trainer uses it like a zoo model: `model.apply(x, { training })`,
 * `trainableWeights`, checkpoints by `layer/weight` names (weights.ts).
 *
 * The model's input is what the trainer feeds every student: NHWC float pixels / 255. The layer
 * applies the graph's preprocessing (pixel·scale − mean) / std per channel (and RGB → BGR when
 * the graph wants BGR) and hands the result to the graph as its NCHW input (stored NHWC: see
 * onnx-ops/values.ts).
 */
import { UsageError } from '../../errors.js';
import { fusedBatchNormAvailable } from '../kernels/batchnorm.js';
import { tf } from '../tf.js';
import { fusedBatchNormEnabled } from './batchnorm.js';
import { deriveSeed } from './common.js';
import type { OnnxGraph, OnnxWeight } from './onnx-graph.js';
import { insertDropPath } from './onnx-fold.js';
import { distillationHeads, type DistillationHeads } from './onnx-distill.js';
import { OPS } from './onnx-ops/index.js';
import { tensor, type OpState, type Value } from './onnx-ops/values.js';

export interface Normalize {
  scale: number;
  mean: number[];
  std: number[];
  bgr: boolean;
}

export interface OnnxLayerArgs {
  name: string;
  graph: OnnxGraph;
  numClasses: number;
  normalize: Normalize;
  /** ONNX names of the weights kept fixed (--freeze). */
  frozen: ReadonlySet<string>;
  seed: number;
  /** --drop-path R: stochastic depth on the residual branches (0 or absent: none). */
  dropPath?: number;
  /** --distill-token: in training, give DeiT's two heads side by side ([N, 2K]) instead of their average. */
  distillToken?: boolean;
}

/** A tfjs-valid weight name for an ONNX initializer name (unique within the graph). */
function weightKey(name: string, taken: Set<string>): string {
  let k = name.replace(/[^-A-Za-z0-9._]/g, '_');
  if (!/^[A-Za-z0-9]/.test(k)) k = `w${k}`;
  let out = k;
  for (let i = 1; taken.has(out); i++) out = `${k}_${i}`;
  taken.add(out);
  return out;
}

/** ONNX initializer name → weight key, for every weight of the graph (the layer's and export's map). */
export function weightKeys(graph: OnnxGraph): Map<string, string> {
  const taken = new Set<string>();
  return new Map(graph.weights.map((w) => [w.name, weightKey(w.name, taken)]));
}

type LayerVar = tf.LayerVariable;

/** The seeds of one forward pass: the step's seed, then one per draw in graph order. */
function seedsOfStep(stepSeed: number): () => number {
  let call = 0;
  return () => deriveSeed(stepSeed, call++);
}

export class OnnxGraphLayer extends tf.layers.Layer {
  static readonly className = 'OnnxGraph';
  readonly graph: OnnxGraph;
  private readonly numClasses: number;
  private readonly norm: Normalize;
  private readonly frozen: ReadonlySet<string>;
  private readonly seed: number;
  /** ONNX initializer name → its variable, and → its key (the weight's name in checkpoints). */
  readonly vars = new Map<string, LayerVar>();
  readonly keys: Map<string, string>;
  private dropoutCalls = 0;
  /** Tests: sees every drop-path mask drawn, in graph order. */
  onDropPathMask: ((mask: Float32Array) => void) | null = null;
  /** --distill-token: the class and distillation heads the output averages (onnx-distill.ts). */
  readonly heads: DistillationHeads | null;
  /** The trainer's global step (setStep): Dropout and drop-path seeds derive from it, so a resumed run draws what it would have. */
  private step: number | null = null;

  constructor(args: OnnxLayerArgs) {
    super({ name: args.name });
    const g = args.graph;
    // Residual operands are values computed from the image: not constants, not weights.
    const weights = new Set(g.weights.map((w) => w.name));
    this.graph = args.dropPath ? { ...g, nodes: insertDropPath(g.nodes, args.dropPath, (n) => !g.consts.has(n) && !weights.has(n)) } : g;
    this.numClasses = args.numClasses;
    this.norm = args.normalize;
    this.frozen = args.frozen;
    this.seed = args.seed;
    this.keys = weightKeys(this.graph);
    this.heads = args.distillToken ? distillationHeads(g) : null;
  }

  override build(): void {
    for (const w of this.graph.weights) this.addOnnxWeight(w);
    this.built = true;
  }

  private addOnnxWeight(w: OnnxWeight): void {
    const trainable = !w.runningStat && !this.frozen.has(w.name);
    const v = this.addWeight(this.keys.get(w.name)!, w.shape, 'float32', tf.initializers.zeros(), undefined, trainable);
    const t = tf.tensor(w.data, w.shape, 'float32');
    v.write(t);
    t.dispose();
    this.vars.set(w.name, v);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    return [s[0], this.numClasses];
  }

  override getClassName(): string {
    return OnnxGraphLayer.className;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const training = kwargs.training === true;
    const values = new Map<string, Value>();
    for (const [name, c] of this.graph.consts) values.set(name, { kind: 'const', ...c });
    for (const [name, v] of this.vars) values.set(name, tensor(v.read()));
    values.set(this.graph.inputName, tensor(this.normalize(x), true));
    const state: OpState = {
      updateRunning: (name, value) => {
        if (!this.frozen.has(name)) this.vars.get(name)?.write(value);
      },
      readRunning: (name) => {
        const v = this.vars.get(name);
        if (!v) throw new UsageError(`ONNX running statistic ${name} is not an initializer`);
        return v.read();
      },
      dropoutSeed: this.step === null ? () => deriveSeed(this.seed, 0x0d0 + this.dropoutCalls++) : seedsOfStep(deriveSeed(this.seed, 0x5e9 + this.step)),
      fusedBn: fusedBatchNormEnabled() && fusedBatchNormAvailable(),
      ...(this.onDropPathMask ? { onDropPathMask: this.onDropPathMask } : {}),
    };
    for (const node of this.graph.nodes) {
      const ins = node.inputs.map((n) => {
        if (n === '') return undefined;
        const v = values.get(n);
        if (!v) throw new UsageError(`ONNX node ${node.name} (${node.op}): input ${n} is not computed by the graph`);
        return v;
      });
      const outs = OPS[node.op]({ node, inputs: ins, training, state });
      node.outputs.forEach((o, i) => {
        if (o && outs[i]) values.set(o, outs[i]);
      });
    }
    if (training && this.heads) {
      // DeiT's training output: both heads, class head first ([N, 2K]); the trainer splits them.
      const [c, d] = [this.heads.cls, this.heads.dist].map((n) => values.get(n));
      if (c?.kind !== 'tensor' || d?.kind !== 'tensor' || c.t.rank !== 2 || c.t.shape[1] !== this.numClasses || d.t.rank !== 2 || d.t.shape[1] !== this.numClasses) {
        throw new UsageError(`--distill-token: the heads ${this.heads.clsNode} and ${this.heads.distNode} do not both give [N, ${this.numClasses}] logits`);
      }
      return tf.concat([c.t, d.t], 1);
    }
    const out = values.get(this.graph.outputName);
    if (!out || out.kind !== 'tensor') throw new UsageError(`ONNX output ${this.graph.outputName} is not computed from the image`);
    const y = out.nhwc ? tf.transpose(out.t, [0, 3, 1, 2]) : out.t;
    if (y.rank !== 2 || y.shape[1] !== this.numClasses) {
      throw new UsageError(`the ONNX graph's output ${this.graph.outputName} has shape [${y.shape}]; a student needs [N, K] logits with K = ${this.numClasses}`);
    }
    return y;
  }

  /**
   * The global step the next training forward belongs to (the trainer sets it before each step).
   * Unset (benchmarks, tests), seeds come from a count of draws since the layer was built.
   */
  setStep(step: number): void {
    this.step = step;
  }

  /** pixels/255 (NHWC) → the graph's input: (pixel·scale − mean[c]) / std[c], channel order. */
  private normalize(x: tf.Tensor): tf.Tensor {
    const { scale, mean, std, bgr } = this.norm;
    let y = bgr ? tf.reverse(x, -1) : x;
    const a = std.map((s) => (255 * scale) / s);
    const b = mean.map((m, i) => -m / std[i]);
    if (a.some((v) => v !== 1)) y = tf.mul(y, tf.tensor1d(a));
    if (b.some((v) => v !== 0)) y = tf.add(y, tf.tensor1d(b));
    return y;
  }
}
