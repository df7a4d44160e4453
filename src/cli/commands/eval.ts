import * as fs from 'node:fs';
import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { UsageError } from '../../errors.js';
import { intString, parseOptions, printJson } from '../options.js';
import { openDataset } from '../../data/open.js';
import { hashU32, subset } from '../../data/rng.js';
import { BACKEND_CHOICES, selectBackend } from '../../student/backend.js';
import { evaluate, formatConfusion, modelForward, type EvalResult, type EvaluateOptions, type Forward } from '../../student/evaluate.js';
import { loadCheckpointModel, readCheckpoint, resolveCheckpointDir } from '../../student/trainer/checkpoint.js';
import { checkCheckpointAgainstRun } from '../../student/trainer/integrity.js';
import { openTeacher } from '../../teacher/session.js';
import { renderSpecOf } from '../../teacher/preprocess.js';
import { renderedDataset } from '../../student/trainer/inputs.js';

/**
 * `tfkd eval (RUN | M.onnx) --data SPEC`: top-1 accuracy, mean cross-entropy and the confusion
 * matrix of a trained student (a run directory's best/last/epoch-N checkpoint, or a checkpoint
 * directory) or of any ONNX classifier (through the teacher session, which applies the
 * preprocessing recorded in the model or given with --preprocess).
 */

const EvalOptions = z.strictObject({
  data: z.string().min(1),
  split: z.enum(['train', 'test']).default('test'),
  checkpoint: z.string().default('best'),
  batch: intString(1).default(256),
  limit: intString(1).optional(),
  seed: intString(0).default(0),
  backend: z.enum(BACKEND_CHOICES).default('auto'),
  device: z.enum(['auto', 'cuda', 'webgpu', 'cpu']).default('auto'),
  preprocess: z.string().optional(),
  classMap: z.string().optional(),
  teacherLabels: z.string().optional(),
  json: z.boolean().default(false),
});

export interface EvalReport extends EvalResult {
  target: string;
  kind: 'run' | 'onnx';
  checkpoint: string | null;
  data: string;
  split: 'train' | 'test';
  runtime: string;
}

export function register(program: Command): void {
  program
    .command('eval')
    .description(SUMMARIES.eval)
    .argument('<target>', 'run directory, checkpoint directory, or model.onnx')
    .requiredOption('--data <spec>', 'data SPEC (as for tfkd train)')
    .option('--split <split>', 'train | test (default: test)')
    .option('--checkpoint <name>', 'run checkpoint: best | last | epoch-N | step-N (default: best)')
    .option('--batch <n>', 'batch size (default: 256)')
    .option('--limit <n>', 'evaluate a seeded subset of n samples')
    .option('--seed <s>', 'seed of the --limit subset (default: 0)')
    .option('--backend <name>', 'runs: tfjs backend auto | tensorflow | wasm | cpu (default: auto)')
    .option('--device <name>', 'ONNX models: auto | cuda | webgpu | cpu (default: auto)')
    .option('--preprocess <spec>', 'ONNX models: imagenet | timm:FILE | hf:FILE | JSON, when the model does not record it')
    .option('--class-map <json|file|names>', 'ONNX models: teacher output of each data class (as for tfkd precompute)')
    .option('--teacher-labels <file>', 'ONNX models: class names of the model\'s outputs, for --class-map by name')
    .option('--json', 'print JSON (with the confusion matrix)')
    .action(async (target: string, raw: unknown) => {
      const o = parseOptions(EvalOptions, raw);
      if (!fs.existsSync(target)) throw new UsageError(`${target}: no such file or directory`);
      const ds = await openDataset(o.data, { split: o.split });
      if (o.limit !== undefined && o.limit > ds.size) throw new UsageError(`--limit ${o.limit} exceeds the ${ds.size} samples of the ${o.split} split`);
      const indices = o.limit === undefined ? undefined : subset(ds.size, o.limit, hashU32(o.seed, 0xe7a1));
      const isOnnx = fs.statSync(target).isFile();
      let forward: Forward;
      let close = async () => {};
      let checkpoint: string | null = null;
      let runtime: string;
      let images: EvaluateOptions['images'];
      let evalDs = ds;
      if (isOnnx) {
        const t = await openTeacher(target, {
          device: o.device,
          preprocess: o.preprocess,
          classMap: o.classMap,
          teacherLabels: o.teacherLabels,
          data: { shape: ds.shape, numClasses: ds.numClasses, classNames: ds.classNames, variableSize: ds.variableSize },
        });
        forward = (pixels, n) => t.run(pixels, n);
        // Variable-size images are rendered by the model's own preprocessing (resize + crop).
        if (ds.variableSize) images = { mode: t.preprocess.channels === 'L' ? 'L' : 'RGB', forward: (imgs) => t.runImages(imgs) };
        close = () => t.close();
        runtime = `onnxruntime ${t.info.provider}`;
      } else {
        const dir = resolveCheckpointDir(target, o.checkpoint);
        checkpoint = dir;
        const ck = readCheckpoint(dir);
        checkCheckpointAgainstRun(dir);
        const [h, w, c] = ck.spec.inputShape;
        // A student trained on rendered images (folders, --input-size) evaluates through its own
        // eval transform, recorded in the checkpoint.
        const pre = ck.state.preprocess;
        if ((ds.variableSize || pre.resize || pre.crop) && pre.resize !== undefined) {
          evalDs = renderedDataset(ds, { shape: { height: h, width: w, channels: c }, rendered: true, side: { eval: renderSpecOf(pre), size: [h, w] }, preprocess: pre });
        }
        const { height, width, channels } = evalDs.shape;
        if (h !== height || w !== width || c !== channels || ck.spec.numClasses !== ds.numClasses) {
          throw new UsageError(
            `${dir}: the model takes ${h}x${w}x${c} images and K = ${ck.spec.numClasses}; ${ds.spec} has ${height}x${width}x${channels} and K = ${ds.numClasses}`,
          );
        }
        const backend = await selectBackend(o.backend);
        const model = loadCheckpointModel(ck);
        forward = modelForward(model, evalDs.shape);
        close = async () => {
          model.dispose();
        };
        runtime = `tfjs ${backend.name}`;
      }
      let r: EvalResult;
      try {
        r = await evaluate(forward, evalDs, { indices, batch: o.batch, images });
      } finally {
        await close();
      }
      const report: EvalReport = { target, kind: isOnnx ? 'onnx' : 'run', checkpoint, data: ds.spec, split: o.split, runtime, ...r };
      if (o.json) {
        printJson(report);
        return;
      }
      const lines = [
        `model      ${target}${checkpoint ? ` (${checkpoint})` : ''}`,
        `data       ${ds.spec} [${o.split}], ${r.n} samples`,
        `runtime    ${runtime}`,
        `accuracy   ${(100 * r.accuracy).toFixed(2)} %`,
        `loss       ${r.loss.toFixed(4)} (mean cross-entropy)`,
        'confusion matrix (rows: true class, columns: predicted):',
        formatConfusion(r),
      ];
      if (r.classNames && r.classNames.some((n, i) => n !== String(i))) lines.push(`classes: ${r.classNames.map((n, i) => `${i} ${n}`).join(' · ')}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
