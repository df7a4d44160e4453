/**
 * `cnn`: the classic Keras MNIST CNN (keras-team/keras examples/mnist_cnn.py):
 * conv 3×3 32 valid → ReLU → conv 3×3 64 valid → ReLU → max pool 2×2 → flatten → dense 128 → ReLU
 * → dense K. 1 199 882 parameters on 28×28×1, K = 10.
 *
 * The example's two dropout layers are left out: their masks would be a second, unseeded source
 * of randomness in training, and the parameter count of docs/ARCHITECTURE.md §4 does not depend on them.
 */
import { UsageError } from '../../errors.js';
import { tf } from '../tf.js';
import { type BuildOptions, LayerFactory, call, scaled } from './common.js';

export const CNN_DESCRIPTION =
  'cnn: Keras MNIST CNN — conv3×3 32 → ReLU → conv3×3 64 → ReLU → maxpool 2×2 → dense 128 → ReLU → dense K (no dropout)';

export function buildCnn(name: string, o: BuildOptions): tf.LayersModel {
  const [h, w] = o.inputShape;
  // Two valid 3×3 convs take 4 pixels, the 2×2 pool needs at least 2 left.
  if (h < 6 || w < 6) throw new UsageError(`model cnn needs inputs of at least 6×6 pixels, got ${h}×${w}`);
  const f = new LayerFactory(o.seed);
  const wm = o.widthMultiplier ?? 1;
  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = call(f.conv('conv1', scaled(32, wm), 3, { padding: 'valid', useBias: true, activation: 'relu' }), input);
  x = call(f.conv('conv2', scaled(64, wm), 3, { padding: 'valid', useBias: true, activation: 'relu' }), x);
  x = call(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2, strides: 2, padding: 'valid' }), x);
  x = call(tf.layers.flatten({ name: 'flatten' }), x);
  x = call(f.dense('fc1', scaled(128, wm), 'relu'), x);
  const logits = call(f.dense('logits', o.numClasses), x);
  return tf.model({ inputs: input, outputs: logits, name });
}
