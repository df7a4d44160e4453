/**
 * torchvision's mobilenet_v3_small (Howard et al., "Searching for MobileNetV3", ICCV 2019;
 * torchvision.models.mobilenet_v3_small, torchvision 0.14) at any input size:
 *
 *   features.0    conv 3×3/2 16 + BN + Hardswish
 *   features.1–11 inverted residuals (input c, kernel k, expanded e, out c', SE, activation, stride):
 *                 [expand 1×1 + BN + act when e ≠ c] → depthwise k×k/s + BN + act →
 *                 [squeeze-excitation: avg-pool → 1×1 conv (e → make_divisible(e // 4, 8)) + ReLU →
 *                 1×1 conv (→ e) → Hardsigmoid → × the block's tensor] → project 1×1 + BN →
 *                 + input when s = 1 and c = c'
 *   features.12   conv 1×1 576 + BN + Hardswish → global average pool
 *   classifier    Linear(576, 1024) → Hardswish → Dropout(0.2) → Linear(1024, K)
 *
 * BatchNorm eps 0.001, momentum 0.01 (PyTorch's convention; Keras 0.99). Hardswish / Hardsigmoid
 * are PyTorch's (relu6(x + 3) / 6, mobilenetv3-layers.ts), Dropout draws seeded masks in training
 * only. Padding is PyTorch's symmetric (k − 1) / 2: explicit ZeroPadding2D before the stride-2
 * convolutions (TF 'same' would pad 0 before, 1 after on even sizes), 'same' elsewhere, so
 * torchvision weights load by name and give the same logits (test/student/zoo/mobilenetv3.test.ts).
 * Layers carry the state_dict's module names (`features.4.block.2.fc1`, `classifier.3`).
 * `widthMultiplier` is torchvision's width_mult (every block width and the 1024 rounded to a
 * multiple of 8). Initial weights: the zoo's seeded He-normal / Glorot, BN γ = 1, β = 0.
 *
 * Trainable parameters at K = 10: 1 528 106 (= torchvision's, any input size).
 */
import { tf } from '../tf.js';
import { type BuildOptions, LayerFactory, type SymbolicTensor, call, deriveSeed } from './common.js';
import { makeDivisible } from './mobilenetv2.js';
import { HardSigmoid, HardSwish, SeededDropout } from './mobilenetv3-layers.js';

export const MOBILENETV3_SMALL_DESCRIPTION =
  'mobilenet_v3_small: torchvision MobileNetV3-Small (Howard et al. 2019), inverted residuals with squeeze-excitation, Hardswish, 576 → 1024 → K head, any input size; widthMultiplier = width_mult';

/** torchvision's table: input c, kernel, expanded, out, SE, Hardswish (else ReLU), stride. */
const MOBILENETV3_SMALL_BLOCKS: ReadonlyArray<readonly [number, number, number, number, boolean, boolean, number]> = [
  [16, 3, 16, 16, true, false, 2],
  [16, 3, 72, 24, false, false, 2],
  [24, 3, 88, 24, false, false, 1],
  [24, 5, 96, 40, true, true, 2],
  [40, 5, 240, 40, true, true, 1],
  [40, 5, 240, 40, true, true, 1],
  [40, 5, 120, 48, true, true, 1],
  [48, 5, 144, 48, true, true, 1],
  [48, 5, 288, 96, true, true, 2],
  [96, 5, 576, 96, true, true, 1],
  [96, 5, 576, 96, true, true, 1],
];

/** torchvision's norm_layer: BatchNorm2d(eps=0.001, momentum=0.01) = Keras momentum 0.99. */
const BN = { epsilon: 1e-3, momentum: 0.99 };

type Act = 'relu' | 'hardswish' | null;

export function buildMobilenetV3Small(name: string, o: BuildOptions): tf.LayersModel {
  const f = new LayerFactory(o.seed);
  const wm = o.widthMultiplier ?? 1;
  const adjust = (c: number) => makeDivisible(c * wm, 8);

  /** torchvision's Conv2dNormActivation: conv (groups = C when depthwise) + BN + activation, as `p.0`, `p.1`, `p.2`. */
  const convBnAct = (x: SymbolicTensor, p: string, out: number, k: number, stride: number, act: Act, depthwise = false): SymbolicTensor => {
    let y = x;
    if (stride !== 1) y = call(tf.layers.zeroPadding2d({ name: `${p}.pad`, padding: (k - 1) / 2 }), y);
    const padding = stride !== 1 ? 'valid' : 'same';
    y = call(depthwise ? f.depthwise(`${p}.0`, k, stride, out, padding) : f.conv(`${p}.0`, out, k, { strides: stride, padding }), y);
    y = call(f.bn(`${p}.1`, BN), y);
    if (act === 'relu') y = call(f.relu(`${p}.2`), y);
    if (act === 'hardswish') y = call(new HardSwish({ name: `${p}.2` }), y);
    return y;
  };

  /** torchvision's SqueezeExcitation(e, s) with ReLU and Hardsigmoid: x · hσ(fc2(relu(fc1(avgpool(x))))). */
  const squeezeExcite = (x: SymbolicTensor, p: string, channels: number): SymbolicTensor => {
    const squeeze = makeDivisible(Math.floor(channels / 4), 8);
    let s = call(tf.layers.globalAveragePooling2d({ name: `${p}.avgpool` }), x);
    s = call(tf.layers.reshape({ name: `${p}.avgpool.reshape`, targetShape: [1, 1, channels] }), s);
    s = call(f.conv(`${p}.fc1`, squeeze, 1, { useBias: true, activation: 'relu' }), s);
    s = call(f.conv(`${p}.fc2`, channels, 1, { useBias: true }), s);
    s = call(new HardSigmoid({ name: `${p}.scale_activation` }), s);
    return tf.layers.multiply({ name: `${p}.mul` }).apply([x, s]) as SymbolicTensor;
  };

  const input = tf.input({ shape: o.inputShape, name: 'input' });
  let x = convBnAct(input, 'features.0', adjust(16), 3, 2, 'hardswish');
  MOBILENETV3_SMALL_BLOCKS.forEach(([cin, k, exp, cout, se, hs, stride], i) => {
    const [inC, expC, outC] = [adjust(cin), adjust(exp), adjust(cout)];
    const p = `features.${i + 1}`;
    const act: Act = hs ? 'hardswish' : 'relu';
    let part = 0;
    let y = x;
    if (expC !== inC) y = convBnAct(y, `${p}.block.${part++}`, expC, 1, 1, act);
    y = convBnAct(y, `${p}.block.${part++}`, expC, k, stride, act, true);
    if (se) y = squeezeExcite(y, `${p}.block.${part++}`, expC);
    y = convBnAct(y, `${p}.block.${part++}`, outC, 1, 1, null);
    if (stride === 1 && inC === outC) y = tf.layers.add({ name: `${p}.add` }).apply([y, x]) as SymbolicTensor;
    x = y;
  });
  const last = 6 * adjust(96);
  x = convBnAct(x, 'features.12', last, 1, 1, 'hardswish');
  x = call(tf.layers.globalAveragePooling2d({ name: 'avgpool' }), x);
  x = call(f.dense('classifier.0', adjust(1024)), x);
  x = call(new HardSwish({ name: 'classifier.1' }), x);
  x = call(new SeededDropout({ name: 'classifier.2', rate: 0.2, seed: deriveSeed(o.seed, 0xd20) }), x);
  const logits = call(f.dense('classifier.3', o.numClasses), x);
  return tf.model({ inputs: input, outputs: logits, name });
}
