/**
 * Resumable execution of a plan. Each step is either *finished* — its commit record is on disk —
 * and reused, or it is redone from scratch (partial output deleted first); step-records.ts says
 * what each step's commit record is and keeps the sha256 of its outputs. So an experiment killed
 * at any point and started again skips what finished and ends with the same results. A reused
 * step is trusted only after its outputs are checked against its step record: a changed, missing
 * or swapped output (another teacher's cache in its directory, an edited checkpoint) fails the
 * step (exit 1) naming the file, instead of being reported under the design's names. Independent
 * steps may run concurrently (`jobs`); a failed step blocks only the steps that need it, and the
 * experiment fails (exit 1) at the end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import pLimit from 'p-limit';
import { WorkError } from '../errors.js';
import { faultPoint } from '../util/fault.js';
import { acquireLock, type Lock } from '../util/lock.js';
import { prepareOutDir } from '../util/out-dir.js';
import { key8 } from './plan-keys.js';
import type { DataStep, ExportStep, Plan, PrecomputeStep, SelectStep, Step, TrainStep } from './plan-types.js';
import { chosenValues, holdoutSpec, prepareHoldout, protocolDetail, runSelect } from './protocol.js';
import type { Runner } from './runner.js';
import { readJsonFile } from './fsutil.js';
import { adoptableOutput, adoptOutput, forgetOutput, isFinished, stepPath, verifyReused, writeStepRecord } from './step-records.js';
import { writeJsonAtomic } from '../util/atomic.js';

interface StepOutcome {
  key: string;
  type: Step['type'];
  label: string;
  status: 'skipped' | 'ran' | 'failed' | 'blocked' | 'planned';
  seconds: number;
  /** Output path relative to the experiment directory. */
  path: string;
  final_test_acc?: number;
  best_test_acc?: number;
  best_epoch?: number;
  /** train with `fidelity_teacher:`: the final epoch's agreement with that teacher. */
  final_test_agreement?: number;
  /** export: the checkpoint exported and its test accuracy. */
  checkpoint?: string | null;
  teacher_test_acc?: number | null;
  /** The split that accuracy is measured on (`validation` for teachers under a validation protocol). */
  teacher_split?: 'validation' | 'test';
  /** data / select: what the step made (sizes of the hold-out, the values chosen). */
  detail?: string;
  /** Reused from the same step's output under another name (copied to `path`). */
  copied_from?: string;
  error?: string;
}

export interface ExecuteOptions {
  outDir: string;
  runner: Runner;
  jobs?: number;
  /** Prints one line per step. */
  log?: (line: string) => void;
  /** Only report what is finished and what would run. */
  dryRun?: boolean;
  /** Once aborted, no further step starts (those left are reported as blocked). */
  abort?: AbortSignal;
}

export interface ExecuteResult {
  outcomes: StepOutcome[];
  ran: number;
  skipped: number;
  failed: number;
  /** Not started: an input failed, or the run was interrupted. */
  blocked: number;
}

/** What `teachers/X.onnx.json` records beside an exported teacher. */
export interface ExportRecord {
  schema: 'tfkd-experiment-export/1';
  key: string;
  run: string;
  checkpoint: string | null;
  target: number | null;
  test_acc: number | null;
}

interface RunSummaryLike {
  final_test_acc: number;
  best_test_acc: number;
  best_epoch: number;
  final_test_agreement?: number;
}

/** Test accuracy stored with a checkpoint: `checkpoints/<name>.json` or `checkpoints/<name>/metrics.json`. */
function checkpointAccuracy(runDir: string, name: string): number | null {
  for (const f of [path.join(runDir, 'checkpoints', `${name}.json`), path.join(runDir, 'checkpoints', name, 'metrics.json')]) {
    const j = readJsonFile<{ test_acc?: number }>(f);
    if (j && typeof j.test_acc === 'number') return j.test_acc;
  }
  return null;
}

const pct = (x: number | null | undefined): string => (typeof x === 'number' ? `${(100 * (x > 1 ? x / 100 : x)).toFixed(2)}%` : '–');

