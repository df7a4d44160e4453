import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { BACKEND_CHOICES, SPLITS, TEACHER_DEVICES } from '../../catalog.js';
import { intString, num, parseOptions, printJson } from '../options.js';
import { CONFUSION_MATRIX_MAX_K, ECE_BINS, formatConfusion, formatConfusionSummary, type TemperatureScaled } from '../../student/evaluate.js';
import { evaluateTarget, type EvalReport } from '../../student/evaluate-target.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { optionName, UsageError } from '../../errors.js';
import { dataSpecHelp } from '../../data/spec.js';

/**
 * `tfkd eval (RUN | M.onnx | CACHE) --data SPEC`: top-1 and top-5 accuracy, mean cross-entropy, the
 * expected calibration error and the confusion matrix (summarised above 20 classes) of a trained
 * student (a run directory's best/last/epoch-N checkpoint, or a checkpoint directory), of any ONNX
 * classifier (through the teacher session, which applies the preprocessing recorded in the model
 * or given with --preprocess), or of a cache's teacher as recorded (its rows, no inference);
 * --temperature / --fit-temperature: temperature scaling (src/student/temperature.ts); --unseen:
 * a run's training samples it did not train on (a --limit run's validation set).
 */

const EvalOptions = z.strictObject({
  data: z.string().min(1),
  split: z.enum(SPLITS).optional(),
  checkpoint: z.string().optional(),
  ema: z.boolean().optional(),
  batch: intString(1).default(256),
  limit: intString(1).optional(),
  // Left undefined when not given (evaluateTarget applies the defaults): an option that does
  // nothing for the target's kind is refused only when the user typed it.
  seed: intString(0).optional(),
  backend: z.enum(BACKEND_CHOICES).optional(),
  device: z.enum(TEACHER_DEVICES).optional(),
  preprocess: z.string().optional(),
  classMap: z.string().optional(),
  teacherLabels: z.string().optional(),
  json: z.boolean().default(false),
  reliability: z.string().min(1).optional(),
  temperature: num('temperature').refine((v) => v > 0, 'temperature must be > 0').optional(),
  fitTemperature: z.boolean().default(false),
  unseen: z.boolean().default(false),
  teacherCache: z.string().min(1).optional(),
});

