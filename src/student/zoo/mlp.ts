/**
 * `mlp`: flatten → dense 512 → ReLU → dense 512 → ReLU → dense K.
 *
 * The Keras `mnist_mlp` example without its dropout (dropout would make training depend on an
 * unseeded mask). 669 706 parameters on 28×28×1, K = 10. `widthMultiplier` scales the two hidden
 * widths.
 */
import { tf } from '../tf.js';
import { type BuildOptions, LayerFactory, call, scaled } from './common.js';

export const MLP_DESCRIPTION =
  'mlp: flatten → dense 512 → ReLU → dense 512 → ReLU → dense K (Keras mnist_mlp without dropout)';

export function buildMlp(name: string, o: BuildOptions): tf.LayersModel {
  const f = new LayerFactory(o.seed);
  const wm = o.widthMultiplier ?? 1;
  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = call(tf.layers.flatten({ name: 'flatten' }), input);
  x = call(f.dense('fc1', scaled(512, wm), 'relu'), x);
  x = call(f.dense('fc2', scaled(512, wm), 'relu'), x);
  const logits = call(f.dense('logits', o.numClasses), x);
  return tf.model({ inputs: input, outputs: logits, name });
}