function describe(o: StepOutcome): string {
  if (o.type === 'train' && o.final_test_acc !== undefined) {
    return `final ${pct(o.final_test_acc)} best ${pct(o.best_test_acc)} (epoch ${o.best_epoch})${o.final_test_agreement !== undefined ? ` agree ${pct(o.final_test_agreement)}` : ''}`;
  }
  if (o.type === 'export' && o.teacher_test_acc !== undefined) return `${o.checkpoint ?? 'final'} ${o.teacher_split === 'validation' ? 'val' : 'test'} ${pct(o.teacher_test_acc)}`;
  return o.detail ?? '';
}

export async function executePlan(plan: Plan, opts: ExecuteOptions): Promise<ExecuteResult> {
  const { outDir } = opts;
  // One experiment per output directory (util/lock.ts); its steps lock their own outputs.
  let lock: Lock | null = null;
  if (!opts.dryRun) {
    prepareOutDir(outDir);
    lock = acquireLock(outDir, 'experiment');
  }
  try {
    if (!opts.dryRun) writeJsonAtomic(path.join(outDir, 'plan.json'), plan);
    return await new PlanExecution(plan, opts).run();
  } finally {
    lock?.release();
  }
}

/**
 * One pass over a plan. Each step settles once (its promise is shared by the steps that need it):
 * inputs first, then reused if finished, listed in a dry run, blocked behind a failed input, or
 * run under the jobs limit. Every settled step gets an outcome and one log line.
 */
class PlanExecution {
  private readonly outDir: string;
  private readonly byKey: Map<string, Step>;
  private readonly outcomes = new Map<string, StepOutcome>();
  private readonly settling = new Map<string, Promise<boolean>>();
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly log: (line: string) => void;
  /** Log lines printed so far, and the width of the step count they show. */
  private printed = 0;
  private readonly width: number;
  // Counters of the fault points (src/util/fault.ts): steps started / finished by this process.
  private startedSteps = 0;
  private finishedSteps = 0;

  constructor(
    private readonly plan: Plan,
    private readonly opts: ExecuteOptions,
  ) {
    this.outDir = opts.outDir;
    this.byKey = new Map(plan.steps.map((s) => [s.key, s] as const));
    this.limit = pLimit(Math.max(1, opts.jobs ?? 1));
    this.log = opts.log ?? (() => {});
    this.width = String(plan.steps.length).length;
  }

  /** Settles every step, writes status.json, and counts the outcomes (in plan order). */
  async run(): Promise<ExecuteResult> {
    await Promise.all(queueOrder(this.plan).map((s) => this.settle(s)));
    const list = this.plan.steps.map((s) => this.outcomes.get(s.key)!);
    if (!this.opts.dryRun) writeJsonAtomic(path.join(this.outDir, 'status.json'), { schema: 'tfkd-experiment-status/1', steps: list });
    return {
      outcomes: list,
      ran: list.filter((o) => o.status === 'ran').length,
      skipped: list.filter((o) => o.status === 'skipped').length,
      failed: list.filter((o) => o.status === 'failed').length,
      blocked: list.filter((o) => o.status === 'blocked').length,
    };
  }

  /** The step's one promise: true when it ended usable (ran, reused, or planned). */
  private settle(s: Step): Promise<boolean> {
    let p = this.settling.get(s.key);
    if (p) return p;
    p = this.decide(s);
    this.settling.set(s.key, p);
    return p;
  }

  private async decide(s: Step): Promise<boolean> {
    const inputsOk = await Promise.all(s.inputs.map((k) => this.settle(this.byKey.get(k)!)));
    if (isFinished(this.outDir, s)) return this.reuse(s);
    // The same step finished under another name (a renamed run; another design in this directory):
    // its output, intact against its record, is copied here instead of being made again.
    const from = adoptableOutput(this.outDir, s);
    if (from !== null) return this.adopt(s, from);
    if (this.opts.dryRun) return this.report(s, 'planned', 0);
    if (!inputsOk.every(Boolean)) return this.report(s, 'blocked', 0, 'an input step failed');
    return this.limit(() => this.runNow(s));
  }

  /** A finished step, its outputs checked against its record first (not in a dry run). */
  private reuse(s: Step): boolean {
    if (!this.opts.dryRun) {
      try {
        verifyReused(this.outDir, s, this.byKey);
      } catch (e) {
        return this.report(s, 'failed', 0, firstLine(e));
      }
    }
    return this.report(s, 'skipped', 0);
  }

