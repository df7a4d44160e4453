/**
 * torchvision's resnet18 (He et al. 2016, ImageNet ResNet-18; torchvision.models.resnet18) at any
 * input size: conv 7×7/2 (pad 3) 64 + BN + ReLU → max-pool 3×3/2 (pad 1) → four stages of two
 * basic blocks (64/128/256/512 channels, stride 2 entering stages 2–4, 1×1/2 conv + BN downsample)
 * → global average pool → fc K. Padding is PyTorch's (symmetric, as explicit ZeroPadding2D before
 * 'valid' convolutions where TF 'same' would differ), so torchvision weights load by name and give
 * the same logits (test/student/zoo/resnet18.test.ts). Layers carry the state_dict's module names
 * (`layer2.0.downsample.0`). Initial weights: the zoo's seeded He-normal / Glorot (not torchvision's
 * kaiming fan-out), BN γ = 1, β = 0.
 *
 * Trainable parameters at K = 10: 11 181 642 (= torchvision's, any input size).
 */
import { tf } from '../tf.js';
import { type BuildOptions, LayerFactory, type SymbolicTensor, call, scaled } from './common.js';

export const RESNET18_DESCRIPTION = 'resnet18: torchvision ResNet-18 (He et al. 2016), 7×7 stem + max-pool, 2 basic blocks × 4 stages (64/128/256/512), any input size';

export function buildResnet18(name: string, o: BuildOptions): tf.LayersModel {
  const f = new LayerFactory(o.seed);
  const wm = o.widthMultiplier ?? 1;
  const widths = [64, 128, 256, 512].map((c) => scaled(c, wm));
  const pad = (n: string, p: number) => tf.layers.zeroPadding2d({ name: n, padding: p });
  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = call(pad('conv1.pad', 3), input);
  x = call(f.conv('conv1', widths[0], 7, { strides: 2, padding: 'valid' }), x);
  x = call(f.bn('bn1'), x);
  x = call(f.relu('relu'), x);
  // After ReLU every value is ≥ 0, so zero padding equals PyTorch's −∞ padding of the max-pool.
  x = call(pad('maxpool.pad', 1), x);
  x = call(tf.layers.maxPooling2d({ name: 'maxpool', poolSize: 3, strides: 2, padding: 'valid' }), x);
  let channels = widths[0];
  for (let stage = 0; stage < 4; stage++) {
    for (let block = 0; block < 2; block++) {
      const p = `layer${stage + 1}.${block}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const out = widths[stage];
      let y = stride === 2 ? call(pad(`${p}.conv1.pad`, 1), x) : x;
      y = call(f.conv(`${p}.conv1`, out, 3, { strides: stride, padding: stride === 2 ? 'valid' : 'same' }), y);
      y = call(f.bn(`${p}.bn1`), y);
      y = call(f.relu(`${p}.relu1`), y);
      y = call(f.conv(`${p}.conv2`, out, 3), y);
      y = call(f.bn(`${p}.bn2`), y);
      let shortcut: SymbolicTensor = x;
      if (stride !== 1 || out !== channels) {
        shortcut = call(f.conv(`${p}.downsample.0`, out, 1, { strides: stride, padding: 'valid' }), x);
        shortcut = call(f.bn(`${p}.downsample.1`), shortcut);
      }
      x = tf.layers.add({ name: `${p}.add` }).apply([y, shortcut]) as SymbolicTensor;
      x = call(f.relu(`${p}.relu2`), x);
      channels = out;
    }
  }
  x = call(tf.layers.globalAveragePooling2d({ name: 'avgpool' }), x);
  const logits = call(f.dense('fc', o.numClasses), x);
  return tf.model({ inputs: input, outputs: logits, name });
}
