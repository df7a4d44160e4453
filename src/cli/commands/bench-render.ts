/** `tfkd bench render`: flags → src/bench/render.ts → the report (see there for what is measured). */
import { dataSpecHelp } from '../../data/spec.js';
import type { Command } from 'commander';
import { z } from 'zod';
import { INTERPOLATIONS } from '../../data/image.js';
import { SPLITS } from '../../catalog.js';
import { formatRenderBench, runRenderBench } from '../../bench/render.js';
import { benchGroup } from './bench-group.js';
import { intString, parseOptions, printJson } from '../options.js';

const Options = z.strictObject({
  data: z.string().min(1),
  split: z.enum(SPLITS).default('train'),
  preprocess: z.string().optional(),
  inputSize: z.string().optional(),
  interpolation: z.enum(INTERPOLATIONS).optional(),
  augment: z.string().optional(),
  seed: intString(0).default(0),
  threads: intString(1).default(2),
  rows: intString(1).default(200),
  reps: intString(1).default(5),
  json: z.boolean().optional(),
});

export function register(program: Command): void {
  benchGroup(program)
    .command('render')
    .description("decode + render images/s vs Pillow + torchvision on the same images (same run, same output bytes), one thread and N")
    .requiredOption('--data <spec>', `${dataSpecHelp('data SPEC')} — of these, the sources of encoded images: folder:DIR and list:FILE`)
    .option('--split <split>', 'train|test', 'train')
    .option('--preprocess <JSON|FILE>', "a teacher's preprocessing spec (e.g. imagenet): its resize + center crop")
    .option('--input-size <S>', "a student's input size: resize S / 0.875, center crop S (tfkd train's eval transform)")
    .option('--interpolation <filter>', `override the filter (${INTERPOLATIONS.join('|')})`)
    .option('--augment <SPEC>', 'render the RandomResizedCrop box of view 1 instead (e.g. rrc,flip; with a policy, e.g. rrc,flip,randaugment, its operations too)')
    .option('--seed <n>', 'seed of the boxes', '0')
    .option('--threads <N>', 'render workers (tfkd) and processes (Pillow) of the parallel run', '2')
    .option('--rows <N>', 'images (the first N of the data set; its files cycled when it has fewer)', '200')
    .option('--reps <R>', 'same-run repetitions (the report gives median and range)', '5')
    .option('--json', 'print one JSON object')
    .action(async (raw: unknown) => {
      const o = parseOptions(Options, raw);
      const r = await runRenderBench(o, `tfkd bench render ${process.argv.slice(4).join(' ')}`.trim());
      if (o.json) printJson(r);
      else process.stdout.write(formatRenderBench(r));
    });
}
