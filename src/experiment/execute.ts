/**
 * Resumable execution of a plan. Each step is either *finished* — its commit record is on disk —
 * and reused, or it is redone from scratch (partial output deleted first). Commit records:
 *   train       RUN/summary.json (written last by the trainer) + every wanted checkpoint dir
 *   export      teachers/X.onnx.json (written by us, last, after the ONNX file)
 *   precompute  caches/K/manifest.json (written last by precompute)
 * So an experiment killed at any point and started again skips what finished and ends with the
 * same results. A reused step is trusted only after its outputs are checked against the step
 * record written when it finished (`records/<type>-<key8>.json`: the sha256 of every output file):
 * a changed, missing or swapped output (another teacher's cache in its directory, an edited
 * checkpoint) fails the step (exit 1) naming the file, instead of being reported under the
 * design's names. A finished step without a record (a kill between its commit and the record)
 * is checked as far as it can be — a cache by `verifyStructure` and its teacher's sha256 — and
 * then recorded. Independent steps may run concurrently (`jobs`); a failed step blocks only the
 * steps that need it, and the experiment fails (exit 1) at the end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import pLimit from 'p-limit';
import { WorkError } from '../errors.js';
import { manifestSchema } from '../cache/manifest.js';
import { verifyStructure } from '../cache/verify.js';
import { faultPoint } from '../util/fault.js';
import { sha256File } from '../util/hash.js';
import { acquireLock, type Lock } from '../util/lock.js';
import { prepareOutDir } from '../util/out-dir.js';
import { key8 } from './plan-keys.js';
import type { DataStep, ExportStep, Plan, PrecomputeStep, SelectStep, Step, TrainStep } from './plan-types.js';
import { chosenValues, holdoutSpec, prepareHoldout, protocolDetail, protocolFinished, runSelect } from './protocol.js';
import type { Runner } from './runner.js';
import { readJsonFile } from './fsutil.js';
import { writeJsonAtomic } from '../util/atomic.js';

export interface StepOutcome {
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
  /** export: the checkpoint exported and its test accuracy. */
  checkpoint?: string | null;
  teacher_test_acc?: number | null;
  /** The split that accuracy is measured on (`validation` for teachers under a validation protocol). */
  teacher_split?: 'validation' | 'test';
  /** data / select: what the step made (sizes of the hold-out, the values chosen). */
  detail?: string;
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
}

const stepPath = (s: Step): string => (s.type === 'export' ? s.out : s.dir);

/** What `records/<type>-<key8>.json` holds: every output file of a finished step and its sha256. */
export interface StepRecord {
  schema: 'tfkd-experiment-step/1';
  key: string;
  type: Step['type'];
  path: string;
  /** Path relative to the experiment directory → sha256. */
  files: Record<string, string>;
}

export const recordPath = (outDir: string, s: Step): string => path.join(outDir, 'records', `${s.type}-${key8(s.key)}.json`);

/** The output files of a step (relative to the experiment directory), sorted. */
function outputFiles(outDir: string, s: Step): string[] {
  if (s.type === 'export') return [s.out, `${s.out}.json`].filter((f) => fs.existsSync(path.join(outDir, f)));
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(outDir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.push(r);
    }
  };
  if (fs.existsSync(path.join(outDir, s.dir))) walk(s.dir);
  return out.sort();
}

function writeStepRecord(outDir: string, s: Step): void {
  const files: Record<string, string> = {};
  for (const f of outputFiles(outDir, s)) files[f] = sha256File(path.join(outDir, f));
  const rec: StepRecord = { schema: 'tfkd-experiment-step/1', key: s.key, type: s.type, path: stepPath(s), files };
  writeJsonAtomic(recordPath(outDir, s), rec);
}

/**
 * Checks a finished step's outputs before they are reused (see the module comment); throws
 * WorkError naming the file and what differs.
 */
function verifyReused(outDir: string, s: Step, byKey: Map<string, Step>): void {
  const recFile = recordPath(outDir, s);
  const rec = readJsonFile<StepRecord>(recFile);
  const redo = `delete ${stepPath(s)} (and ${path.relative(outDir, recFile)}) to redo the step`;
  if (rec) {
    if (rec.key !== s.key) throw new WorkError(`${recFile} belongs to step ${rec.key.slice(0, 8)}…, not ${s.key.slice(0, 8)}…`, redo);
    for (const [f, sha] of Object.entries(rec.files)) {
      const full = path.join(outDir, f);
      if (!fs.existsSync(full)) throw new WorkError(`reused ${s.type} output ${full} is missing (${path.relative(outDir, recFile)} records it)`, redo);
      const now = sha256File(full);
      if (now !== sha) throw new WorkError(`reused ${s.type} output ${full} changed since the step finished: sha256 ${now.slice(0, 16)}…, recorded ${sha.slice(0, 16)}…`, redo);
    }
    return;
  }
  // No record: check what the outputs say about themselves, then record them.
  if (s.type === 'precompute') {
    const dir = path.join(outDir, s.dir);
    const raw = readJsonFile<unknown>(path.join(dir, 'manifest.json'));
    const m = manifestSchema.safeParse(raw);
    if (m.success) {
      verifyStructure(dir, { throwOnFailure: true });
      const want = 'step' in s.teacher ? sha256File(path.join(outDir, (byKey.get(s.teacher.step) as ExportStep).out)) : s.teacher.sha256;
      if (m.data.teacher.sha256 !== want) {
        throw new WorkError(`reused cache ${dir} was made by teacher ${m.data.teacher.file} (sha256 ${m.data.teacher.sha256.slice(0, 16)}…), not this step's (${want.slice(0, 16)}…)`, redo);
      }
    }
  }
  writeStepRecord(outDir, s);
}

