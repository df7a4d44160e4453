/** `tfkd bench micro`: flags → src/bench/micro.ts → the report (see there for what is measured). */
import type { Command } from 'commander';
import { z } from 'zod';
import { formatMicroBench, runMicroBench } from '../../bench/micro.js';
import { intString, parseOptions, printJson } from '../options.js';
import { benchGroup } from './bench-group.js';

const Options = z.strictObject({
  reps: intString(1).default(5),
  check: z.boolean().optional(),
  json: z.boolean().optional(),
});

export function register(program: Command): void {
  benchGroup(program)
    .command('micro')
    .description('hot loops (preprocess fill, PIL resize) as ratios against a reference timed in the same run')
    .option('--reps <R>', 'alternating timed rounds (best is reported)', '5')
    .option('--check', 'exit 1 when a ratio is outside its bound')
    .option('--json', 'print one JSON object')
    .action((raw: unknown) => {
      const o = parseOptions(Options, raw);
      const r = runMicroBench({ reps: o.reps });
      if (o.json) printJson(r);
      else process.stdout.write(formatMicroBench(r));
      if (o.check && r.figures.some((f) => f.ok === false)) process.exitCode = 1;
    });
}
