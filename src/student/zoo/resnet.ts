/**
 * CIFAR ResNets (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, §4.2):
 * conv 3×3 16 (no bias) + BN + ReLU → three stages of n basic blocks with 16/32/64 channels →
 * global average pool → dense K; depth = 6n + 2. A basic block is conv3×3 → BN → ReLU → conv3×3 →
 * BN, added to the shortcut, then ReLU. Stride 2 enters stages 2 and 3; there the shortcut is a
 * 1×1 conv (stride 2, no bias) + BN projection (the paper's option B), elsewhere the identity.
 *
 * Padding is TF 'same' (for stride 2 on even sizes: 0 before, 1 after), not PyTorch's symmetric
 * padding 1; the ONNX export reproduces it exactly.
 *
 * Trainable parameters on 32×32×3, K = 10: resnet8 78 042, resnet14 175 258, resnet20 272 474,
 * resnet32 466 906.
 */
import { tf } from '../tf.js';
import { type BuildOptions, LayerFactory, type SymbolicTensor, call, scaled } from './common.js';

export const RESNET_DEPTHS: Record<string, number> = { resnet8: 1, resnet14: 2, resnet20: 3, resnet32: 5 };

export function resnetDescription(name: string): string {
  const n = RESNET_DEPTHS[name];
  return `${name}: CIFAR ResNet (He et al. 2016), ${n} basic block${n > 1 ? 's' : ''} per stage × 3 stages (16/32/64 channels), projection shortcuts, BN, global average pool`;
}

export function buildResnet(name: string, o: BuildOptions): tf.LayersModel {
  const n = RESNET_DEPTHS[name];
  const f = new LayerFactory(o.seed);
  const wm = o.widthMultiplier ?? 1;
  const widths = [16, 32, 64].map((c) => scaled(c, wm));

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = call(f.conv('conv1', widths[0], 3), input);
  x = call(f.bn('bn1'), x);
  x = call(f.relu('relu1'), x);
  let channels = widths[0];
  for (let stage = 0; stage < 3; stage++) {
    for (let block = 0; block < n; block++) {
      const p = `s${stage + 1}b${block + 1}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const out = widths[stage];
      let y = call(f.conv(`${p}_conv1`, out, 3, { strides: stride }), x);
      y = call(f.bn(`${p}_bn1`), y);
      y = call(f.relu(`${p}_relu1`), y);
      y = call(f.conv(`${p}_conv2`, out, 3), y);
      y = call(f.bn(`${p}_bn2`), y);
      let shortcut: SymbolicTensor = x;
      if (stride !== 1 || out !== channels) {
        shortcut = call(f.conv(`${p}_shortcut_conv`, out, 1, { strides: stride }), x);
        shortcut = call(f.bn(`${p}_shortcut_bn`), shortcut);
      }
      x = tf.layers.add({ name: `${p}_add` }).apply([y, shortcut]) as SymbolicTensor;
      x = call(f.relu(`${p}_relu2`), x);
      channels = out;
    }
  }
  x = call(tf.layers.globalAveragePooling2d({ name: 'pool' }), x);
  const logits = call(f.dense('logits', o.numClasses), x);
  return tf.model({ inputs: input, outputs: logits, name });
}
