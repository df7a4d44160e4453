/**
 * The three layers torchvision's MobileNetV3 needs that tfjs-layers lacks (or defines otherwise):
 *
 *  - `HardSwish`:   x · relu6(x + 3) / 6, PyTorch's nn.Hardswish in its CPU kernel's order
 *                   ((x · relu6(x + 3)) / 6), so the float32 results are PyTorch's.
 *  - `HardSigmoid`: relu6(x + 3) / 6, PyTorch's nn.Hardsigmoid. tfjs' 'hardSigmoid' activation is
 *                   Keras' 0.2·x + 0.5 (clipped), a different function.
 *  - `SeededDropout`: inverted dropout in training only, like PyTorch's nn.Dropout, with every
 *                   mask seeded: deriveSeed(model seed, 0x0d0 + training-call count). tfjs' Dropout
 *                   layer takes one fixed seed, which would draw the same mask at every step, or
 *                   none, which would make runs differ. The count is a non-trainable weight
 *                   (`calls`), so checkpoints carry it and a resumed run draws the masks an
 *                   uninterrupted one would (one scalar read per training step).
 *
 * The gradients are tfjs' own of the composition (on cpu and wasm computed by one kernel each way,
 * bit for bit the composition's: src/student/kernels/hard-activations.ts); they equal PyTorch's
 * hardswish_backward / hardsigmoid_backward except at the kinks x = ±3 (measure zero). Registered with
 * tf.serialization so a model's toJSON names them; the ONNX export maps them in
 * src/export/onnx-layers.ts.
 */
import { fusedHardSigmoid, fusedHardSwish } from '../kernels/hard-activations.js';
import { tf } from '../tf.js';
import { deriveSeed } from './common.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Kwargs = Record<string, unknown>;

const one = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? inputs[0] : inputs);

/** PyTorch's hardswish: (x · relu6(x + 3)) / 6 — one kernel where tfkd has it, same bits (kernels/hard-activations.ts). */
export function hardSwish(x: tf.Tensor): tf.Tensor {
  return fusedHardSwish(x) ?? tf.tidy(() => tf.div(tf.mul(x, tf.relu6(tf.add(x, 3))), 6));
}

/** PyTorch's hardsigmoid: relu6(x + 3) / 6 — one kernel where tfkd has it, same bits. */
export function hardSigmoid(x: tf.Tensor): tf.Tensor {
  return fusedHardSigmoid(x) ?? tf.tidy(() => tf.div(tf.relu6(tf.add(x, 3)), 6));
}

export class HardSwish extends tf.layers.Layer {
  static readonly className = 'HardSwish';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return hardSwish(one(inputs));
  }
  override getClassName(): string {
    return HardSwish.className;
  }
}

export class HardSigmoid extends tf.layers.Layer {
  static readonly className = 'HardSigmoid';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return hardSigmoid(one(inputs));
  }
  override getClassName(): string {
    return HardSigmoid.className;
  }
}

export interface SeededDropoutArgs extends LayerArgs {
  rate: number;
  seed: number;
}

export class SeededDropout extends tf.layers.Layer {
  static readonly className = 'SeededDropout';
  readonly rate: number;
  private readonly seed: number;
  private count: tf.LayerVariable | null = null;

  constructor(args: SeededDropoutArgs) {
    super(args);
    if (!(args.rate >= 0 && args.rate < 1)) throw new Error(`SeededDropout: rate must be in [0, 1), got ${args.rate}`);
    this.rate = args.rate;
    this.seed = args.seed;
  }

  override build(): void {
    // float32 counts exactly up to 2^24 training steps.
    this.count = this.addWeight('calls', [], 'float32', tf.initializers.zeros(), undefined, false);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = one(inputs);
    if (kwargs.training !== true || this.rate === 0) return tf.clone(x);
    const count = this.count!;
    const n = count.read().dataSync()[0];
    tf.tidy(() => {
      count.write(tf.scalar(n + 1, 'float32'));
    });
    return tf.dropout(x, this.rate, undefined, deriveSeed(this.seed, 0x0d0 + n));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }

  override getClassName(): string {
    return SeededDropout.className;
  }
}

tf.serialization.registerClass(HardSwish);
tf.serialization.registerClass(HardSigmoid);
tf.serialization.registerClass(SeededDropout);
