import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { UsageError } from '../../errors.js';
import { formatZodError } from '../../errors.js';
import { int, list, num, parseOptions, printJson } from '../options.js';
import { barCells, createProgress } from '../progress.js';
import { BACKEND_CHOICES, FIDELITIES, OPTIMIZERS, PROGRESS_MODES, SCHEDULES, type ProgressMode } from '../../catalog.js';
import { builtinLosses, describeLosses, entryOptionNames, LOSS_NAMES, LOSS_OPTION_NAMES, standardizableLosses, type LossOptionName } from '../../student/losses/index.js';
import { MODEL_NAMES } from '../../student/zoo/index.js';
import { parseInputSize } from '../../student/trainer/inputs.js';
import { parseIntList, parseSaveAt, trainConfigSchema, TRAIN_DEFAULTS, type TrainConfigInput } from '../../student/trainer/config.js';
import { train } from '../../student/trainer/train.js';
import { type StepProgress } from '../../student/trainer/request.js';
import type { EpochMetrics } from '../../student/trainer/run-dir.js';
import { dataSpecHelp } from '../../data/spec.js';

/**
 * `tfkd train`: commander options → zod (strict, once, here) → a layered config (defaults <
 * --config FILE.json < flags) → the trainer. Prints the parameter count and one line per epoch on
 * stdout; a progress bar on stderr when it is a TTY; `--json` prints the summary as JSON instead.
 */

/** The option bag commander hands over (strings), validated and converted once. */
const CliOptions = z.strictObject({
  data: z.string().optional(),
  model: z.string().optional(),
  widthMultiplier: num('width multiplier').optional(),
  freeze: z.array(z.string()).optional(),
  preprocess: z.string().optional(),
  allowFolded: z.boolean().optional(),
  dropPath: num('drop path').optional(),
  distillToken: z.boolean().optional(),
  loss: z.string().optional(),
  cache: z.array(z.string()).optional(),
  fidelity: z.string().optional(),
  ...(Object.fromEntries(LOSS_OPTION_NAMES.map((k) => [k, num(k).optional()])) as Record<LossOptionName, z.ZodOptional<ReturnType<typeof num>>>),
  logitStandardization: z.boolean().optional(),
  epochs: int('epochs').optional(),
  batch: int('batch').optional(),
  evalBatch: int('eval batch').optional(),
  lr: num('lr').optional(),
  lrBase: num('lr base').optional(),
  lrBaseSize: int('lr base size').optional(),
  lrBaseScale: z.string().optional(),
  momentum: num('momentum').optional(),
  nesterov: z.boolean().optional(),
  weightDecay: num('weight decay').optional(),
  skipDecay: z.array(z.string()).transform((xs) => xs.flatMap((x) => x.split(',')).map((x) => x.trim()).filter((x) => x !== '')).optional(),
  clipGrad: num('clip grad').optional(),
  gradAccumSteps: int('grad accum steps').optional(),
  layerDecay: num('layer decay').optional(),
  layerGroups: z.string().optional(),
  ema: num('ema').optional(),
  emaWarmup: z.boolean().optional(),
  optimizer: z.string().optional(),
  schedule: z.string().optional(),
  milestones: list('milestones', (s) => parseIntList(s, 'milestones')).optional(),
  gamma: num('gamma').optional(),
  warmup: num('warmup').optional(),
  seed: int('seed').optional(),
  backend: z.string().optional(),
  limit: int('limit').optional(),
  testLimit: int('test limit').optional(),
  augment: z.string().optional(),
  allowInconsistentViews: z.boolean().optional(),
  inputSize: z.string().transform((v) => parseInputSize(v)).optional(),
  channels: z.string().optional(),
  evalCropPct: num('eval crop pct').optional(),
  saveAt: list('save-at', parseSaveAt).optional(),
  checkpointEvery: int('checkpoint every').optional(),
  testCache: z.string().optional(),
  config: z.string().optional(),
  out: z.string().min(1),
  resume: z.boolean().optional(),
  stopAfter: int('stop-after').optional(),
  json: z.boolean().optional(),
  progress: z.enum(PROGRESS_MODES).optional(),
});

