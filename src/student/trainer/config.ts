/**
 * The trainer's configuration: one zod schema for everything a run depends on, the documented
 * defaults, and the merge of the three layers a user can set values in:
 *
 *   built-in defaults  <  --config FILE.json  <  command-line flags
 *
 * The *resolved* configuration (every field filled in, loss options included) is what the run
 * directory's `config.json` holds, and a `config.json` is itself a valid `--config` file, so a run
 * can be repeated from it. Unknown keys are rejected everywhere (z.strictObject): a misspelt key
 * in a config file must not silently fall back to a default.
 */
import { z } from 'zod';
import { BACKEND_CHOICES, FIDELITIES, OPTIMIZERS, SCHEDULES } from '../../catalog.js';
import { LOSS_OPTION_NAMES, type LossOptionName } from '../losses/types.js';
import { optionName } from '../../errors.js';

/**
 * Defaults. Chosen so that `--data fashion-mnist --model cnn --epochs 3` reaches ≥ 90 % test
 * accuracy (measured: docs/TRAINING.md) — SGD with momentum 0.9 at lr 0.05, batch 128, a cosine
 * decay to 0 over the run and the paper's weight decay 5e-4. Adam gets its usual lr 1e-3 when the
 * user picks it without an lr. The official code's recipe (lr 0.1·B/128, step ×0.2 at
 * 60/120/160 of 200, one warm-up epoch) is one flag set away: `--lr 0.1 --schedule step --warmup 1
 * --epochs 200`.
 */
export const TRAIN_DEFAULTS = {
  fidelity: 'paper' as const,
  epochs: 10,
  batch: 128,
  lrSgd: 0.05,
  lrAdam: 0.001,
  momentum: 0.9,
  nesterov: false,
  weightDecay: 5e-4,
  /** torch.optim.AdamW's default: its decay is decoupled (w ← w·(1 − lr·wd)), so 5e-4 would barely act. */
  weightDecayAdamw: 0.01,
  optimizer: 'sgd' as const,
  schedule: 'cosine' as const,
  gamma: 0.2,
  warmup: 0,
  seed: 0,
  backend: 'auto' as const,
  evalBatch: 256,
};

/** Default step milestones: the official code's 60/120/160 of 200 epochs, scaled to the run. */
export function defaultMilestones(epochs: number): number[] {
  const m = [0.3, 0.6, 0.8].map((f) => Math.max(1, Math.round(f * epochs)));
  return [...new Set(m)].filter((e) => e < epochs);
}

const posInt = z.number().int().min(1);

/** One optional number per loss option; the registry checks them against the chosen loss. */
function lossOptionFields(): Record<LossOptionName, z.ZodOptional<z.ZodNumber>> {
  return Object.fromEntries(LOSS_OPTION_NAMES.map((k) => [k, z.number().optional()])) as Record<LossOptionName, z.ZodOptional<z.ZodNumber>>;
}

/** `--save-at 1,2,5` (epochs) or `--save-at steps:100,200`. */
const saveAtSchema = z.strictObject({
  unit: z.enum(['epoch', 'step']),
  at: z.array(posInt).min(1),
});
export type SaveAt = z.infer<typeof saveAtSchema>;

/**
 * Every option that determines a run. Loss options are optional here because their defaults
 * depend on the loss and the fidelity (they come from the loss registry); `resolveConfig` fills
 * them in.
 */
