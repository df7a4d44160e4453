import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { intString, parseOptions, printJson } from '../options.js';
import { MAX_OPSET, MIN_OPSET } from '../../export/index.js';
import { exportRun } from '../../export/export-run.js';

/**
 * `tfkd export RUN --out M.onnx`: a run's checkpoint (best by default) → an ONNX classifier that
 * `tfkd precompute` can use as a teacher with no flags: the preprocessing the student was trained
 * with (pixel · 1/255, mean 0, std 1) and its layout are recorded in the model's metadata.
 * Written atomically; prints the sha256.
 */

const ExportOptions = z.strictObject({
  out: z.string().min(1).refine((s) => s.endsWith('.onnx'), 'must end in .onnx'),
  checkpoint: z.string().optional(),
  ema: z.boolean().optional(),
  // Left undefined when not given (exportRun applies the defaults): an ONNX student refuses only a typed one.
  layout: z.enum(['NHWC', 'NCHW']).optional(),
  opset: intString(MIN_OPSET).max(MAX_OPSET).optional(),
  json: z.boolean().default(false),
});

export function register(program: Command): void {
  program
    .command('export')
    .description(SUMMARIES.export)
    .argument('<run>', 'run directory (or checkpoint directory)')
    .requiredOption('--out <file.onnx>', 'ONNX file to write')
    .option('--checkpoint <name>', 'best | best-ema | last | epoch-N | step-N (default: best; with --ema, best-ema)')
    .option('--ema', 'runs trained with --ema: export the checkpoint\'s average of the weights (by default best-ema/, the epoch whose average tested best)')
    .option('--layout <layout>', 'input layout of the ONNX model: NHWC (as trained) | NCHW (default: NHWC)')
    .option('--opset <n>', `ONNX opset ${MIN_OPSET}–${MAX_OPSET} (default: ${MIN_OPSET})`)
    .option('--json', 'print JSON')
    .action(async (run: string, raw: unknown) => {
      const o = parseOptions(ExportOptions, raw);
      const { json: _json, ...options } = o;
      const info = await exportRun(run, options);
      const dir = info.checkpoint;
      if (o.json) {
        printJson(info);
        return;
      }
      const acc = info.test_acc === null ? '' : `, ${o.ema ? 'its average\'s ' : ''}test acc ${(100 * info.test_acc).toFixed(2)} %`;
      // An ONNX student normalised by --preprocess (imagenet, …) takes (pixel·scale − mean)/std.
      const { scale, mean, std } = info.preprocess;
      const scaled = `pixel·${scale.toPrecision(6)}`;
      const input = mean.some((m) => m !== 0) || std.some((s) => s !== 1) ? `(${scaled} − [${mean.join(', ')}]) / [${std.join(', ')}]` : scaled;
      process.stdout.write(
        `exported ${info.model.name} from ${dir} (epoch ${info.epoch}${acc}) → ${o.out}\n` +
          `  ${info.layout}, opset ${info.opset}, input = ${input}, ${info.bytes.toLocaleString('en-US')} bytes, sha256 ${info.sha256}\n`,
      );
    });
}