const NOT_CONFIG = new Set(['config', 'out', 'resume', 'stopAfter', 'json', 'progress']);

/** Reads `--config FILE.json`: an object with the keys of a run's config.json, all optional, unknown keys refused. */
export function readConfigFile(file: string): TrainConfigInput {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new UsageError(err.code === 'ENOENT' ? `--config ${file}: no such file` : `--config ${file}: not valid JSON (${err.message})`);
  }
  const r = trainConfigSchema.partial().safeParse(raw);
  if (!r.success) throw new UsageError(`--config ${file}: ${formatZodError(r.error)}`);
  // Keep only keys present in the file: zod's defaults must not masquerade as user choices.
  const given = raw as Record<string, unknown>;
  return Object.fromEntries(Object.entries(r.data).filter(([k]) => k in given)) as TrainConfigInput;
}

/**
 * Training progress on stderr (cli/progress.ts with the trainer's own line): `bar` redraws one
 * line (epoch, step, loss, img/s) in place; `json` writes one JSON line every 10 s, the first
 * after 10 s (logs, CI: a long run shows it is alive); `auto` is `bar` on a TTY and `json`
 * elsewhere; `off` writes nothing. The bar ends each epoch full (its last step is always drawn).
 */
function progress(mode: ProgressMode) {
  const w = 24;
  return createProgress<StepProgress>({
    label: 'train',
    total: 0,
    unit: 'steps',
    mode,
    now: Date.now,
    intervalMs: { bar: 100, json: 10000 },
    jsonAfterInterval: true,
    barAtTotal: true,
    format: {
      bar: ({ info: p }) =>
        `epoch ${p!.epoch}/${p!.epochs} ${barCells(Math.round((w * p!.step) / p!.steps), w)} ${p!.step}/${p!.steps} loss ${p!.loss.toFixed(4)} ${p!.imgPerSec.toFixed(0)} img/s`,
      json: ({ info: p }) => ({ event: 'progress', epoch: p!.epoch, epochs: p!.epochs, step: p!.step, steps: p!.steps, loss: Number(p!.loss.toFixed(5)), img_per_s: Math.round(p!.imgPerSec) }),
    },
  });
}

