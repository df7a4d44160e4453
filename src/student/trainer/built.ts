/** What the training loop is handed: the run resolved and opened (train.ts), then built. */
import type { CacheReader } from '../../cache/reader.js';
import type { Dataset } from '../../data/dataset.js';
import type { BackendInfo } from '../backend.js';
import type { WeightEma } from '../ema.js';
import type { LossOptions } from '../losses/index.js';
import type { tf } from '../tf.js';
import type { countParams, ModelSpec } from '../zoo/index.js';
import type { TrainConfig } from './config.js';
import type { StudentInputs } from './inputs.js';
import type { TrainOptimizer } from './optimizer.js';
import type { TrainRequest } from './request.js';
import type { ResolvedLoss } from './resolve.js';
import type { ViewPlan } from './targets.js';

/** What `train` has resolved and opened before the backend and model exist. */
export interface Prepared {
  req: TrainRequest;
  config: TrainConfig;
  loss: ResolvedLoss;
  lossOptions: LossOptions;
  trainDs: Dataset;
  testDs: Dataset;
  trainIdx: Int32Array;
  testIdx: Int32Array | undefined;
  fp: string;
  caches: CacheReader[];
  /** --test-cache: the teacher's rows on the test split (fidelity at every evaluation), or null. */
  testTeacher: CacheReader | null;
  plan: ViewPlan;
  inputs: StudentInputs;
  t0: number;
}

/** …plus the backend, the model and its optimizer: everything the loop needs. */
export interface Built extends Prepared {
  backend: BackendInfo;
  model: tf.LayersModel;
  spec: ModelSpec;
  params: ReturnType<typeof countParams>;
  optimizer: TrainOptimizer;
  /** --ema: the average of the weights, updated after every step (null without it). */
  ema: WeightEma | null;
}
