/**
 * `mobilenetv2`: a small MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear
 * Bottlenecks", CVPR 2018) sized for 28–32 px inputs.
 *
 * Changes from the ImageNet network, as in the common CIFAR ports: the stem is stride 1, the
 * stage table stops at 96 channels with three stride-2 stages (32 px → 16 → 8 → 4), and the last
 * 1×1 conv has 320 channels instead of 1280.
 *
 *   stem     conv 3×3, 32, stride 1 (no bias) + BN + ReLU6
 *   blocks   (t expansion, c channels, n repeats, s first stride)
 *            (1, 16, 1, 1) (6, 24, 2, 2) (6, 32, 3, 2) (6, 64, 2, 2) (6, 96, 1, 1)
 *   head     conv 1×1, 320 (no bias) + BN + ReLU6 → global average pool → dense K
 *
 * An inverted residual block: [expand 1×1 conv (×t) + BN + ReLU6 when t ≠ 1] → depthwise 3×3
 * (stride s) + BN + ReLU6 → project 1×1 conv + BN (linear bottleneck) → + input when s = 1 and
 * the channel count is unchanged. Every width is multiplied by `widthMultiplier` and rounded to a
 * multiple of 8 (`makeDivisible`, as in the reference implementation); the head keeps 320 for
 * multipliers below 1.
 */
import { tf } from '../tf.js';
import { type BuildOptions, LayerFactory, type SymbolicTensor, call } from './common.js';

export const MOBILENETV2_DESCRIPTION =
  'mobilenetv2: small MobileNetV2 (stride-1 stem 32, inverted residuals t=6 up to 96 channels, 1×1 head 320, ReLU6, BN); widthMultiplier scales channels';

/** Stage table: expansion t, output channels c, repeats n, first stride s. */
const MOBILENETV2_STAGES: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 2, 2],
  [6, 96, 1, 1],
];

/** The reference `_make_divisible`: nearest multiple of `divisor`, never more than 10 % below v. */
export function makeDivisible(v: number, divisor = 8): number {
  let r = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

export function buildMobilenetV2(name: string, o: BuildOptions): tf.LayersModel {
  const f = new LayerFactory(o.seed);
  const wm = o.widthMultiplier ?? 1;

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let channels = makeDivisible(32 * wm);
  let x = call(f.conv('stem_conv', channels, 3), input);
  x = call(f.bn('stem_bn'), x);
  x = call(f.relu6('stem_relu'), x);

  let blockIndex = 0;
  for (const [t, c, n, s] of MOBILENETV2_STAGES) {
    const out = makeDivisible(c * wm);
    for (let i = 0; i < n; i++) {
      const p = `b${++blockIndex}`;
      const stride = i === 0 ? s : 1;
      const hidden = channels * t;
      let y: SymbolicTensor = x;
      if (t !== 1) {
        y = call(f.conv(`${p}_expand`, hidden, 1), y);
        y = call(f.bn(`${p}_expand_bn`), y);
        y = call(f.relu6(`${p}_expand_relu`), y);
      }
      y = call(f.depthwise(`${p}_dw`, 3, stride, hidden), y);
      y = call(f.bn(`${p}_dw_bn`), y);
      y = call(f.relu6(`${p}_dw_relu`), y);
      y = call(f.conv(`${p}_project`, out, 1), y);
      y = call(f.bn(`${p}_project_bn`), y);
      if (stride === 1 && out === channels) {
        y = tf.layers.add({ name: `${p}_add` }).apply([x, y]) as SymbolicTensor;
      }
      x = y;
      channels = out;
    }
  }
  const head = makeDivisible(320 * Math.max(1, wm));
  x = call(f.conv('head_conv', head, 1), x);
  x = call(f.bn('head_bn'), x);
  x = call(f.relu6('head_relu'), x);
  x = call(tf.layers.globalAveragePooling2d({ name: 'pool' }), x);
  const logits = call(f.dense('logits', o.numClasses), x);
  return tf.model({ inputs: input, outputs: logits, name });
}