export const trainConfigSchema = z.strictObject({
  data: z.string().min(1),
  model: z.string().min(1),
  /** Scales the zoo model's hidden widths (1 = as published; small values make tiny test models). */
  widthMultiplier: z.number().gt(0).max(8).default(1),
  /** `onnx:FILE` students: initializer-name patterns kept fixed (zoo/onnx-import.ts). */
  freeze: z.array(z.string().min(1)).optional(),
  /** `onnx:FILE` students: what the graph's input expects (the teacher's --preprocess specs). */
  preprocess: z.string().min(1).optional(),
  /** `onnx:FILE` students: train a graph whose BatchNorms were folded into its convolutions. */
  allowFolded: z.boolean().optional(),
  /** `onnx:FILE` students: stochastic depth R on the residual branches (zoo/onnx-fold.ts). */
  dropPath: z.number().min(0).lt(1, 'must be < 1').optional(),
  /** `onnx:FILE` students: DeiT's distillation token — the graph's two heads trained separately (zoo/onnx-distill.ts). */
  distillToken: z.boolean().optional(),
  /** A built-in loss's name, or the path of a loss module (`./my-loss.mjs`); `api:NAME` for a function given through the API. */
  loss: z.string().min(1),
  cache: z.array(z.string().min(1)).default([]),
  fidelity: z.enum(FIDELITIES).default(TRAIN_DEFAULTS.fidelity),
  /** Loss options: which ones a loss reads, their bounds and defaults are the loss's entry's (losses/registry.ts). */
  ...lossOptionFields(),
  logitStandardization: z.boolean().default(false),
  epochs: posInt.default(TRAIN_DEFAULTS.epochs),
  batch: posInt.default(TRAIN_DEFAULTS.batch),
  evalBatch: posInt.default(TRAIN_DEFAULTS.evalBatch),
  /**
   * timm's --grad-accum-steps A: one optimizer update per A batches of --batch (the epoch's last
   * update takes the batches left), gradients of loss / A summed in between (loop.ts). Absent: 1,
   * so runs without it keep their config's bytes.
   */
  gradAccumSteps: z.number().int('must be an integer').min(1, 'must be ≥ 1 (batches per update)').optional(),
  lr: z.number().gt(0, 'must be > 0').refine(Number.isFinite, 'must be finite').optional(),
  /**
   * timm's --lr-base: the learning rate at a batch of lrBaseSize; lr = lrBase · ((batch · A) / lrBaseSize),
   * or its square root with lrBaseScale 'sqrt' (resolve.ts). Absent: lr is given or defaulted as before.
   */
  lrBase: z.number().gt(0, 'must be > 0').refine(Number.isFinite, 'must be finite').optional(),
  lrBaseSize: posInt.optional(),
  lrBaseScale: z.enum(['linear', 'sqrt']).optional(),
  momentum: z.number().min(0).lt(1).default(TRAIN_DEFAULTS.momentum),
  nesterov: z.boolean().default(TRAIN_DEFAULTS.nesterov),
  weightDecay: z.number().min(0).optional(),
  /** Weights without weight decay: `1d` (every weight of ≤ 1 dimension: biases, norm scales and shifts — timm's rule) and name patterns (optimizer.ts). */
  skipDecay: z.array(z.string().min(1)).min(1).optional(),
  /** torch.nn.utils.clip_grad_norm_'s max_norm: the gradients' global L2 norm is clipped to it before each update. */
  clipGrad: z.number().gt(0, 'must be > 0').refine(Number.isFinite, 'must be finite').optional(),
  /** timm's layer-wise lr decay d ∈ (0, 1]: weight w learns at lr · d^(L − 1 − layer(w)) (optim/layer-decay.ts). */
  layerDecay: z.number().gt(0, 'must be in (0, 1]').max(1, 'must be in (0, 1]').optional(),
  /** The layer grouping of --layer-decay: a preset (vit, swin, convnext, torchvision-vit) or timm's group matcher as JSON. */
  layerGroups: z.string().min(1).optional(),
  optimizer: z.enum(OPTIMIZERS).default(TRAIN_DEFAULTS.optimizer),
  /** timm's model EMA: the decay d ∈ (0, 1) of an average of the weights kept beside them (student/ema.ts). */
  ema: z.number().gt(0, 'must be in (0, 1)').lt(1, 'must be in (0, 1)').optional(),
  /** The EMA's warm-up (timm's --model-ema-warmup): decay_t = min(1 − t^(−2/3), d). */
  emaWarmup: z.boolean().optional(),
  schedule: z.enum(SCHEDULES).default(TRAIN_DEFAULTS.schedule),
  milestones: z.array(posInt).optional(),
  gamma: z.number().gt(0).default(TRAIN_DEFAULTS.gamma),
  warmup: z.number().min(0).default(TRAIN_DEFAULTS.warmup),
  seed: z.number().int().min(0).max(0xffffffff).default(TRAIN_DEFAULTS.seed),
  backend: z.enum(BACKEND_CHOICES).default(TRAIN_DEFAULTS.backend),
  limit: posInt.nullable().default(null),
  testLimit: posInt.nullable().default(null),
  augment: z.string().min(1).nullable().default(null),
  allowInconsistentViews: z.boolean().default(false),
  /** The student's [H, W] (inputs.ts); absent: the data's own size (required for image folders). */
  inputSize: z.tuple([z.number().int().min(4).max(1024), z.number().int().min(4).max(1024)]).optional(),
  /** folder:/list: images read as grayscale (L, 1 channel) or RGB (3, ImageFolder's default) (inputs.ts). */
  channels: z.enum(['L', 'RGB']).optional(),
  /** The student's eval transform: resize to floor(S / pct), center crop S (inputs.ts). */
  evalCropPct: z.number().gt(0, 'must be in (0, 1]').max(1, 'must be in (0, 1]').optional(),
  saveAt: saveAtSchema.nullable().default(null),
  /**
   * --checkpoint-every N: last/ also after every N-th optimizer step inside an epoch, with the
   * epoch's position, so --resume continues from there (loop.ts). Absent: at epoch ends only.
   */
  checkpointEvery: posInt.optional(),
  /**
   * --test-cache DIR: a cache of a teacher on the test split; every epoch's evaluation adds the
   * fidelity to it (test_agreement, test_kl: evaluate.ts). Absent: not measured.
   */
  testCache: z.string().min(1).optional(),
});