export function register(program: Command): void {
  program
    .command('eval')
    .description(SUMMARIES.eval)
    .argument('<target>', 'run directory, checkpoint directory, model.onnx, or a cache directory (its teacher as cached)')
    .requiredOption('--data <spec>', dataSpecHelp())
    .option('--split <split>', 'train | test (default: test; a cache: the split it was made from)')
    .option('--checkpoint <name>', 'run checkpoint: best | best-ema | last | epoch-N | step-N (default: best; with --ema, best-ema)')
    .option('--ema', 'runs trained with --ema: the checkpoint\'s average of the weights instead of the weights (by default best-ema/, the epoch whose average tested best)')
    .option('--batch <n>', 'batch size (default: 256)')
    .option('--limit <n>', 'evaluate a seeded subset of n samples')
    .option('--unseen', 'runs trained with --limit: the train-split samples the run did not train on (a validation set)')
    .option('--seed <s>', 'seed of the --limit subset (default: 0)')
    .option('--backend <name>', `runs: tfjs backend ${BACKEND_CHOICES.join(' | ')} (default: auto)`)
    .option('--device <name>', 'ONNX models: auto | cuda | webgpu | cpu (default: auto)')
    .option('--preprocess <spec>', 'ONNX models: imagenet | timm:FILE | hf:FILE | JSON, when the model does not record it')
    .option('--class-map <json|file|names>', 'ONNX models: teacher output of each data class (as for tfkd precompute)')
    .option('--teacher-labels <file>', 'ONNX models: class names of the model\'s outputs, for --class-map by name')
    .option('--json', 'print JSON (with the confusion matrix and the reliability bins)')
    .option('--reliability <base>', 'also write the reliability diagram to BASE.png and BASE.svg')
    .option('--temperature <T>', 'divide the logits by T > 0 before scoring (temperature scaling: a T fitted on other data)')
    .option('--fit-temperature', 'also fit the T that minimises the cross-entropy of these samples, and score at it')
    .option('--teacher-cache <dir>', 'also measure the fidelity to the teacher of this cache (same data and split): top-1 agreement and mean KL(teacher ‖ model) (Stanton et al. 2021)')
    .action(async (target: string, raw: unknown) => {
      const o = parseOptions(EvalOptions, raw);
      const { json: _json, reliability, ...options } = o;
      const stem = reliability === undefined ? null : reliabilityStem(reliability);
      const report = await evaluateTarget(target, options);
      // The diagram before anything is printed: a failure to write it is the command's failure.
      const diagram = stem ? await writeReliability(report, target, stem) : null;
      const r = report;
      const { checkpoint, runtime } = report;
      if (o.json) {
        printJson(report);
        return;
      }
      const c = report.cache;
      const what = checkpoint ? ` (${checkpoint}${o.ema ? ', its average of the weights' : ''})` : c ? ` (the cached outputs of ${c.teacher}${c.views > 1 ? ', view 0 of each sample' : ''}; no inference)` : '';
      const lines = [
        `model      ${target}${what}`,
        `data       ${r.data} [${r.split}], ${r.n} samples${c?.skipped ? ` (${c.skipped} left out: precompute --skip-bad could not decode them)` : ''}${unseenNote(r)}`,
        `runtime    ${runtime}`,
        ...(r.temperature === undefined ? [] : [`temperature ${r.temperature} (logits ÷ T before scoring: the loss and calibration change, the rankings do not)`]),
        `accuracy   ${(100 * r.accuracy).toFixed(2)} %`,
        ...(r.top5 === null ? [] : [`top-5      ${(100 * r.top5).toFixed(2)} %`]),
        `loss       ${r.loss.toFixed(4)} (mean cross-entropy${c?.topk ? `; a top-${c.topk} cache: a label outside the top ${c.topk} gets the tail's average probability` : ''})`,
        `ECE        ${(100 * r.ece).toFixed(2)} % (${ECE_BINS} bins; mean confidence ${(100 * r.confidence).toFixed(2)} %)`,
      ];
      if (r.temperatureFit) lines.push(...formatTemperatureFit(r.temperatureFit));
      if (r.fidelity) lines.push(...formatFidelity(r));
      const named = r.classNames && r.classNames.some((n, i) => n !== String(i));
      if (r.numClasses <= CONFUSION_MATRIX_MAX_K) {
        lines.push('confusion matrix (rows: true class, columns: predicted):', formatConfusion(r));
        if (named) lines.push(`classes: ${r.classNames!.map((n, i) => `${i} ${n}`).join(' · ')}`);
      } else lines.push(formatConfusionSummary(r));
      if (diagram) lines.push(`reliability diagram: ${diagram.png}, ${diagram.svg}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

/** With --unseen: which samples these are. */
function unseenNote(r: EvalReport): string {
  if (!r.unseen) return '';
  const { trained, pool } = r.unseen;
  return r.n === pool ? ` the run did not train on (it trained on ${trained})` : ` of the ${pool} the run did not train on (it trained on ${trained})`;
}

/** With --teacher-cache: which teacher, the agreement with it and the KL from it (three lines). */
function formatFidelity(r: EvalReport): string[] {
  const f = r.fidelity!;
  const t = r.teacherCache!;
  const left = t.skipped ? `; ${t.skipped} samples it has no row for left out` : '';
  return [
    `teacher    ${t.dir} (the cached outputs of ${t.teacher}${t.views > 1 ? ', view 0 of each sample' : ''}${left})`,
    `agreement  ${(100 * f.agreement).toFixed(2)} % (top-1: the model predicts the teacher's class; the teacher's accuracy here ${(100 * f.teacherAccuracy).toFixed(2)} %)`,
    `KL(t‖m)    ${f.kl.toFixed(4)} (mean KL(teacher ‖ model), nats; the teacher at τ = 1, the model at T = ${r.temperature ?? 1}${t.topk ? `; a top-${t.topk} cache: the teacher's tail mass spread evenly` : ''})`,
  ];
}

/** The fitted temperature and the figures at it (two lines). */
function formatTemperatureFit(f: TemperatureScaled): string[] {
  const where = f.bound === 'low' ? ' (the search bound: the loss still falls as T → 0, every sample is classified right with a margin)'
    : f.bound === 'high' ? ' (the search bound: the loss still falls as T grows)' : '';
  return [
    `fitted T   ${f.temperature.toPrecision(5)}${where}: minimises the mean cross-entropy of these samples (optimistic here; --temperature applies it to other data)`,
    `at that T  loss ${f.loss.toFixed(4)}, ECE ${(100 * f.ece).toFixed(2)} % (mean confidence ${(100 * f.confidence).toFixed(2)} %)`,
  ];
}

/** --reliability BASE (or BASE.png / BASE.svg) → BASE, refused before any work when its folder is missing. */
function reliabilityStem(base: string): string {
  const stem = base.replace(/\.(png|svg)$/i, '');
  const dir = path.dirname(path.resolve(stem));
  if (!fs.existsSync(dir)) throw new UsageError(`${optionName('reliability')} ${base}: the folder ${dir} does not exist`);
  return stem;
}

/** BASE.png and BASE.svg of the evaluation's reliability diagram (vega loaded only when asked for). */
async function writeReliability(r: EvalReport, target: string, stem: string): Promise<{ png: string; svg: string }> {
  const { renderPlot, reliabilitySpec } = await import('../../experiment/plots.js');
  return renderPlot(reliabilitySpec(r, `${target} on ${r.data.length > 48 ? `…${r.data.slice(-47)}` : r.data} [${r.split}]`), stem);
}
