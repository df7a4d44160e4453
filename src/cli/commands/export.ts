import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { UsageError } from '../../errors.js';
import { intString, parseOptions, printJson } from '../options.js';
import { writeFileAtomic } from '../../cache/safetensors.js';
import { prepareOutDir } from '../../util/out-dir.js';
import { createdBy } from '../../cache/manifest.js';
import { exportCheckpoint, MAX_OPSET, MIN_OPSET } from '../../export/index.js';
import { selectBackend } from '../../student/backend.js';
import { readCheckpoint, resolveCheckpointDir } from '../../student/trainer/checkpoint.js';
import { checkCheckpointAgainstRun } from '../../student/trainer/integrity.js';

/**
 * `tfkd export RUN --out M.onnx`: a run's checkpoint (best by default) → an ONNX classifier that
 * `tfkd precompute` can use as a teacher with no flags: the preprocessing the student was trained
 * with (pixel · 1/255, mean 0, std 1) and its layout are recorded in the model's metadata.
 * Written atomically; prints the sha256.
 */

const ExportOptions = z.strictObject({
  out: z.string().min(1).refine((s) => s.endsWith('.onnx'), 'must end in .onnx'),
  checkpoint: z.string().default('best'),
  layout: z.enum(['NHWC', 'NCHW']).default('NHWC'),
  opset: intString(MIN_OPSET).max(MAX_OPSET).default(MIN_OPSET),
  json: z.boolean().default(false),
});

export function register(program: Command): void {
  program
    .command('export')
    .description(SUMMARIES.export)
    .argument('<run>', 'run directory (or checkpoint directory)')
    .requiredOption('--out <file.onnx>', 'ONNX file to write')
    .option('--checkpoint <name>', 'best | last | epoch-N | step-N (default: best)')
    .option('--layout <layout>', 'input layout of the ONNX model: NHWC (as trained) | NCHW (default: NHWC)')
    .option('--opset <n>', `ONNX opset ${MIN_OPSET}–${MAX_OPSET} (default: ${MIN_OPSET})`)
    .option('--json', 'print JSON')
    .action(async (run: string, raw: unknown) => {
      const o = parseOptions(ExportOptions, raw);
      if (!fs.existsSync(run)) throw new UsageError(`${run}: no such run directory`);
      const dir = resolveCheckpointDir(run, o.checkpoint);
      const ck = readCheckpoint(dir);
      checkCheckpointAgainstRun(dir);
      const { scale, mean, std, resize, crop, cropRounding, interpolation, channels } = ck.state.preprocess;
      // Students of images rendered to their size carry that eval transform (precompute and eval
      // of the exported model then render the same pixels).
      const render = resize !== null && resize !== undefined ? { resize, crop, cropRounding, interpolation, channels } : crop ? { resize: null, crop, cropRounding, interpolation, channels } : undefined;
      // Rebuilding the model needs a tfjs backend; the plain-JS one is enough to read weights out.
      await selectBackend('cpu');
      const bytes = exportCheckpoint(ck.spec, ck.weights, { layout: o.layout, preprocess: { scale, mean, std }, render, opset: o.opset, producerVersion: createdBy().tfkd });
      prepareOutDir(path.dirname(path.resolve(o.out)), '--out (its directory)');
      if (fs.statSync(o.out, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--out ${o.out} is a directory, not an .onnx file path`);
      const sha256 = writeFileAtomic(o.out, [bytes]);
      const info = {
        out: o.out,
        checkpoint: dir,
        model: ck.spec,
        epoch: ck.state.epoch,
        test_acc: ck.state.test_acc,
        layout: o.layout,
        opset: o.opset,
        preprocess: { ...ck.state.preprocess, layout: o.layout },
        bytes: bytes.byteLength,
        sha256,
      };
      if (o.json) {
        printJson(info);
        return;
      }
      const acc = ck.state.test_acc === null ? '' : `, test acc ${(100 * ck.state.test_acc).toFixed(2)} %`;
      process.stdout.write(
        `exported ${ck.spec.name} from ${dir} (epoch ${ck.state.epoch}${acc}) → ${o.out}\n` +
          `  ${o.layout}, opset ${o.opset}, input = pixel·${scale.toPrecision(6)}, ${bytes.byteLength.toLocaleString('en-US')} bytes, sha256 ${sha256}\n`,
      );
    });
}