export type TrainConfigInput = z.input<typeof trainConfigSchema>;
type ParsedTrainConfig = z.output<typeof trainConfigSchema>;

/**
 * The resolved configuration: every value the run used, written to RUN/config.json. Of the loss
 * options, exactly those the loss reads are present (with their defaults filled in).
 */
export interface TrainConfig extends Omit<ParsedTrainConfig, 'lr' | 'milestones' | 'weightDecay'> {
  lr: number;
  weightDecay: number;
  milestones: number[];
}

/**
 * Batches of --batch per epoch over `samples` training samples, and optimizer steps per epoch:
 * with --grad-accum-steps A, ⌈batches / A⌉ (the epoch's last step takes the batches left).
 */
export function epochSteps(config: Pick<TrainConfig, 'batch' | 'gradAccumSteps'>, samples: number): { batches: number; steps: number } {
  const batches = Math.ceil(samples / config.batch);
  return { batches, steps: Math.ceil(batches / (config.gradAccumSteps ?? 1)) };
}

/** Keys that may differ between a run and its `--resume` (they do not change what is computed). */
export const RESUME_MUTABLE_KEYS: ReadonlySet<string> = new Set(['epochs', 'backend', 'evalBatch', 'saveAt', 'checkpointEvery']);

/** Parses `1,2,5` / `epochs:1,2` / `steps:100,200` into a SaveAt. Throws Error with a reason. */
export function parseSaveAt(s: string): SaveAt {
  const m = /^(?:(epochs?|steps?):)?([0-9, ]+)$/.exec(s.trim());
  if (!m) throw new Error(`${optionName('saveAt')}: expected "1,2,5" (epochs) or "steps:100,200", got "${s}"`);
  const unit = m[1]?.startsWith('step') ? 'step' : 'epoch';
  const at = m[2]
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')
    .map(Number);
  if (!at.length || !at.every((n) => Number.isInteger(n) && n >= 1)) throw new Error(`${optionName('saveAt')}: positive integers expected, got "${s}"`);
  return { unit, at: [...new Set(at)].sort((a, b) => a - b) };
}

/** Parses `60,120,160` into sorted, distinct positive integers. */
export function parseIntList(s: string, what: string): number[] {
  const xs = s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')
    .map(Number);
  if (!xs.every((n) => Number.isInteger(n) && n >= 1)) throw new Error(`${what}: positive integers expected, got "${s}"`);
  return xs;
}