/** `--beta`: which losses read it, with what meaning (from their entries). */
function lossOptionHelp(k: LossOptionName): string {
  const users = builtinLosses().filter((e) => entryOptionNames(e).includes(k) || (e.standardized && entryOptionNames(e, true).includes(k)));
  const first = users.map((e) => (e.options[k] ?? e.standardized?.[k])!.help)[0] ?? k;
  return `${first} — read by ${users.map((e) => e.name).join(', ')} (defaults below)`;
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
const d = TRAIN_DEFAULTS;

export function register(program: Command): void {
  const cmd = program.command('train').description(SUMMARIES.train);
  addModelOptions(cmd);
  addLossOptions(cmd);
  addOptimizerOptions(cmd);
  addDataOptions(cmd);
  addRunOptions(cmd);
  cmd.addHelpText('after', helpAfter()).action(runTrainCommand);
}

/** The data and the student: --data, --model, and what onnx: students take. */
function addModelOptions(cmd: Command): void {
  cmd
    .addOption(new Option('--data <spec>', dataSpecHelp()))
    .addOption(new Option('--model <name>', `zoo model: ${MODEL_NAMES.join(', ')}; or onnx:FILE (an ONNX classifier, trained as is), or ./my-model.mjs (a module exporting (shape, classes, tf) => tf.LayersModel): docs/TRAINING.md`))
    .option('--width-multiplier <w>', 'scale the model\'s hidden widths (default: 1)')
    .option('--freeze <pattern>', 'onnx: students: keep the weights whose names match fixed (glob, or a module prefix: features.0); repeatable', collect)
    .option('--preprocess <spec>', 'onnx: students: what the graph\'s input expects (imagenet | timm:FILE | hf:FILE | JSON); default: its tfkd.preprocess metadata, else pixel/255')
    .option('--allow-folded', 'onnx: students: train a graph whose BatchNorms were folded into its convolutions')
    .option('--drop-path <rate>', 'onnx: students: stochastic depth on the residual branches (x + f(x)), rising linearly over the blocks from 0 to this rate, as timm and torchvision do (e.g. 0.1)')
    .option('--distill-token', 'onnx: students exported from a DeiT-distilled ViT (output = (head + head_dist) / 2): train the two heads as DeiT does — the labels on the class token\'s head, the teacher (hard-kd, kd) on the distillation token\'s; evaluation and export keep the average');
}

/** The loss, the teachers' caches, and one flag per loss option, its help from the losses that read it (the registry). */
function addLossOptions(cmd: Command): void {
  cmd
    .addOption(new Option('--loss <name>', `loss: ${LOSS_NAMES.join(', ')}, or ./my-loss.mjs (a module exporting a loss entry)`))
    .option('--cache <dir>', 'soft-target cache from tfkd precompute (repeat for a teacher ensemble: mean of tempered probabilities)', collect)
    .option('--fidelity <mode>', `${FIDELITIES.join(' | ')} (the official code's exact formulas) (default: ${d.fidelity})`);
  for (const k of LOSS_OPTION_NAMES) cmd.option(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} <v>`, lossOptionHelp(k));
  cmd.option('--logit-standardization', `z-score student and teacher logits before the softmax (Sun et al. 2024): ${standardizableLosses().join(', ')}`);
}

/** Epochs, batch sizes, the optimizer and its schedule, the seed and the backend. */
function addOptimizerOptions(cmd: Command): void {
  cmd
    .option('--epochs <n>', `epochs (default: ${d.epochs})`)
    .option('--batch <n>', `batch size (default: ${d.batch})`)
    .option('--grad-accum-steps <a>', 'one optimizer update per A batches, their gradients summed (timm\'s --grad-accum-steps): the update of a batch of A·--batch in the memory of one of --batch (default: 1)')
    .option('--eval-batch <n>', `batch size of the per-epoch test evaluation (default: ${d.evalBatch})`)
    .option('--lr <x>', `peak learning rate (default: ${d.lrSgd} for sgd, ${d.lrAdam} for adam and adamw)`)
    .option('--lr-base <x>', "instead of --lr: the learning rate at a batch of --lr-base-size, scaled to --batch × --grad-accum-steps as timm's --lr-base does (linear for sgd, square root for adam/adamw)")
    .option('--lr-base-size <n>', 'the batch --lr-base is given for (default: 256, timm\'s; DeiT\'s is 512, with --lr-base-scale linear)')
    .option('--lr-base-scale <rule>', 'linear | sqrt (default: sqrt for adam and adamw, linear for sgd, as timm)')
    .option('--momentum <m>', `SGD momentum (default: ${d.momentum})`)
    .option('--nesterov', 'Nesterov momentum (default: off)')
    .option('--weight-decay <w>', `weight decay, PyTorch-style: sgd and adam add wd·w to the gradient, adamw decays w ← w·(1 − lr·wd) (default: ${d.weightDecay}; ${d.weightDecayAdamw} for adamw)`)
    .option('--skip-decay <list>', 'weights without weight decay: 1d (biases and norm scales/shifts, timm\'s rule) and weight-name patterns as --freeze takes them, e.g. 1d,pos_embed,cls_token; repeatable', collect)
    .option('--clip-grad <norm>', 'clip the gradients\' global L2 norm to this before each update (torch.nn.utils.clip_grad_norm_)')
    .option('--layer-decay <d>', 'layer-wise lr decay (timm\'s, for fine-tuning transformers): a weight in layer i of L learns at lr·d^(L−1−i), the head at lr (onnx: students)')
    .option('--layer-groups <spec>', 'the layers of --layer-decay: vit, swin, convnext (timm\'s matchers), torchvision-vit, torchvision-convnext, torchvision-swin, or timm\'s group matcher as JSON (default: the first preset that fits)')
    .option('--ema <decay>', 'also keep an exponential moving average of the weights with this decay (timm\'s model EMA, e.g. 0.999), evaluated every epoch and saved in every checkpoint (eval/export --ema)')
    .option('--ema-warmup', 'the EMA\'s warm-up: decay_t = min(1 − t^(−2/3), decay) (timm\'s --model-ema-warmup)')
    .option('--optimizer <name>', `${OPTIMIZERS.join(' | ')}: torch.optim's SGD, Adam, AdamW (default: ${d.optimizer})`)
    .option('--schedule <name>', `${SCHEDULES.join(' | ')} (default: ${d.schedule})`)
    .option('--milestones <list>', 'step schedule: epochs at which lr ×= gamma, e.g. 60,120,160 (default: 30/60/80 % of --epochs)')
    .option('--gamma <g>', `step schedule factor (default: ${d.gamma})`)
    .option('--warmup <epochs>', `linear warm-up epochs (default: ${d.warmup})`)
    .option('--seed <s>', `seed of the initial weights, batch order, subsets and views (default: ${d.seed})`)
    .option('--backend <name>', `${BACKEND_CHOICES.join(' | ')} (default: ${d.backend})`);
}

/** Which samples the student sees, and how: subsets, augmentation, input size, channels, eval crop. */
function addDataOptions(cmd: Command): void {
  cmd
    .option('--limit <n>', 'train on a seeded subset of n training samples')
    .option('--test-limit <n>', 'evaluate on a seeded subset of n test samples (default: all)')
    .option('--augment <spec>', 'augmentation of the student input, e.g. crop:4,flip, crop:4,flip,autoaugment:cifar10 or crop:4,flip,mixup:1 (with a multi-view cache: taken from the cache)')
    .option('--allow-inconsistent-views', 'accept --augment with a single-view cache (teacher saw the original image)')
    .option('--input-size <H[,W]>', 'the student\'s input size (needed for image folders; default: the data\'s own size)')
    .option('--channels <L|RGB>', 'folder:/list: images read as L (grayscale, 1 channel) or RGB (3; the default, as ImageFolder)')
    .option('--eval-crop-pct <p>', 'the student\'s eval transform: resize to floor(size / p), center crop size (default 0.875); for rendered inputs only (folder:/list: data, or an --input-size other than the data\'s)');
}

/** The run itself: checkpoints kept, --config, the run directory, resuming, and what is printed. */
function addRunOptions(cmd: Command): void {
  cmd
    .option('--save-at <list>', 'keep checkpoints at these epochs (1,2,5) or steps (steps:100,200), each with its test accuracy')
    .option('--test-cache <dir>', 'a cache of a teacher on the test split: every epoch also records the fidelity to it — top-1 agreement and mean KL(teacher ‖ model) (Stanton et al. 2021; as tfkd eval --teacher-cache)')
    .option('--checkpoint-every <n>', 'also write last/ every N steps inside an epoch (weights, optimizer, the epoch\'s position), so --resume after a crash loses at most N steps; the numbers do not change (default: at epoch ends only)')
    .option('--config <file>', 'JSON file of options (keys as in a run\'s config.json; flags override it; unknown keys refused)')
    .requiredOption('--out <dir>', 'run directory to create (or continue with --resume)')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .addOption(new Option('--stop-after <epochs>', 'stop after this many epochs, leaving a resumable run').hideHelp(false))
    .option('--progress <mode>', 'auto (bar on a TTY, a JSON line every 10 s otherwise), bar, json or off (default: auto)')
    .option('--json', 'print the summary as JSON');
}

/** The end of `tfkd train --help`: the losses and their defaults, the run's defaults, the run directory, the exit codes. */
function helpAfter(): string {
  return `
Losses (defaults per --fidelity):
${describeLosses()}

Defaults: SGD momentum ${d.momentum}, lr ${d.lrSgd}, batch ${d.batch}, weight decay ${d.weightDecay}, cosine schedule,
${d.epochs} epochs, seed ${d.seed}. Inputs are pixels/255 (NHWC), recorded in every checkpoint.
Run directory: config.json, manifest.json, metrics.jsonl, summary.json, checkpoints/{last,best,best-ema,epoch-N}.
Exit codes: 0 ok, 1 the work failed, 2 bad usage or input.`;
}

/** The layered config (defaults < --config FILE.json < flags); a new run needs --data, --model and --loss from one of them. */
function configOf(o: z.infer<typeof CliOptions>): TrainConfigInput {
  const fromFile = o.config ? readConfigFile(o.config) : {};
  const fromFlags = Object.fromEntries(Object.entries(o).filter(([k, v]) => !NOT_CONFIG.has(k) && v !== undefined));
  const config = { ...fromFile, ...fromFlags } as TrainConfigInput;
  if (!o.resume) {
    const missing = (['data', 'model', 'loss'] as const).filter((k) => config[k] === undefined).map((k) => `--${k}`);
    if (missing.length) throw new UsageError(`missing ${missing.join(', ')}`, 'tfkd train --data SPEC --model NAME --loss NAME --out RUN');
  }
  return config;
}

/** `tfkd train`'s action: validate, train (progress on stderr, one line per epoch), print the summary. */
async function runTrainCommand(raw: Record<string, unknown>): Promise<void> {
  const o = parseOptions(CliOptions, raw);
  const config = configOf(o);
  const json = o.json === true;
  const say = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
  const bar = progress(o.progress ?? 'auto');
  const result = await train({
    config,
    explicit: new Set(Object.keys(config)),
    out: o.out,
    resume: o.resume,
    stopAfter: o.stopAfter,
    hooks: {
      info: say,
      warn: (s) => process.stderr.write(`warning: ${s}\n`),
      onStep: (p) => bar.update(p.step, p, p.steps),
      onEpoch: (m, best) => {
        bar.clear();
        say(epochLine(m, best.epoch === m.epoch));
      },
    },
  });
  bar.clear();
  if (json) {
    printJson({ out: result.out, complete: result.complete, seconds: result.seconds, ...result.summary });
    return;
  }
  const s = result.summary;
  say(
    `${result.complete ? 'done' : 'stopped'}: final test acc ${pct(s.final_test_acc)}, best ${pct(s.best_test_acc)} (epoch ${s.best_epoch}), ` +
      (s.ema_final_test_acc !== undefined ? `EMA final ${pct(s.ema_final_test_acc)}, best ${pct(s.ema_best_test_acc!)} (epoch ${s.ema_best_epoch}), ` : '') +
      `${s.epochs} epoch(s) in ${result.seconds.toFixed(1)} s on ${s.backend} → ${result.out}`,
  );
}

/** The line printed after each epoch (`*best` when its test accuracy is the best so far). */
function epochLine(m: EpochMetrics, best: boolean): string {
  return (
    `epoch ${String(m.epoch).padStart(3)}  train loss ${m.train_loss.toFixed(4)} acc ${pct(m.train_acc)}  ` +
    `test loss ${m.test_loss.toFixed(4)} acc ${pct(m.test_acc)}  ${m.test_agreement !== undefined ? `agree ${pct(m.test_agreement)}  ` : ''}${m.ema_test_acc !== undefined ? `ema acc ${pct(m.ema_test_acc)}  ` : ''}lr ${m.lr.toPrecision(3)}  ${m.seconds.toFixed(1)} s` +
    (best ? '  *best' : '')
  );
}
