/**
 * The model zoo: `buildModel(name, opts)` → a tfjs LayersModel (NHWC), for any input shape and K,
 * with seeded initial weights and deterministic layer names. See docs/ARCHITECTURE.md §4.
 *
 * Training: call `model.apply(x, { training: true })`. The BN layers then normalise with the
 * batch statistics and update their moving mean/variance in place (verified in
 * test/student/zoo/zoo.test.ts). They are tfjs' BatchNormalization with tfkd's fused training kernels
 * on cpu/wasm (zoo/batchnorm.ts: one kernel forward, one backward; same class name, weights and
 * numbers; TFKD_FUSED_BN=0 turns the fusion off). One difference from PyTorch: tfjs updates the moving variance with
 * the biased batch variance (PyTorch uses the unbiased one, ×n/(n−1): about 3 % larger at batch
 * 32); it affects only the inference-time statistics, not the training forward pass.
 */
import { UsageError } from '../../errors.js';
import { tf } from '../tf.js';
import { type BuildOptions, type ModelSpec } from './common.js';
import { CNN_DESCRIPTION, buildCnn } from './cnn.js';
import { MLP_DESCRIPTION, buildMlp } from './mlp.js';
import { MOBILENETV2_DESCRIPTION, buildMobilenetV2 } from './mobilenetv2.js';
import { RESNET_DEPTHS, buildResnet, resnetDescription } from './resnet.js';
import { RESNET18_DESCRIPTION, buildResnet18 } from './resnet18.js';
import { MOBILENETV3_SMALL_DESCRIPTION, buildMobilenetV3Small } from './mobilenetv3.js';
import { buildOnnxModel } from './onnx-import.js';
import { buildModuleModel } from './module-model.js';

export type { BuildOptions, ModelSpec } from './common.js';
export { loadWeights, namedWeights, recordProblems, saveWeights, type WeightRecord } from './weights.js';
export { buildOnnxModel, isOnnxModelName, onnxLayerOf, onnxModelSpec } from './onnx-import.js';
export { isCodeModelName, isModuleModelName, moduleModelSpec, prepareModelSpec, registerModelFactory, type ModelFactory } from './module-model.js';

interface Family {
  build(name: string, o: BuildOptions): tf.LayersModel;
  description: string;
}

const ZOO: Record<string, Family> = {
  mlp: { build: buildMlp, description: MLP_DESCRIPTION },
  cnn: { build: buildCnn, description: CNN_DESCRIPTION },
  ...Object.fromEntries(
    Object.keys(RESNET_DEPTHS).map((n) => [n, { build: buildResnet, description: resnetDescription(n) }]),
  ),
  mobilenetv2: { build: buildMobilenetV2, description: MOBILENETV2_DESCRIPTION },
  resnet18: { build: buildResnet18, description: RESNET18_DESCRIPTION },
  mobilenet_v3_small: { build: buildMobilenetV3Small, description: MOBILENETV3_SMALL_DESCRIPTION },
};

/** Every zoo model name, in a stable order. */
export const MODEL_NAMES: readonly string[] = Object.freeze(Object.keys(ZOO));

function family(name: string): Family {
  const f = Object.prototype.hasOwnProperty.call(ZOO, name) ? ZOO[name] : undefined;
  if (!f) throw new UsageError(`unknown model '${name}'`, `valid models: ${MODEL_NAMES.join(', ')}`);
  return f;
}

/** One line describing the architecture of a zoo model; UsageError for unknown names. */
export function describeModel(name: string): string {
  return family(name).description;
}

function validate(name: string, o: BuildOptions): void {
  const s = o.inputShape;
  if (!Array.isArray(s) || s.length !== 3 || !s.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UsageError(`model ${name}: inputShape must be [H, W, C] with positive integers, got ${JSON.stringify(s)}`);
  }
  if (!Number.isInteger(o.numClasses) || o.numClasses < 2) {
    throw new UsageError(`model ${name}: numClasses must be an integer ≥ 2, got ${o.numClasses}`);
  }
  if (!Number.isSafeInteger(o.seed)) throw new UsageError(`model ${name}: seed must be an integer, got ${o.seed}`);
  const wm = o.widthMultiplier;
  if (wm !== undefined && !(Number.isFinite(wm) && wm > 0 && wm <= 8)) {
    throw new UsageError(`model ${name}: widthMultiplier must be in (0, 8], got ${wm}`);
  }
}

/** Builds zoo model `name`; same options → same architecture, layer names and initial weights. */
export function buildModel(name: string, opts: BuildOptions): tf.LayersModel {
  const f = family(name);
  validate(name, opts);
  return f.build(name, opts);
}

/** The spec that `buildFromSpec` turns back into the identical model (store it with checkpoints). */
export function modelSpec(name: string, opts: BuildOptions): ModelSpec {
  family(name);
  validate(name, opts);
  const spec: ModelSpec = {
    name,
    inputShape: [opts.inputShape[0], opts.inputShape[1], opts.inputShape[2]],
    numClasses: opts.numClasses,
    seed: opts.seed,
  };
  if (opts.widthMultiplier !== undefined && opts.widthMultiplier !== 1) spec.widthMultiplier = opts.widthMultiplier;
  return spec;
}

export function buildFromSpec(spec: ModelSpec): tf.LayersModel {
  if (spec.onnx) return buildOnnxModel(spec);
  if (spec.module || spec.code) return buildModuleModel(spec);
  return buildModel(spec.name, {
    inputShape: spec.inputShape,
    numClasses: spec.numClasses,
    seed: spec.seed,
    widthMultiplier: spec.widthMultiplier,
  });
}

/** Parameter counts: trainable (the figure papers quote), non-trainable (BN moving stats), total. */
export function countParams(model: tf.LayersModel): { trainable: number; nonTrainable: number; total: number } {
  const size = (ws: Array<{ shape: Array<number | null> }>) =>
    ws.reduce((a, w) => a + w.shape.reduce((p: number, d) => p * (d ?? 0), 1), 0);
  const trainable = size(model.trainableWeights);
  const nonTrainable = size(model.nonTrainableWeights);
  return { trainable, nonTrainable, total: trainable + nonTrainable };
}
