/**
 * Runs a loaded design end to end — expand, execute resumably, summarise, write the report — the
 * shared body of `tfkd experiment` and `tfkd demo`. Signals stop the steps in flight; a re-run
 * with the same output directory resumes.
 */
import * as path from 'node:path';
import { WorkError } from '../errors.js';
import type { LoadedDesign } from './design.js';
import { executePlan, type ExecuteResult } from './execute.js';
import { expandDesign } from './plan.js';
import type { Plan } from './plan-types.js';
import { collectRuns, summarize, writeReport } from './report.js';
import { computeNote, renderTable } from './report-table.js';
import { type MethodRow } from './report-types.js';
import type { Runner } from './runner.js';

export interface RunDesignOptions {
  out: string;
  runner: Runner;
  jobs?: number;
  dryRun?: boolean;
  /** Write OUT/report (table.md, plots); default true. */
  report?: boolean;
  title?: string;
  say: (line: string) => void;
}

export interface RunDesignResult {
  plan: Plan;
  result: ExecuteResult;
  rows: MethodRow[];
  missing: string[];
  reportDir: string | null;
}

export async function runDesign(loaded: LoadedDesign, o: RunDesignOptions): Promise<RunDesignResult> {
  const { say } = o;
  const plan = expandDesign(loaded);
  const counts = { train: 0, export: 0, precompute: 0, data: 0, select: 0 };
  for (const s of plan.steps) counts[s.type] += 1;
  const protocol = counts.data ? `, ${counts.data} hold-out, ${counts.select} select` : '';
  say(
    `${loaded.file}: ${plan.runs.length} student runs; ${plan.steps.length} steps (${counts.train} train, ${counts.export} export, ${counts.precompute} precompute${protocol}) → ${o.out}`,
  );
  // SIGINT / SIGTERM: start nothing new, stop the steps in flight, and end normally (status.json
  // written, exit 1); a re-run redoes the interrupted steps.
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`\n${sig}: stopping the running steps; re-run the same command to resume\n`);
    abort.abort();
    o.runner.cancel?.(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let result: ExecuteResult;
  try {
    result = await executePlan(plan, { outDir: o.out, runner: o.runner, jobs: o.jobs ?? 1, log: say, dryRun: o.dryRun, abort: abort.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const { runs, missing } = o.dryRun ? { runs: [], missing: [] } : collectRuns([o.out]);
  const rows = summarize(runs);
  let reportDir: string | null = null;
  if (!o.dryRun) {
    say(`${result.ran} ran, ${result.skipped} skipped, ${result.failed} failed, ${result.blocked} blocked`);
    if (rows.length) say(`\n${renderTable(rows)}`);
    const note = computeNote(runs);
    if (note) say(note);
    if (o.report !== false && rows.length) {
      reportDir = path.join(o.out, 'report');
      await writeReport([o.out], reportDir, { title: o.title ?? plan.design.name ?? path.basename(loaded.file) });
      say(`report: ${path.join(reportDir, 'table.md')}`);
    }
  }
  return { plan, result, rows, missing, reportDir };
}

/** Exit 1 with a hint when any step failed or could not run. */
export function assertAllRan(r: RunDesignResult, out: string): void {
  const { failed, blocked } = r.result;
  if (failed + blocked) {
    throw new WorkError(`${failed} step(s) failed, ${blocked} blocked`, `logs in ${path.join(out, 'logs')}; re-run the same command to retry (finished steps are kept)`);
  }
}
