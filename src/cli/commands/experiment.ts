/**
 * `tfkd experiment FILE.(json|yaml) --out DIR`: validates a design (exit 2 with the offending
 * path on any problem), expands it into steps keyed by their content, and runs what is not yet
 * finished — a re-run skips finished runs and caches. Ends with the results table (the same one
 * `tfkd report DIR` writes). docs/EXPERIMENTS.md describes the format.
 */
import type { Command } from 'commander';
import { SUMMARIES } from './summaries.js';
import { z } from 'zod';
import { intString, parseOptions, printJson } from '../options.js';
import { loadDesign } from '../../experiment/design.js';
import { preflightDesign } from '../../experiment/preflight.js';
import { assertAllRan, runDesign } from '../../experiment/run.js';
import { CliRunner, stepEnv, type Runner } from '../../experiment/runner.js';

const Options = z.strictObject({
  out: z.string().min(1),
  dryRun: z.boolean().optional(),
  json: z.boolean().optional(),
  jobs: intString(1).default(1),
  report: z.boolean().optional(),
  set: z.array(z.string()).default([]),
});

/** The runner used by the command (`jobs` steps at once); tests replace it to run without training. */
export const runnerFactory: { create: (jobs: number) => Runner } = { create: (jobs) => new CliRunner({ env: stepEnv(process.env, jobs) }) };

export function register(program: Command): void {
  program
    .command('experiment')
    .description(SUMMARIES.experiment)
    .argument('<file>', 'design file (.json, .yaml or .yml); see docs/EXPERIMENTS.md')
    .requiredOption('--out <dir>', 'experiment directory (runs/, caches/, teachers/, plan.json); re-use it to resume')
    .option('--dry-run', 'validate and expand; print the steps and which are already finished; run nothing')
    .option('--jobs <n>', 'steps run at the same time (independent steps only)', '1')
    .option('--no-report', 'do not write DIR/report (table.md, plots) at the end')
    .option('--json', 'print the plan and step outcomes as JSON (progress lines go to stderr)')
    .option('--set <path=value>', 'override one value of the design (YAML value; repeatable), e.g. --set train.epochs=2 --set "seeds=[1]"', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .addHelpText(
      'after',
      `
Every step (train, export, precompute, hold-out, select) is named by a hash of its resolved
configuration and inputs; finished steps are reused, interrupted ones are redone. --set overrides
are applied before validation and recorded in plan.json (and so in the report).
Exit codes: 0 ok, 1 a step failed, 2 bad design file or usage.`,
    )
    .action(async (file: string, raw: Record<string, unknown>) => {
      const o = parseOptions(Options, raw);
      const json = o.json === true;
      const say = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
      const loaded = loadDesign(file, o.set);
      // Everything the design names, checked before anything is written (exit 2).
      await preflightDesign(loaded);
      const r = await runDesign(loaded, {
        out: o.out,
        runner: runnerFactory.create(o.jobs),
        jobs: o.jobs,
        dryRun: o.dryRun,
        report: o.report,
        say,
      });
      if (json) printJson({ plan: r.plan, steps: r.result.outcomes, methods: r.rows, missing: r.missing });
      assertAllRan(r, o.out);
    });
}
