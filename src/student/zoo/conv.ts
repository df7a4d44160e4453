/**
 * The zoo's 2-D convolution layer: tfjs-layers' Conv2D with the training-mode call routed through
 * the plain `Conv2D` op (+ bias add + activation) instead of `tf.fused.conv2d`.
 *
 * Why: `tf.fused.conv2d` differentiates through `customGrad`, which computes every input's
 * gradient eagerly — including the gradient with respect to the network's input image, which
 * nothing needs. For a ResNet's stem (128×32×32×3 ← 16 channels) that wasted
 * Conv2DBackpropInput cost ≈ 6 ms per step (≈ 3 % of a resnet8 step, docs/PERFORMANCE.md). The
 * plain op's registered gradient is lazy per input, so the tape skips it. The arithmetic is
 * tfjs-core's own unfused path (conv2d, add(bias), activation), which tfjs already takes in
 * gradient mode whenever the activation is not linear; so the numbers do not change (tested).
 *
 * On wasm with the native add-on, a conv with a bias or a ReLU goes one step further: the three
 * ops run as one kernel with the same bits and the same lazy gradients (kernels/conv-bias-act.ts).
 *
 * Same pattern as zoo/batchnorm.ts: the stock class subclassed, class name, config, weights and
 * inference path unchanged (checkpoints, `toJSON`, the ONNX export's layer mapping); not
 * registered with tf.serialization (a model loaded from JSON gets the stock layer).
 */
import { tf } from '../tf.js';
import { convBiasAct } from '../kernels/conv-bias-act.js';

type Kwargs = Record<string, unknown>;
type ConvArgs = Parameters<typeof tf.layers.conv2d>[0];

/** The stock layer's fields read here (names as in tfjs-layers 4.22). */
interface StockConvFields {
  rank: number;
  kernel: tf.LayerVariable;
  bias: tf.LayerVariable | null;
  strides: [number, number];
  padding: 'valid' | 'same' | 'causal';
  dataFormat: 'channelsFirst' | 'channelsLast';
  dilationRate: [number, number];
  activation: { apply(x: tf.Tensor): tf.Tensor; getClassName(): string } | null;
}

type StockCtor = new (args: ConvArgs) => tf.layers.Layer;

function stockConv2D(): StockCtor {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap.Conv2D;
  if (!entry) throw new Error('tfjs-layers Conv2D is not registered');
  return entry[0] as unknown as StockCtor;
}

export class LazyGradConv2D extends stockConv2D() {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const f = this as unknown as StockConvFields;
    const usable = kwargs.training === true && f.rank === 2 && f.dataFormat === 'channelsLast' && f.padding !== 'causal' && (!Array.isArray(inputs) || inputs.length === 1);
    if (!usable) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      // Conv + bias + ReLU as one kernel where the add-on runs it (kernels/conv-bias-act.ts).
      const fused = convBiasAct(x, f.kernel.read() as tf.Tensor4D, f.bias?.read() ?? null, f.strides, f.padding as 'valid' | 'same', f.dilationRate, f.activation?.getClassName() ?? 'linear');
      if (fused) return fused;
      let y: tf.Tensor = tf.conv2d(x, f.kernel.read() as tf.Tensor4D, f.strides, f.padding as 'valid' | 'same', 'NHWC', f.dilationRate);
      if (f.bias) y = tf.add(y, f.bias.read());
      if (f.activation) y = f.activation.apply(y);
      return y;
    });
  }
}