  /** Copies the same step's finished output from `from` (not in a dry run); reported as reused. */
  private adopt(s: Step, from: string): boolean {
    if (!this.opts.dryRun) {
      try {
        adoptOutput(this.outDir, s, from);
      } catch (e) {
        return this.report(s, 'failed', 0, firstLine(e));
      }
    }
    return this.report(s, 'skipped', 0, undefined, from);
  }

  /** Runs the step from scratch, checks its commit record, then records its outputs. */
  private async runNow(s: Step): Promise<boolean> {
    if (this.opts.abort?.aborted) return this.report(s, 'blocked', 0, 'interrupted');
    const t0 = Date.now();
    try {
      faultPoint('experiment-step-start', ++this.startedSteps);
      await runStep(s, this.byKey, this.outDir, this.opts.runner);
      if (!isFinished(this.outDir, s)) throw new WorkError(`${s.type} ${s.label} finished without its commit record in ${stepPath(s)}`);
      faultPoint('experiment-step-done', ++this.finishedSteps);
      writeStepRecord(this.outDir, s);
      faultPoint('experiment-step-recorded', this.finishedSteps);
      return this.report(s, 'ran', (Date.now() - t0) / 1000);
    } catch (e) {
      return this.report(s, 'failed', (Date.now() - t0) / 1000, firstLine(e));
    }
  }

  /** Keeps the step's outcome and logs its line; says whether the steps after it may use it. */
  private report(s: Step, status: StepOutcome['status'], seconds: number, error?: string, copiedFrom?: string): boolean {
    const o = { ...this.outcome(s, status, seconds), ...(error === undefined ? {} : { error }), ...(copiedFrom === undefined ? {} : { copied_from: copiedFrom }) };
    this.outcomes.set(s.key, o);
    this.print(o);
    return status === 'ran' || status === 'skipped' || status === 'planned';
  }

  /** The outcome, with what a step that ran or was reused made (accuracies, the hold-out, the values chosen). */
  private outcome(s: Step, status: StepOutcome['status'], seconds: number): StepOutcome {
    const o: StepOutcome = { key: s.key, type: s.type, label: s.label, status, seconds, path: stepPath(s) };
    if (status === 'ran' || status === 'skipped') {
      if (s.type === 'train') {
        const sum = readJsonFile<RunSummaryLike>(path.join(this.outDir, s.dir, 'summary.json'));
        if (sum) Object.assign(o, { final_test_acc: sum.final_test_acc, best_test_acc: sum.best_test_acc, best_epoch: sum.best_epoch });
        if (sum && s.test_cache && typeof sum.final_test_agreement === 'number') o.final_test_agreement = sum.final_test_agreement;
      } else if (s.type === 'export') {
        const rec = readJsonFile<ExportRecord>(path.join(this.outDir, `${s.out}.json`));
        if (rec) Object.assign(o, { checkpoint: rec.checkpoint, teacher_test_acc: rec.test_acc, teacher_split: (this.byKey.get(s.run) as TrainStep | undefined)?.config.holdout?.eval ?? 'test' });
      } else if (s.type === 'data' || s.type === 'select') {
        o.detail = protocolDetail(this.outDir, s);
      }
    }
    return o;
  }

  private print(o: StepOutcome): void {
    this.printed += 1;
    const status = o.status === 'planned' ? 'to run' : o.status;
    const extra = [describe(o), o.status === 'ran' ? `${o.seconds.toFixed(1)}s` : '', o.copied_from ? `(${this.opts.dryRun ? 'would be copied' : 'copied'} from ${o.copied_from})` : '', o.error ?? ''].filter(Boolean).join('  ');
    this.log(`[${String(this.printed).padStart(this.width)}/${this.plan.steps.length}] ${status.padEnd(7)} ${o.type.padEnd(10)} ${o.label.padEnd(24)} ${o.path}${extra ? `  ${extra}` : ''}`);
  }
}

const firstLine = (e: unknown): string => (e as Error).message.split('\n')[0];

/**
 * Queue first what unblocks the most (teacher runs before plain students): with a bounded
 * number of jobs this shortens the critical path. Outcomes stay in plan order.
 */