/** Test accuracy stored with a checkpoint: `checkpoints/<name>.json` or `checkpoints/<name>/metrics.json`. */
export function checkpointAccuracy(runDir: string, name: string): number | null {
  for (const f of [path.join(runDir, 'checkpoints', `${name}.json`), path.join(runDir, 'checkpoints', name, 'metrics.json')]) {
    const j = readJsonFile<{ test_acc?: number }>(f);
    if (j && typeof j.test_acc === 'number') return j.test_acc;
  }
  return null;
}

export function isFinished(outDir: string, s: Step): boolean {
  const p = path.join(outDir, stepPath(s));
  switch (s.type) {
    case 'train':
      return fs.existsSync(path.join(p, 'summary.json')) && s.save_at.every((c) => fs.existsSync(path.join(p, 'checkpoints', c)));
    case 'export':
      return fs.existsSync(p) && fs.existsSync(`${p}.json`);
    case 'precompute':
      return fs.existsSync(path.join(p, 'manifest.json'));
    case 'data':
    case 'select':
      return protocolFinished(outDir, s);
  }
}

const pct = (x: number | null | undefined): string => (typeof x === 'number' ? `${(100 * (x > 1 ? x / 100 : x)).toFixed(2)}%` : '–');

function describe(o: StepOutcome): string {
  if (o.type === 'train' && o.final_test_acc !== undefined) return `final ${pct(o.final_test_acc)} best ${pct(o.best_test_acc)} (epoch ${o.best_epoch})`;
  if (o.type === 'export' && o.teacher_test_acc !== undefined) return `${o.checkpoint ?? 'final'} ${o.teacher_split === 'validation' ? 'val' : 'test'} ${pct(o.teacher_test_acc)}`;
  return o.detail ?? '';
}

export async function executePlan(plan: Plan, opts: ExecuteOptions): Promise<ExecuteResult> {
  const { outDir } = opts;
  const log = opts.log ?? (() => {});
  const byKey = new Map(plan.steps.map((s) => [s.key, s] as const));
  const total = plan.steps.length;
  const width = String(total).length;
  let count = 0;
  const outcomes = new Map<string, StepOutcome>();

  const line = (o: StepOutcome): void => {
    count += 1;
    const status = o.status === 'planned' ? 'to run' : o.status;
    const extra = [describe(o), o.status === 'ran' ? `${o.seconds.toFixed(1)}s` : '', o.error ?? ''].filter(Boolean).join('  ');
    log(`[${String(count).padStart(width)}/${total}] ${status.padEnd(7)} ${o.type.padEnd(10)} ${o.label.padEnd(24)} ${o.path}${extra ? `  ${extra}` : ''}`);
  };

  const readOutcome = (s: Step, status: StepOutcome['status'], seconds: number): StepOutcome => {
    const o: StepOutcome = { key: s.key, type: s.type, label: s.label, status, seconds, path: stepPath(s) };
    if (status === 'ran' || status === 'skipped') {
      if (s.type === 'train') {
        const sum = readJsonFile<RunSummaryLike>(path.join(outDir, s.dir, 'summary.json'));
        if (sum) Object.assign(o, { final_test_acc: sum.final_test_acc, best_test_acc: sum.best_test_acc, best_epoch: sum.best_epoch });
      } else if (s.type === 'export') {
        const rec = readJsonFile<ExportRecord>(path.join(outDir, `${s.out}.json`));
        if (rec) Object.assign(o, { checkpoint: rec.checkpoint, teacher_test_acc: rec.test_acc, teacher_split: (byKey.get(s.run) as TrainStep | undefined)?.config.holdout?.eval ?? 'test' });
      } else if (s.type === 'data' || s.type === 'select') {
        o.detail = protocolDetail(outDir, s);
      }
    }
    return o;
  };

  // One experiment per output directory (util/lock.ts); its steps lock their own outputs.
  let lock: Lock | null = null;
  if (!opts.dryRun) {
    prepareOutDir(outDir);
    lock = acquireLock(outDir, 'experiment');
  }
  try {
    if (!opts.dryRun) writeJsonAtomic(path.join(outDir, 'plan.json'), plan);
    return await executeLocked(plan, opts, byKey, outcomes, line, readOutcome);
  } finally {
    lock?.release();
  }
}

