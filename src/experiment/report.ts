/**
 * `tfkd report`: gathers finished runs (from experiment directories' plan.json, or any directory
 * tree holding run directories), groups them by method, and writes
 *   table.md      mean ± sample std (n − 1) of final and best test accuracy, Δ vs baseline, seeds
 *   curves.svg/png test accuracy vs epoch per method (mean over seeds)
 *   de-kd.svg/png  student accuracy vs teacher accuracy, baseline as a rule (paper Fig. 2 analogue)
 *   report.json   everything above as data
 * Accuracies are handled as fractions internally and shown in percent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import type { ExportRecord } from './execute.js';
import { readJsonFile, writeFileAtomicSync, writeJsonAtomic } from './fsutil.js';
import type { ExportStep, Plan } from './plan.js';
import { curvesSpec, deKdSpec, renderPlot } from './plots.js';

export interface RunRecord {
  /** Group label: the run's name, with the de-kd teacher variant (`de-kd @epoch-1`). */
  method: string;
  kind: string | null;
  model: string | null;
  variant: string | null;
  seed: number;
  dir: string;
  final: number;
  best: number;
  bestEpoch: number;
  curve: Array<{ epoch: number; test_acc: number }>;
  teacher: null | { name: string; checkpoint: string | null; test_acc: number | null };
}

export interface Stat {
  mean: number;
  /** Sample standard deviation (n − 1 denominator); null with one seed. */
  std: number | null;
}

export interface MethodRow {
  method: string;
  kind: string | null;
  model: string | null;
  variant: string | null;
  n: number;
  seeds: number[];
  final: Stat;
  best: Stat;
  /** The baseline method this row is compared with (same model), and the differences of means. */
  baseline: string | null;
  delta_final: number | null;
  delta_best: number | null;
  teacher: null | { name: string; checkpoint: string | null; test_acc: number | null };
}

export interface Report {
  schema: 'tfkd-report/1';
  inputs: string[];
  std: 'sample (n-1)';
  methods: MethodRow[];
  runs: Array<Omit<RunRecord, 'curve'>>;
  missing: string[];
  plots: { curves: string | null; de_kd: string | null };
}

/** Accuracies may be stored as fractions or percent; we keep fractions. */
const frac = (x: number): number => (x > 1 ? x / 100 : x);

const LOSS_KIND: Record<string, string> = { ce: 'baseline', lsr: 'lsr', kd: 'kd', 'tfkd-self': 'tfkd-self', 'tfkd-reg': 'tfkd-reg' };

interface SummaryLike {
  final_test_acc: number;
  best_test_acc: number;
  best_epoch: number;
  seed?: number;
  model?: string;
  loss?: string;
}

function readCurve(runDir: string): RunRecord['curve'] {
  const f = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(f)) return [];
  return fs
    .readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        const m = JSON.parse(l) as { epoch?: number; test_acc?: number };
        return typeof m.epoch === 'number' && typeof m.test_acc === 'number' ? [{ epoch: m.epoch, test_acc: frac(m.test_acc) }] : [];
      } catch {
        return [];
      }
    });
}

function readRun(runDir: string): { sum: SummaryLike; curve: RunRecord['curve'] } | null {
  const sum = readJsonFile<SummaryLike>(path.join(runDir, 'summary.json'));
  if (!sum || typeof sum.final_test_acc !== 'number') return null;
  return { sum, curve: readCurve(runDir) };
}

