/**
 * `tfkd verify CACHE`: checksums, manifest consistency and (sample, view) coverage; with --teacher
 * and --data, recomputes --sample seeded rows and compares them with the cache (src/cache/verify.ts).
 * Exit 1 (WorkError) naming the problem when anything fails.
 */
import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { TEACHER_DEVICES } from '../../catalog.js';
import { openCache } from '../../cache/reader.js';
import { verifyRecompute, verifyStructure, type RecomputeReport } from '../../cache/verify.js';
import { parseAugmentSpec } from '../../data/augment.js';
import { fingerprint } from '../../data/fingerprint.js';
import { openDataset } from '../../data/open.js';
import { openTeacher } from '../../teacher/session.js';
import { UsageError, WorkError } from '../../errors.js';
import { intString, parseOptions, printJson } from '../options.js';

const Options = z.strictObject({
  teacher: z.string().optional(),
  data: z.string().optional(),
  split: z.enum(['train', 'test']).optional(),
  sample: intString(1).default(64),
  seed: z.coerce.number().int().min(0).max(0xffffffff).default(0),
  device: z.enum(TEACHER_DEVICES).default('cpu'),
  threads: intString(1).optional(),
  json: z.boolean().optional(),
});

export async function runVerify(dir: string, o: z.infer<typeof Options>): Promise<{ ok: boolean; structure: ReturnType<typeof verifyStructure>; recompute: RecomputeReport | null }> {
  if ((o.teacher === undefined) !== (o.data === undefined)) throw new UsageError('--teacher and --data go together (both, to recompute rows; neither, for the structural checks)');
  const structure = verifyStructure(dir);
  let recompute: RecomputeReport | null = null;
  if (structure.ok && o.teacher && o.data) {
    const reader = openCache(dir);
    const m = reader.manifest;
    const split = o.split ?? m.data.split;
    const dataset = await openDataset(o.data, { split });
    const teacher = await openTeacher(o.teacher, {
      device: o.device,
      threads: o.threads,
      output: m.teacher.outputName,
      layout: m.teacher.layout,
      preprocess: m.preprocess,
      ...(m.classMap ? { classMap: JSON.stringify(m.classMap.indices) } : {}),
      data: { shape: dataset.shape, numClasses: dataset.numClasses, classNames: dataset.classNames, variableSize: dataset.variableSize },
    });
    try {
      const aug = m.augment ? { spec: parseAugmentSpec(m.augment.spec), seed: m.augment.seed } : null;
      recompute = await verifyRecompute(reader, teacher, dataset, { sample: o.sample, seed: o.seed, fingerprint: await fingerprint(dataset), augment: aug });
    } finally {
      await teacher.close();
      reader.close();
    }
  }
  return { ok: structure.ok && (recompute?.ok ?? true), structure, recompute };
}

export function register(program: Command): void {
  program
    .command('verify')
    .description(SUMMARIES.verify)
    .argument('<cache>', 'cache directory')
    .option('--teacher <model.onnx>', 'the teacher the cache was made with (recompute check)')
    .option('--data <spec>', 'the data set the cache was made from (recompute check)')
    .option('--split <split>', 'train or test (default: the cache\'s)')
    .option('--sample <n>', 'rows to recompute', '64')
    .option('--seed <s>', 'seed of the row draw', '0')
    .option('--device <device>', `${TEACHER_DEVICES.join('|')} for the recompute`, 'cpu')
    .option('--threads <n>', 'onnxruntime threads')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, raw: unknown) => {
      const o = parseOptions(Options, raw);
      const r = await runVerify(dir, o);
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