function queueOrder(plan: Plan): Step[] {
  const dependants = new Map<string, number>(plan.steps.map((s) => [s.key, 0]));
  for (const s of [...plan.steps].reverse()) for (const i of s.inputs) dependants.set(i, dependants.get(i)! + 1 + dependants.get(s.key)!);
  return [...plan.steps].sort((a, b) => dependants.get(b.key)! - dependants.get(a.key)!);
}

async function runStep(s: Step, byKey: Map<string, Step>, outDir: string, runner: Runner): Promise<void> {
  const abs = (p: string) => path.join(outDir, p);
  const logFile = abs(`logs/${s.type}-${key8(s.key)}.log`);
  // Redo from scratch: whatever a killed attempt left behind is not trusted (the record keeps the
  // same step's output under other names).
  forgetOutput(outDir, s);
  if (s.type === 'export') {
    fs.rmSync(abs(s.out), { force: true });
    fs.rmSync(abs(`${s.out}.json`), { force: true });
  } else {
    fs.rmSync(abs(s.dir), { recursive: true, force: true });
  }
  fs.mkdirSync(path.dirname(abs(stepPath(s))), { recursive: true });

  if (s.type === 'data') {
    await prepareHoldout(s, abs(s.dir));
  } else if (s.type === 'select') {
    runSelect(s, outDir, byKey);
  } else if (s.type === 'train') {
    const st = s as TrainStep;
    const cache = st.config.cache ? abs((byKey.get(st.config.cache) as PrecomputeStep).dir) : null;
    // Protocol: the hold-out's data set (validation or test side) and the values a sweep chose.
    const hold = st.config.holdout;
    const chosen = st.config.select ? chosenValues(outDir, byKey.get(st.config.select) as SelectStep) : {};
    await runner.train({
      data: hold ? holdoutSpec(outDir, byKey.get(hold.step) as DataStep, hold.eval) : st.config.data,
      model: st.config.model,
      loss: st.config.loss,
      lossOptions: { ...st.config.loss_options, ...chosen },
      train: st.config.train,
      seed: st.config.seed,
      cache,
      testCache: st.test_cache ? abs(st.test_cache.dir) : null,
      saveAt: st.save_at,
      out: abs(st.dir),
      log: logFile,
    });
  } else if (s.type === 'export') {
    const ex = s as ExportStep;
    const runDir = abs((byKey.get(ex.run) as TrainStep).dir);
    let checkpoint = ex.checkpoint;
    if (ex.target !== null) checkpoint = closestCheckpoint(runDir, ex.candidates ?? [], ex.target);
    await runner.exportRun({ run: runDir, checkpoint, out: abs(ex.out), log: logFile });
    const acc = checkpoint ? checkpointAccuracy(runDir, checkpoint) : (readJsonFile<RunSummaryLike>(path.join(runDir, 'summary.json'))?.final_test_acc ?? null);
    const rec: ExportRecord = { schema: 'tfkd-experiment-export/1', key: ex.key, run: path.relative(outDir, runDir), checkpoint, target: ex.target, test_acc: acc };
    writeJsonAtomic(`${abs(ex.out)}.json`, rec);
  } else {
    const pc = s as PrecomputeStep;
    const teacher = 'step' in pc.teacher ? abs((byKey.get(pc.teacher.step) as ExportStep).out) : pc.teacher.onnx;
    // With a hold-out, a training cache covers its training part (the `val` side: no test image
    // linked); a test-split cache is made from the side the final runs are evaluated on (`test`).
    const split = pc.split ?? 'train';
    const data = pc.holdout ? holdoutSpec(outDir, byKey.get(pc.holdout) as DataStep, split === 'test' ? 'test' : 'validation') : pc.data;
    await runner.precompute({ teacher, data, split, options: pc.options, out: abs(pc.dir), log: logFile });
  }
}

/** De-KD by target accuracy: the saved checkpoint whose test accuracy is closest (ties: the earlier). */
function closestCheckpoint(runDir: string, candidates: string[], target: number): string {
  let best: { name: string; d: number } | null = null;
  for (const c of candidates) {
    const acc = checkpointAccuracy(runDir, c);
    if (acc === null) continue;
    const d = Math.abs((acc > 1 ? acc / 100 : acc) - target);
    if (!best || d < best.d) best = { name: c, d };
  }
  if (!best) throw new WorkError(`no test accuracy recorded for any of the checkpoints ${candidates.join(', ')} in ${runDir}`);
  return best.name;
}
