/**
 * Child process of webgpu.test.ts (the Vulkan driver's environment must be there when a process
 * starts): one run of `train()` per case on the backend named in argv, each a single step of a
 * narrow mlp on 4 Fashion-MNIST samples (PS-KD: two epochs of one step, so that its second step
 * reads the first epoch's predictions), checkpointed after its last step. Writes the model's
 * initial weights (the same on every backend: tfkd initialises on the host) for the updates, and
 * OUT/ID.error for a case whose run failed.
 *   node --import tsx/esm webgpu-runner.ts BACKEND CACHE OUT CASES_JSON
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors } from '../../../src/cache/safetensors.js';
import { train } from '../../../src/student/trainer/train.js';
import { tf } from '../../../src/student/tf.js';
import { buildModel } from '../../../src/student/zoo/index.js';
import { saveWeights } from '../../../src/student/zoo/weights.js';
import type { BackendChoice } from '../../../src/catalog.js';

export interface StepCase {
  /** Directory name under OUT. */
  id: string;
  loss: string;
  logitStandardization: boolean;
  fidelity: 'paper' | 'official';
  teacher: boolean;
  epochs: number;
}
const STEP_MODEL = { model: 'mlp', widthMultiplier: 0.25, seed: 3, inputShape: [28, 28, 1] as [number, number, number], numClasses: 10 };

const [backend, cache, out, casesJson] = process.argv.slice(2);
const cases = JSON.parse(casesJson) as StepCase[];
for (const c of cases) {
  // One loss failing (e.g. a host read on webgpu) fails its own test, with its message, not the others.
  await train({
    out: path.join(out, c.id),
    renderWorkers: 0,
    config: {
      data: 'fashion-mnist:data/fashion-mnist-subset',
      model: STEP_MODEL.model,
      widthMultiplier: STEP_MODEL.widthMultiplier,
      loss: c.loss,
      logitStandardization: c.logitStandardization,
      fidelity: c.fidelity,
      cache: c.teacher ? [cache] : [],
      epochs: c.epochs,
      batch: 4,
      evalBatch: 4,
      limit: 4,
      testLimit: 4,
      seed: STEP_MODEL.seed,
      // No weight decay: the update is −lr·gradient, so comparing updates compares the loss's gradients.
      weightDecay: 0,
      backend: backend as BackendChoice,
      saveAt: { unit: 'step', at: [c.epochs] },
    },
  }).catch((e: unknown) => writeFileSync(path.join(out, `${c.id}.error`), e instanceof Error ? e.message : String(e)));
}
if (backend === 'cpu') {
  const m = buildModel(STEP_MODEL.model, { inputShape: STEP_MODEL.inputShape, numClasses: STEP_MODEL.numClasses, seed: STEP_MODEL.seed, widthMultiplier: STEP_MODEL.widthMultiplier });
  writeSafetensors(path.join(out, 'init.safetensors'), saveWeights(m));
  m.dispose();
}
console.log(`${cases.length} runs on ${tf.getBackend()}`);