/** Runs of an experiment directory, as its plan names them. */
function fromPlan(expDir: string, plan: Plan, missing: string[]): RunRecord[] {
  const steps = new Map(plan.steps.map((s) => [s.key, s] as const));
  const out: RunRecord[] = [];
  for (const r of plan.runs) {
    const dir = path.join(expDir, r.dir);
    const got = readRun(dir);
    if (!got) {
      missing.push(dir);
      continue;
    }
    let teacher: RunRecord['teacher'] = null;
    if (r.teacher) {
      const ex = r.teacher.export ? (steps.get(r.teacher.export) as ExportStep | undefined) : undefined;
      const rec = ex ? readJsonFile<ExportRecord>(path.join(expDir, `${ex.out}.json`)) : null;
      // An ONNX file given as teacher may carry a provenance JSON beside it (models/*.json, written
      // by scripts/make_teachers.py) whose `test_accuracy` is checked by the test suite.
      const prov = !ex && r.teacher.onnx ? readJsonFile<{ test_accuracy?: unknown }>(r.teacher.onnx.replace(/\.onnx$/, '.json')) : null;
      const acc = rec && typeof rec.test_acc === 'number' ? rec.test_acc : typeof prov?.test_accuracy === 'number' ? prov.test_accuracy : null;
      teacher = { name: r.teacher.name, checkpoint: rec?.checkpoint ?? null, test_acc: acc === null ? null : frac(acc) };
    }
    out.push({
      method: r.variant ? `${r.name} @${r.variant}` : r.name,
      kind: r.kind,
      model: r.model,
      variant: r.variant,
      seed: r.seed,
      dir,
      final: frac(got.sum.final_test_acc),
      best: frac(got.sum.best_test_acc),
      bestEpoch: got.sum.best_epoch,
      curve: got.curve,
      teacher,
    });
  }
  return out;
}

/** Any directory tree: every directory with a summary.json is a run; `name-s<seed>[-<key8>]` groups by `name`. */
function fromTree(root: string, depth = 4): RunRecord[] {
  const out: RunRecord[] = [];
  const walk = (dir: string, d: number): void => {
    const got = readRun(dir);
    if (got) {
      const base = path.basename(dir);
      const m = /^(.*?)-s(\d+)(?:-[0-9a-f]{8})?$/.exec(base);
      const cfg = readJsonFile<{ model?: string; loss?: string }>(path.join(dir, 'config.json'));
      const loss = got.sum.loss ?? cfg?.loss;
      out.push({
        method: m ? m[1] : base,
        kind: loss ? (LOSS_KIND[loss] ?? loss) : null,
        model: got.sum.model ?? cfg?.model ?? null,
        variant: null,
        seed: got.sum.seed ?? (m ? Number(m[2]) : 0),
        dir,
        final: frac(got.sum.final_test_acc),
        best: frac(got.sum.best_test_acc),
        bestEpoch: got.sum.best_epoch,
        curve: got.curve,
        teacher: null,
      });
      return;
    }
    if (d === 0) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'checkpoints') walk(path.join(dir, e.name), d - 1);
    }
  };
  walk(root, depth);
  return out;
}

