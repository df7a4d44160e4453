/**
 * `tfkd verify CACHE`: checksums, manifest consistency and (sample, view) coverage; with --teacher
 * and --data, recomputes --sample seeded rows and compares them with the cache (src/cache/verify.ts).
 * Exit 1 (WorkError) naming the problem when anything fails.
 */
import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { SPLITS, TEACHER_DEVICES } from '../../catalog.js';
import { runVerify } from '../../cache/verify-run.js';
import { WorkError } from '../../errors.js';
import { intString, parseOptions, printJson } from '../options.js';
import { dataSpecHelp } from '../../data/spec.js';

const Options = z.strictObject({
  teacher: z.string().optional(),
  data: z.string().optional(),
  split: z.enum(SPLITS).optional(),
  sample: intString(1).default(64),
  seed: z.coerce.number().int().min(0).max(0xffffffff).default(0),
  device: z.enum(TEACHER_DEVICES).default('cpu'),
  threads: intString(1).optional(),
  json: z.boolean().optional(),
});

export function register(program: Command): void {
  program
    .command('verify')
    .description(SUMMARIES.verify)
    .argument('<cache>', 'cache directory')
    .option('--teacher <model.onnx>', 'the teacher the cache was made with (recompute check)')
    .option('--data <spec>', dataSpecHelp('the data set the cache was made from (recompute check); SPEC'))
    .option('--split <split>', 'train or test (default: the cache\'s)')
    .option('--sample <n>', 'rows to recompute', '64')
    .option('--seed <s>', 'seed of the row draw', '0')
    .option('--device <device>', `${TEACHER_DEVICES.join('|')} for the recompute`, 'cpu')
    .option('--threads <n>', 'onnxruntime threads')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, raw: unknown, cmd: Command) => {
      const o = parseOptions(Options, raw);
      // The flags typed, not commander's defaults: those are never refused as doing nothing.
      const explicit = new Set(cmd.options.map((x) => x.attributeName()).filter((k) => cmd.getOptionValueSource(k) === 'cli'));
      const r = await runVerify(dir, { ...o, explicit });
      const s = r.structure;
      if (o.json) printJson(r);
      else {
        const lines = [`${dir}: ${s.ok ? 'OK' : 'FAILED'} — ${s.shards} shard(s), ${s.rows} rows, key ${s.key.slice(0, 12)}…`];
        for (const p of s.problems) lines.push(`  problem: ${p}`);
        for (const w of s.warnings) lines.push(`  warning: ${w}`);
        const rc = r.recompute;
        if (rc) {
          lines.push(`  recomputed ${rc.rowsChecked} rows: max |Δ| ${rc.maxAbsDiff.toExponential(3)} (tolerance ${rc.tolerance}), mean KL ${rc.meanKL.toExponential(3)} nats — ${rc.ok ? 'OK' : 'FAILED'}`);
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      if (!s.ok) throw new WorkError(`cache ${dir} failed verification: ${s.problems[0]}${s.problems.length > 1 ? ` (+${s.problems.length - 1} more)` : ''}`);
      const rc = r.recompute;
      if (rc && !rc.ok) {
        const w = rc.worst!;
        throw new WorkError(`cache ${dir}: recomputed logits differ beyond tolerance at sample ${w.sample}, view ${w.view}, class ${w.class}: cached ${w.cached}, teacher ${w.recomputed}`);
      }
    });
}
