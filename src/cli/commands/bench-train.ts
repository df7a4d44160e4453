/** `tfkd bench train`: flags → src/bench/train.ts → the report (see there for what is measured). */
import type { Command } from 'commander';
import { benchGroup } from './bench-group.js';
import { z } from 'zod';
import { BACKEND_CHOICES } from '../../catalog.js';
import { formatTrainBench, runTrainBench } from '../../bench/train.js';
import { intString, parseOptions, printJson } from '../options.js';
import { dataSpecHelp } from '../../data/spec.js';

const Shape = z
  .string()
  .regex(/^\d+x\d+x\d+$/, 'must be HxWxC, e.g. 32x32x3')
  .transform((s) => s.split('x').map(Number) as [number, number, number])
  .refine((s) => s.every((d) => d > 0), 'dimensions must be positive');

const TrainOptions = z.strictObject({
  model: z.string().min(1),
  input: Shape.optional(),
  classes: intString(2).default(10),
  batch: intString(1).default(128),
  steps: intString(1).default(20),
  warmup: intString(0).default(3),
  backend: z.enum(BACKEND_CHOICES).default('auto'),
  seed: z.coerce.number().int().default(1),
  cache: z.array(z.string().min(1)).optional(),
  data: z.string().min(1).optional(),
  renderWorkers: intString(0).optional(),
  torch: z.union([z.literal(true), z.string().min(1)]).optional(),
  json: z.boolean().default(false),
  profile: z.boolean().default(false),
});

/** Adds `train` to the `bench` command group. */
export function register(program: Command): void {
  const bench = benchGroup(program);
  bench
    .command('train')
    .description('img/s of one student training step: forward + KD loss (α=0.5, τ=4) + backward + SGD momentum 0.9, on random data')
    .requiredOption('--model <name>', 'zoo model (cnn, resnet8, resnet20, resnet18, mobilenet_v3_small, …) or onnx:FILE')
    .option('--input <HxWxC>', 'input shape (default 28x28x1 for mlp/cnn, 32x32x3 otherwise)')
    .option('--classes <K>', 'number of classes', '10')
    .option('--batch <B>', 'batch size', '128')
    .option('--steps <S>', 'timed steps', '20')
    .option('--warmup <W>', 'untimed warm-up steps', '3')
    .option('--backend <name>', `${BACKEND_CHOICES.join('|')}`, 'auto')
    .option('--seed <n>', 'seed of the model weights and the random batch', '1')
    .option('--profile', 'also time every kernel of one step (wall and CPU time)')
    .option('--cache <dir...>', 'read each step\'s soft targets from these caches (K must match --classes) and report the read time')
    .option('--data <spec>', dataSpecHelp('feed each step from this data set through the trainer\'s data path (folders: decode + views rendered at --input) and report its share of a step; SPEC'))
    .option('--render-workers <n>', 'with --data: worker threads decoding + rendering ahead of the step (default min(4, cores - 1); 0: main thread)')
    .option('--torch [arch]', 'also time PyTorch training torchvision.models.ARCH (default: the zoo model\'s name, for resnet18 / mobilenet_v3_small; onnx:FILE: the model it was exported from) on the same input, batch, steps and TFKD_THREADS threads, and print the ratio')
    .option('--json', 'print one JSON object')
    .action(async (raw: unknown) => {
      const o = parseOptions(TrainOptions, raw);
      const r = await runTrainBench({ ...o });
      if (o.json) printJson(r);
      else process.stdout.write(formatTrainBench(r));
    });
}
