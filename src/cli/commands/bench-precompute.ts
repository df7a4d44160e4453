/** `tfkd bench precompute`: flags → src/bench/precompute.ts → the report (see there for what is measured). */
import type { Command } from 'commander';
import { benchGroup } from './bench-group.js';
import { z } from 'zod';
import { LAYOUTS, SPLITS, TEACHER_DEVICES } from '../../catalog.js';
import { formatPrecomputeBench, runPrecomputeBench } from '../../bench/precompute.js';
import { intString, parseOptions, printJson } from '../options.js';
import { dataSpecHelp } from '../../data/spec.js';

const Options = z.strictObject({
  teacher: z.string().min(1),
  data: z.string().min(1),
  split: z.enum(SPLITS).default('train'),
  batch: intString(1).default(256),
  rows: intString(1).default(10240),
  reps: intString(1).default(3),
  topk: intString(1).default(5),
  device: z.enum(TEACHER_DEVICES).default('auto'),
  threads: intString(1).optional(),
  sessions: z.union([z.literal('auto'), intString(1)]).optional(),
  preprocess: z.string().optional(),
  layout: z.enum(LAYOUTS).optional(),
  output: z.string().optional(),
  worker: z.boolean().optional(),
  classMap: z.string().optional(),
  decoders: intString(1).optional(),
  renderWorkers: intString(0).optional(),
  torch: z.string().optional(),
  torchLoader: z.boolean().optional(),
  json: z.boolean().optional(),
});

export function register(program: Command): void {
  const bench = benchGroup(program);
  bench
    .command('precompute')
    .description('end-to-end precompute rows/s vs bare session.run rows/s (same model, batch, rows), and cache bytes per row')
    .requiredOption('--teacher <M.onnx>', 'ONNX teacher')
    .requiredOption('--data <SPEC>', dataSpecHelp())
    .option('--split <split>', 'train|test', 'train')
    .option('--batch <N>', 'batch size', '256')
    .option('--rows <N>', 'rows to run (the first N samples)', '10240')
    .option('--reps <R>', 'repetitions of the timed pair (best is reported)', '3')
    .option('--topk <k>', 'k of the top-k variant', '5')
    .option('--device <device>', TEACHER_DEVICES.join('|'), 'auto')
    .option('--threads <N>', 'onnxruntime intra-op threads (default: all cores)')
    .option('--sessions <N|auto>', 'onnxruntime sessions side by side on the CPU, sharing --threads (default 1, as tfkd precompute)')
    .option('--preprocess <JSON|FILE>', 'preprocessing spec')
    .option('--layout <NCHW|NHWC>', 'force the input layout')
    .option('--output <NAME>', 'logits output name')
    .option('--worker', 'also time the pipeline with onnxruntime in a worker thread')
    .option('--class-map <json|file|names>', 'teacher output of each data class (as for tfkd precompute)')
    .option('--decoders <n>', 'images decoded at once (folder:/list: data)')
    .option('--render-workers <n>', 'worker threads decoding + rendering folder:/list: images in the end-to-end runs (0: main thread)')
    .option('--torch <arch>', 'also time PyTorch eval of this torchvision architecture (e.g. resnet18) at the same batch and threads')
    .option('--torch-loader', 'with --torch on a folder: also time PyTorch end to end (ImageFolder + DataLoader(num_workers = render workers) + eval) over the same rows, per repetition')
    .option('--json', 'print one JSON object')
    .action(async (raw: unknown) => {
      const o = parseOptions(Options, raw);
      const cmd = `tfkd bench precompute ${process.argv.slice(4).join(' ')}`.trim();
      const r = await runPrecomputeBench(o, cmd);
      if (o.json) printJson(r);
      else process.stdout.write(formatPrecomputeBench(r));
    });
}
