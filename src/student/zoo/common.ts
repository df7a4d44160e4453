/**
 * Shared pieces of the model zoo: the serializable spec, seeded initializers, and the layer
 * helpers every family uses.
 *
 * Two properties the rest of tfkd relies on:
 *  - **Same spec → same model.** Every kernel initializer gets its own seed derived from
 *    (model seed, layer index), so two builds from one spec have bit-identical weights.
 *  - **Deterministic layer names.** tfjs gives unnamed layers process-global counters
 *    (`conv2d_Conv2D17`), so a second build in the same process would get other names. Every
 *    layer here is named explicitly (`conv1`, `s2b1_conv2`, …); checkpoints (`saveWeights`) and the
 *    ONNX export key on these names.
 */
import { tf } from '../tf.js';
import { FusedBatchNormalization } from './batchnorm.js';
import { LazyGradConv2D } from './conv.js';

/** Everything needed to rebuild the identical architecture (and, with the seed, the same init). */
export interface ModelSpec {
  /** Zoo name, one of MODEL_NAMES. */
  name: string;
  /** [H, W, C] of one sample (NHWC without the batch dimension). */
  inputShape: [number, number, number];
  numClasses: number;
  /** Seed of the initial weights. */
  seed: number;
  /** Scales every hidden width (default 1; mobilenetv2 rounds channels to multiples of 8). */
  widthMultiplier?: number;
  /** `onnx:FILE` students (onnx-import.ts): the source graph and how it is fed and trained. */
  onnx?: OnnxSpec;
  /** `--model ./my-model.mjs` students (module-model.ts): the module's absolute path and sha256. */
  module?: { file: string; sha256: string };
  /** API factory students (`code:<hash>`): the sha256 of the factory's source. */
  code?: { sha256: string };
}

/** What rebuilds an imported ONNX student: the file (refused if its sha256 changed) and its options. */
export interface OnnxSpec {
  file: string;
  sha256: string;
  /** The [H, W] the graph's input declares (null: symbolic). */
  declaredSize: [number, number] | null;
  /** pixel/255 → graph input: (pixel·scale − mean[c]) / std[c], BGR when the graph wants it. */
  normalize: { scale: number; mean: number[]; std: number[]; bgr: boolean };
  /** --freeze patterns (initializer names kept fixed). */
  freeze: string[];
  allowFolded: boolean;
  /** --drop-path: stochastic depth on the residual branches (onnx-fold.ts); absent when off. */
  dropPath?: number;
  /** --distill-token: DeiT's two heads trained separately (onnx-distill.ts); absent when off. */
  distillToken?: true;
}

/** Options of `buildModel` (a ModelSpec without the name). */
export interface BuildOptions {
  inputShape: [number, number, number];
  numClasses: number;
  seed: number;
  widthMultiplier?: number;
}

export type SymbolicTensor = ReturnType<typeof tf.input>;

/**
 * PyTorch's BatchNorm2d defaults: running = (1 − 0.1)·running + 0.1·batch, eps 1e-5. Keras counts
 * momentum the other way round (running = m·running + (1 − m)·batch), hence 0.9.
 */
const BN_MOMENTUM = 0.9;
const BN_EPSILON = 1e-5;

/**
 * A 32-bit mix (splitmix32-style finaliser) of (model seed, layer index). Never 0: tfjs random
 * ops treat a falsy seed as "no seed" and fall back to Math.random.
 */
export function deriveSeed(seed: number, index: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h === 0 ? 1 : h;
}

/**
 * Builds layers with explicit names and per-layer seeds. Kernel initializers: He-normal for
 * convolutions (He et al. 2015, what the CIFAR ResNets were trained with), Glorot-uniform for dense
 * layers (the Keras default). Biases zero, BN γ = 1, β = 0, moving mean 0, moving variance 1.
 */
export class LayerFactory {
  private counter = 0;
  constructor(private readonly seed: number) {}

  private nextSeed(): number {
    return deriveSeed(this.seed, this.counter++);
  }

  conv(
    name: string,
    filters: number,
    kernelSize: number,
    opts: { strides?: number; padding?: 'same' | 'valid'; useBias?: boolean; activation?: 'relu' | 'linear' } = {},
  ) {
    // LazyGradConv2D: the stock layer, but its training gradient skips unneeded inputs (zoo/conv.ts).
    return new LazyGradConv2D({
      name,
      filters,
      kernelSize,
      strides: opts.strides ?? 1,
      padding: opts.padding ?? 'same',
      useBias: opts.useBias ?? false,
      activation: opts.activation ?? 'linear',
      kernelInitializer: tf.initializers.heNormal({ seed: this.nextSeed() }),
      biasInitializer: 'zeros',
    });
  }

  /**
   * Depthwise 3×3 conv. tfjs computes the fan-in of a [kh, kw, C, 1] kernel as kh·kw·C, but each
   * output sees only kh·kw inputs; scale 2·C restores He's variance 2 / (kh·kw).
   */
  depthwise(name: string, kernelSize: number, strides: number, channels: number, padding: 'same' | 'valid' = 'same') {
    return tf.layers.depthwiseConv2d({
      name,
      kernelSize,
      strides,
      padding,
      depthMultiplier: 1,
      useBias: false,
      depthwiseInitializer: tf.initializers.varianceScaling({
        scale: 2 * channels,
        mode: 'fanIn',
        distribution: 'normal',
        seed: this.nextSeed(),
      }),
    });
  }

  dense(name: string, units: number, activation: 'relu' | 'linear' = 'linear') {
    return tf.layers.dense({
      name,
      units,
      activation,
      kernelInitializer: tf.initializers.glorotUniform({ seed: this.nextSeed() }),
      biasInitializer: 'zeros',
    });
  }

  /**
   * BatchNorm with tfkd's fused training kernels (zoo/batchnorm.ts): same class name, weights and
   * numbers as tfjs' BatchNormalization, one kernel per direction instead of ~25 small ops.
   */
  bn(name: string, o: { momentum?: number; epsilon?: number } = {}) {
    return new FusedBatchNormalization({ name, axis: -1, momentum: o.momentum ?? BN_MOMENTUM, epsilon: o.epsilon ?? BN_EPSILON });
  }

  relu(name: string) {
    return tf.layers.reLU({ name });
  }

  relu6(name: string) {
    return tf.layers.reLU({ name, maxValue: 6 });
  }
}

/** Applies a layer to one symbolic tensor (tfjs' `apply` is typed for arrays too). */
export function call(layer: { apply(x: SymbolicTensor): unknown }, x: SymbolicTensor): SymbolicTensor {
  return layer.apply(x) as SymbolicTensor;
}

/** Scaled hidden width, at least 1. */
export function scaled(width: number, multiplier: number): number {
  return Math.max(1, Math.round(width * multiplier));
}