export function collectRuns(dirs: string[]): { runs: RunRecord[]; missing: string[] } {
  const runs: RunRecord[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  for (const d of dirs) {
    if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) throw new UsageError(`${d}: not a directory`);
    const plan = readJsonFile<Plan>(path.join(d, 'plan.json'));
    const got = plan && Array.isArray(plan.runs) ? fromPlan(d, plan, missing) : fromTree(d);
    for (const r of got) {
      const id = `${r.method}\0${fs.realpathSync(r.dir)}`;
      if (seen.has(id)) continue;
      seen.add(id);
      runs.push(r);
    }
  }
  return { runs, missing };
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (Bessel's n − 1); null for fewer than two values. */
export function sampleStd(xs: readonly number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

const stat = (xs: number[]): Stat => ({ mean: mean(xs), std: sampleStd(xs) });

export function summarize(runs: readonly RunRecord[]): MethodRow[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    if (!groups.has(r.method)) groups.set(r.method, []);
    groups.get(r.method)!.push(r);
  }
  const rows: MethodRow[] = [...groups.entries()].map(([method, rs]) => {
    const tAcc = rs.map((r) => r.teacher?.test_acc).filter((x): x is number => typeof x === 'number');
    const t = rs[0].teacher;
    // Per-seed teachers (tfkd-self): one label for the group, accuracy = the mean over them.
    const names = new Set(rs.map((r) => r.teacher?.name));
    const tname = t && names.size > 1 ? `${t.name.replace(/-s\d+$/, '')} (per seed)` : t?.name;
    return {
      method,
      kind: rs[0].kind,
      model: rs[0].model,
      variant: rs[0].variant,
      n: rs.length,
      seeds: rs.map((r) => r.seed).sort((a, b) => a - b),
      final: stat(rs.map((r) => r.final)),
      best: stat(rs.map((r) => r.best)),
      baseline: null,
      delta_final: null,
      delta_best: null,
      teacher: t ? { name: tname!, checkpoint: t.checkpoint, test_acc: tAcc.length ? mean(tAcc) : null } : null,
    };
  });
  for (const row of rows) {
    const base = rows.find((b) => b.kind === 'baseline' && b.model === row.model);
    if (!base) continue;
    row.baseline = base.method;
    row.delta_final = row.final.mean - base.final.mean;
    row.delta_best = row.best.mean - base.best.mean;
  }
  return rows;
}

const p2 = (x: number): string => (100 * x).toFixed(2);
const pm = (s: Stat): string => `${p2(s.mean)} ± ${s.std === null ? '–' : p2(s.std)}`;
const signed = (x: number | null): string => (x === null ? '–' : `${x >= 0 ? '+' : '−'}${p2(Math.abs(x))}`);

export function renderTable(rows: readonly MethodRow[]): string {
  const head = ['method', 'kind', 'model', 'teacher (test acc %)', 'seeds', 'final test acc %', 'best test acc %', 'Δ final', 'Δ best'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i >= 4 ? '---:' : '---')).join('|')}|`];
  for (const r of rows) {
    const teacher = r.teacher ? `${r.teacher.name}${r.teacher.checkpoint ? ` ${r.teacher.checkpoint}` : ''} (${r.teacher.test_acc === null ? '?' : p2(r.teacher.test_acc)})` : '–';
    lines.push(
      `| ${[r.method, r.kind ?? '?', r.model ?? '?', teacher, String(r.n), pm(r.final), pm(r.best), signed(r.delta_final), signed(r.delta_best)].join(' | ')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const TABLE_NOTE = [
  'Accuracy in percent on the test split: mean ± sample standard deviation (n − 1 denominator) over',
  'seeds ("–" with a single seed). "final" is the last epoch; "best" is the best epoch picked on the',
  'test set, as the official Tf-KD code does (optimistic). Δ = difference of the means against the',
  'baseline run of the same model, in percentage points. Teacher accuracy: the exported checkpoint\'s',
  'test accuracy ("?" for ONNX teachers given as files).',
].join('\n');

export interface WriteReportOptions {
  /** Skip the PNG/SVG plots (tests of the table alone). */
  plots?: boolean;
  title?: string;
}

export async function writeReport(dirs: string[], outDir: string, opts: WriteReportOptions = {}): Promise<Report> {
  const { runs, missing } = collectRuns(dirs);
  if (!runs.length) throw new UsageError(`no finished runs (summary.json) found in ${dirs.join(', ')}`, 'point tfkd report at an experiment directory or at run directories');
  const rows = summarize(runs);
  fs.mkdirSync(outDir, { recursive: true });
  const title = opts.title ?? 'tfkd report';
  const md = [`# ${title}`, '', renderTable(rows), TABLE_NOTE, ''];
  if (missing.length) md.push(`Not finished (left out): ${missing.length} run(s).`, '');
  const plots: Report['plots'] = { curves: null, de_kd: null };
  if (opts.plots !== false) {
    const curves = curvesSpec(runs);
    if (curves) {
      await renderPlot(curves, path.join(outDir, 'curves'));
      plots.curves = 'curves.png';
      md.push('![test accuracy vs epoch](curves.png)', '');
    }
    const dekd = deKdSpec(runs, rows);
    if (dekd) {
      await renderPlot(dekd, path.join(outDir, 'de-kd'));
      plots.de_kd = 'de-kd.png';
      md.push('![student vs teacher accuracy](de-kd.png)', '');
    }
  }
  writeFileAtomicSync(path.join(outDir, 'table.md'), md.join('\n'));
  const report: Report = {
    schema: 'tfkd-report/1',
    inputs: dirs,
    std: 'sample (n-1)',
    methods: rows,
    runs: runs.map(({ curve: _c, ...r }) => r),
    missing,
    plots,
  };
  writeJsonAtomic(path.join(outDir, 'report.json'), report);
  return report;
}
