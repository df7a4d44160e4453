/**
 * `tfkd report DIR... --out DIR`: table.md (mean ± sample std per method, Δ vs baseline with a
 * Welch interval and a reading, seeds, the protocol and sweeps), index.html (the same on one
 * self-contained page with inline SVG plots and every run's config and manifest), curves.svg/png,
 * de-kd.svg/png and report.json from experiment directories (their plan.json) or any directories
 * holding run directories.
 */
import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import * as path from 'node:path';
import { z } from 'zod';
import { parseOptions, printJson } from '../options.js';
import { writeReport } from '../../experiment/report.js';
import { renderTable } from '../../experiment/report-table.js';

const Options = z.strictObject({
  out: z.string().min(1),
  title: z.string().optional(),
  json: z.boolean().optional(),
  against: z.string().min(1).optional(),
});

export function register(program: Command): void {
  program
    .command('report')
    .description(SUMMARIES.report)
    .argument('<dirs...>', 'experiment directories (with plan.json) or directories containing run directories')
    .requiredOption('--out <dir>', 'report directory to write')
    .option('--title <text>', 'title of table.md')
    .option('--json', 'print report.json to stdout')
    .option('--against <method>', 'measure Δ and its Welch interval against this method (of the same model) instead of the baseline, e.g. kd')
    .action(async (dirs: string[], raw: Record<string, unknown>) => {
      const o = parseOptions(Options, raw);
      const rep = await writeReport(dirs, o.out, { title: o.title, against: o.against ?? null });
      if (o.json) return printJson(rep);
      process.stdout.write(renderTable(rep.methods, rep.against));
      if (rep.compute_note) process.stdout.write(`${rep.compute_note}\n`);
      if (rep.missing.length) process.stdout.write(`(${rep.missing.length} planned run(s) not finished, left out)\n`);
      if (rep.changed.length) process.stdout.write(`(${rep.changed.length} run(s) changed since their step finished, left out: ${rep.changed[0].why}${rep.changed.length > 1 ? ', …' : ''})\n`);
      for (const f of ['table.md', 'report.json', rep.html, rep.plots.curves, rep.plots.de_kd, rep.plots.fidelity]) if (f) process.stdout.write(`wrote ${path.join(o.out, f)}\n`);
    });
}