async function executeLocked(
  plan: Plan,
  opts: ExecuteOptions,
  byKey: Map<string, Step>,
  outcomes: Map<string, StepOutcome>,
  line: (o: StepOutcome) => void,
  readOutcome: (s: Step, status: StepOutcome['status'], seconds: number) => StepOutcome,
): Promise<ExecuteResult> {
  const { outDir, runner } = opts;

  const limit = pLimit(Math.max(1, opts.jobs ?? 1));
  // Counters of the fault points (src/util/fault.ts): steps started / finished by this process.
  let startedSteps = 0;
  let finishedSteps = 0;
  const promises = new Map<string, Promise<boolean>>();
  const run = (s: Step): Promise<boolean> => {
    let p = promises.get(s.key);
    if (p) return p;
    p = (async () => {
      const inputsOk = await Promise.all(s.inputs.map((k) => run(byKey.get(k)!)));
      if (isFinished(outDir, s)) {
        if (!opts.dryRun) {
          try {
            verifyReused(outDir, s, byKey);
          } catch (e) {
            const o = { ...readOutcome(s, 'failed', 0), error: (e as Error).message.split('\n')[0] };
            outcomes.set(s.key, o);
            line(o);
            return false;
          }
        }
        const o = readOutcome(s, 'skipped', 0);
        outcomes.set(s.key, o);
        line(o);
        return true;
      }
      if (opts.dryRun) {
        const o = readOutcome(s, 'planned', 0);
        outcomes.set(s.key, o);
        line(o);
        return true;
      }
      if (!inputsOk.every(Boolean)) {
        const o = { ...readOutcome(s, 'blocked', 0), error: 'an input step failed' };
        outcomes.set(s.key, o);
        line(o);
        return false;
      }
      return limit(async () => {
        if (opts.abort?.aborted) {
          const o = { ...readOutcome(s, 'blocked', 0), error: 'interrupted' };
          outcomes.set(s.key, o);
          line(o);
          return false;
        }
        const t0 = Date.now();
        try {
          faultPoint('experiment-step-start', ++startedSteps);
          await runStep(s, byKey, outDir, runner);
          if (!isFinished(outDir, s)) throw new WorkError(`${s.type} ${s.label} finished without its commit record in ${stepPath(s)}`);
          faultPoint('experiment-step-done', ++finishedSteps);
          writeStepRecord(outDir, s);
          faultPoint('experiment-step-recorded', finishedSteps);
          const o = readOutcome(s, 'ran', (Date.now() - t0) / 1000);
          outcomes.set(s.key, o);
          line(o);
          return true;
        } catch (e) {
          const o = { ...readOutcome(s, 'failed', (Date.now() - t0) / 1000), error: (e as Error).message.split('\n')[0] };
          outcomes.set(s.key, o);
          line(o);
          return false;
        }
      });
    })();
    promises.set(s.key, p);
    return p;
  };
  // Queue first what unblocks the most (teacher runs before plain students): with a bounded
  // number of jobs this shortens the critical path. Outcomes stay in plan order.
  const dependants = new Map<string, number>(plan.steps.map((s) => [s.key, 0]));
  for (const s of [...plan.steps].reverse()) for (const i of s.inputs) dependants.set(i, dependants.get(i)! + 1 + dependants.get(s.key)!);
  const queueOrder = [...plan.steps].sort((a, b) => dependants.get(b.key)! - dependants.get(a.key)!);
  await Promise.all(queueOrder.map(run));

  const list = plan.steps.map((s) => outcomes.get(s.key)!);
  if (!opts.dryRun) writeJsonAtomic(path.join(outDir, 'status.json'), { schema: 'tfkd-experiment-status/1', steps: list });
  return {
    outcomes: list,
    ran: list.filter((o) => o.status === 'ran').length,
    skipped: list.filter((o) => o.status === 'skipped').length,
    failed: list.filter((o) => o.status === 'failed').length,
    blocked: list.filter((o) => o.status === 'blocked').length,
  };
}

async function runStep(s: Step, byKey: Map<string, Step>, outDir: string, runner: Runner): Promise<void> {
  const abs = (p: string) => path.join(outDir, p);
  const logFile = abs(`logs/${s.type}-${key8(s.key)}.log`);
  // Redo from scratch: whatever a killed attempt left behind is not trusted.
  fs.rmSync(recordPath(outDir, s), { force: true });
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
    // With a hold-out, the cache covers its training part (the `val` side: no test image linked).
    const data = pc.holdout ? holdoutSpec(outDir, byKey.get(pc.holdout) as DataStep, 'validation') : pc.data;
    await runner.precompute({ teacher, data, options: pc.options, out: abs(pc.dir), log: logFile });
  }
}

/** De-KD by target accuracy: the saved checkpoint whose test accuracy is closest (ties: the earlier). */
export function closestCheckpoint(runDir: string, candidates: string[], target: number): string {
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
