/**
 * `tfkd experiment FILE.(json|yaml) --out DIR`: validates a design (exit 2 with the offending
 * path on any problem), expands it into steps keyed by their content, and runs what is not yet
 * finished — a re-run skips finished runs and caches. Ends with the results table (the same one
 * `tfkd report DIR` writes). docs/EXPERIMENTS.md describes the format.
 */
import type { Command } from 'commander';
import * as path from 'node:path';
import { z } from 'zod';
import { WorkError } from '../errors.js';
import { intString, parseOptions, printJson } from '../options.js';
import { loadDesign } from '../../experiment/design.js';
import { executePlan } from '../../experiment/execute.js';
import { expandDesign } from '../../experiment/plan.js';
import { collectRuns, renderTable, summarize, writeReport } from '../../experiment/report.js';
import { CliRunner, type Runner } from '../../experiment/runner.js';

const Options = z.strictObject({
  out: z.string().min(1),
  dryRun: z.boolean().optional(),
  json: z.boolean().optional(),
  jobs: intString(1).default(1),
  report: z.boolean().optional(),
});

/** The runner used by the command; tests replace it to run without training. */
export const runnerFactory: { create: () => Runner } = { create: () => new CliRunner() };

export function register(program: Command): void {
  program
    .command('experiment')
    .description('run a declarative design (baseline, lsr, kd, re-kd, de-kd, tfkd-self, tfkd-reg × seeds), resumably')
    .argument('<file>', 'design file (.json, .yaml or .yml); see docs/EXPERIMENTS.md')
    .requiredOption('--out <dir>', 'experiment directory (runs/, caches/, teachers/, plan.json); re-use it to resume')
    .option('--dry-run', 'validate and expand; print the steps and which are already finished; run nothing')
    .option('--jobs <n>', 'steps run at the same time (independent steps only)', '1')
    .option('--no-report', 'do not write DIR/report (table.md, plots) at the end')
    .option('--json', 'print the plan and step outcomes as JSON (progress lines go to stderr)')
    .addHelpText(
      'after',
      `
Every step (train, export, precompute) is named by a hash of its resolved configuration and inputs;
finished steps (summary.json / manifest.json present) are reused, interrupted ones are redone.
Exit codes: 0 ok, 1 a step failed, 2 bad design file or usage.`,
    )
    .action(async (file: string, raw: Record<string, unknown>) => {
      const o = parseOptions(Options, raw);
      const json = o.json === true;
      const say = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
      const loaded = loadDesign(file);
      const plan = expandDesign(loaded);
      const counts = { train: 0, export: 0, precompute: 0 };
      for (const s of plan.steps) counts[s.type] += 1;
      say(
        `${file}: ${plan.runs.length} student runs; ${plan.steps.length} steps (${counts.train} train, ${counts.export} export, ${counts.precompute} precompute) → ${o.out}`,
      );
      // SIGINT / SIGTERM: start nothing new, stop the steps in flight, and end normally (status.json
      // written, exit 1); a re-run redoes the interrupted steps.
      const runner = runnerFactory.create();
      const abort = new AbortController();
      const onSignal = (sig: NodeJS.Signals): void => {
        process.stderr.write(`\n${sig}: stopping the running steps; re-run the same command to resume\n`);
        abort.abort();
        runner.cancel?.(sig);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let result;
      try {
        result = await executePlan(plan, { outDir: o.out, runner, jobs: o.jobs, log: say, dryRun: o.dryRun, abort: abort.signal });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      const { runs, missing } = o.dryRun ? { runs: [], missing: [] } : collectRuns([o.out]);
      const rows = summarize(runs);
      if (!o.dryRun) {
        say(`${result.ran} ran, ${result.skipped} skipped, ${result.failed} failed, ${result.blocked} blocked`);
        if (rows.length) say(`\n${renderTable(rows)}`);
        if (o.report !== false && rows.length) {
          const rep = path.join(o.out, 'report');
          await writeReport([o.out], rep, { title: plan.design.name ?? path.basename(file) });
          say(`report: ${path.join(rep, 'table.md')}`);
        }
      }
      if (json) printJson({ plan, steps: result.outcomes, methods: rows, missing });
      if (result.failed + result.blocked) throw new WorkError(`${result.failed} step(s) failed, ${result.blocked} blocked`, `logs in ${path.join(o.out, 'logs')}; re-run the same command to retry (finished steps are kept)`);
    });
}
