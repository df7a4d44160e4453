/**
 * `tfkd report`: gathers finished runs (from experiment directories' plan.json, or any directory
 * tree holding run directories), groups them by method, and writes
 *   table.md       per method: test accuracy at the final epoch as mean ± sample std (n − 1) over
 *                  seeds, Δ vs the baseline of the same model with a 95 % Welch interval and a
 *                  reading (within noise / better / worse), the hyperparameters (and which a sweep
 *                  chose), and — separately labelled — the best epoch picked on the test set; the
 *                  protocol and every sweep's grid with its validation accuracies
 *   curves.svg/png test accuracy vs epoch per method (mean over seeds)
 *   de-kd.svg/png  student accuracy vs teacher accuracy, baseline as a rule (paper Fig. 2 analogue)
 *   index.html     all of it on one self-contained page (html.ts): inline SVG plots, no network
 *   report.json    everything above as data
 * Accuracies are handled as fractions internally and shown in percent.
 */
import { entryOptionNames, isLossName, lossEntry, LOSS_OPTION_NAMES } from '../student/losses/index.js';
import { designKey, lossOptionOf } from './design-schema.js';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import type { ExportRecord } from './execute.js';
import { readJsonFile, writeFileAtomicSync } from './fsutil.js';
import { reportedFilesChanged } from './step-records.js';
import { canonicalJson } from '../util/canonical-json.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { prepareOutDir } from '../util/out-dir.js';
import type { DataStep, ExportStep, Plan, SelectStep, TrainStep } from './plan-types.js';
import { renderHtml, type HtmlInput } from './html.js';
import { curvesSpec, deKdSpec, fidelitySpec, renderPlot } from './plots.js';
import type { HoldoutRecord, SelectionRecord } from './protocol.js';
import { computeNote, protocolText, renderCalibration, renderEma, renderFidelity, renderSweeps, renderTable, TABLE_NOTE } from './report-table.js';
import type { MethodRow, Report, ReportProtocol, RunRecord, Stat } from './report-types.js';
import { mean, readingOf, sampleStd, welch } from './stats.js';

/** Accuracies may be stored as fractions or percent; we keep fractions. */
const frac = (x: number): number => (x > 1 ? x / 100 : x);

/** The design kind of a run by its loss (a loss module's run is of its own kind). */
const lossKind = (loss: string): string => (loss === 'ce' ? 'baseline' : loss);

/**
 * The loss options a run trained with (design names): those its loss reads, from the registry for a
 * built-in loss (a config.json of an older tfkd lists every option; only the read ones count), else
 * the options its config.json holds.
 */
function lossHyperKeys(loss: string, cfg: Record<string, unknown>): string[] {
  const names = isLossName(loss) ? entryOptionNames(lossEntry(loss), cfg.logitStandardization === true && lossEntry(loss).standardized !== undefined) : LOSS_OPTION_NAMES.filter((k) => typeof cfg[k] === 'number');
  return names.map(designKey);
}

interface SummaryLike {
  final_test_acc: number;
  final_test_ece?: number;
  final_test_agreement?: number;
  final_test_kl?: number;
  ema_final_test_acc?: number;
  best_test_acc: number;
  best_epoch: number;
  seed?: number;
  model?: string;
  loss?: string;
}

/** The test-accuracy curve of metrics.jsonl (with the fidelity figures of a --test-cache run), and the final epoch's test loss (NLL). */
function readCurve(runDir: string): { curve: RunRecord['curve']; nll: number | null } {
  const f = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(f)) return { curve: [], nll: null };
  const curve: RunRecord['curve'] = [];
  let nll: number | null = null;
  for (const l of fs.readFileSync(f, 'utf8').split('\n')) {
    if (l.trim() === '') continue;
    try {
      const m = JSON.parse(l) as { epoch?: number; test_acc?: number; test_loss?: number; test_agreement?: number; test_kl?: number };
      if (typeof m.epoch !== 'number' || typeof m.test_acc !== 'number') continue;
      const fidelity = typeof m.test_agreement === 'number' && typeof m.test_kl === 'number' ? { test_agreement: m.test_agreement, test_kl: m.test_kl } : {};
      curve.push({ epoch: m.epoch, test_acc: frac(m.test_acc), ...fidelity });
      nll = typeof m.test_loss === 'number' ? m.test_loss : null;
    } catch {
      // a torn line is not a point of the curve
    }
  }
  return { curve, nll };
}

function readRun(runDir: string): { sum: SummaryLike; curve: RunRecord['curve']; ece: number | null; nll: number | null; compute: string | null; testTeacher: string | null } | null {
  const sum = readJsonFile<SummaryLike>(path.join(runDir, 'summary.json'));
  if (!sum || typeof sum.final_test_acc !== 'number') return null;
  const man = readJsonFile<{ backend?: { name?: string; kernels?: string }; testCache?: { key?: string; teacher?: { file?: string } } }>(path.join(runDir, 'manifest.json'));
  const b = man?.backend;
  const { curve, nll } = readCurve(runDir);
  const ece = typeof sum.final_test_ece === 'number' ? sum.final_test_ece : null;
  const tc = man?.testCache;
  // The teacher by its file and its cache's key: two caches of one file (other data, f16) are other teachers.
  const testTeacher = tc?.teacher?.file && tc.key ? `${tc.teacher.file} (${tc.key.slice(0, 8)})` : null;
  return { sum, curve, ece, nll, compute: b?.name ? `${b.name}${b.kernels ? ` (${b.kernels})` : ''}` : null, testTeacher };
}

/** A --test-cache run's final fidelity, as a RunRecord field (nothing for other runs: their records stay as they were). */
const fidelityOf = (sum: SummaryLike, teacher: string | null): Pick<RunRecord, 'fidelity'> =>
  typeof sum.final_test_agreement === 'number' && typeof sum.final_test_kl === 'number' && teacher !== null ? { fidelity: { agreement: sum.final_test_agreement, kl: sum.final_test_kl, teacher } } : {};

/** A --ema run's average's final accuracy, as a RunRecord field (nothing for other runs: their records stay as they were). */
const emaOf = (sum: SummaryLike): Pick<RunRecord, 'emaFinal'> => (typeof sum.ema_final_test_acc === 'number' ? { emaFinal: frac(sum.ema_final_test_acc) } : {});

/** The loss options a run trained with, from its config.json (snake_case keys, as in designs). */
function hyperOf(runDir: string, loss: string | undefined): Record<string, number | string> {
  const cfg = readJsonFile<Record<string, unknown>>(path.join(runDir, 'config.json'));
  const out: Record<string, number | string> = {};
  if (!cfg) return out;
  const l = loss ?? (typeof cfg.loss === 'string' ? cfg.loss : '');
  for (const k of lossHyperKeys(l, cfg)) {
    const v = cfg[lossOptionOf(k)!];
    if (typeof v === 'number') out[k] = v;
  }
  if (cfg.logitStandardization === true) out.logit_standardization = 'on';
  if (l !== 'ce' && typeof cfg.fidelity === 'string') out.fidelity = cfg.fidelity;
  return out;
}

/** Runs of an experiment directory, as its plan names them. */
// What the report reads of a run: an edit of any of them after the run's step finished leaves it out.
const REPORTED_FILES = ['summary.json', 'metrics.jsonl', 'manifest.json', 'config.json'];

/**
 * What makes two run records the same run: its step key (plan.json), else the `<key8>` of its
 * directory name, else what it holds (its config.json and summary.json, byte for byte: a copy of
 * `name-s<seed>/` elsewhere). The same run found in two directories (a copy, a resumed duplicate)
 * is counted once: a seed pooled twice would narrow every interval.
 */
const runIdentity = new WeakMap<RunRecord, string>();

/**
 * sha256 of a run's config.json and summary.json: a copy has the same, and so has the same config
 * and seed trained again (deterministic: the same figures), which is one seed's result, not two.
 */
function contentId(dir: string): string {
  const h = crypto.createHash('sha256');
  for (const f of ['config.json', 'summary.json']) {
    const file = path.join(dir, f);
    h.update(fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0)).update('\0');
  }
  return h.digest('hex');
}

function fromPlan(expDir: string, plan: Plan, missing: string[], changed: Report['changed']): RunRecord[] {
  const steps = new Map(plan.steps.map((s) => [s.key, s] as const));
  const splitOf = (stepKey: string | undefined): 'test' | 'validation' => {
    const t = stepKey ? (steps.get(stepKey) as TrainStep | undefined) : undefined;
    return t?.config?.holdout?.eval ?? 'test';
  };
  const out: RunRecord[] = [];
  for (const r of plan.runs) {
    const dir = path.join(expDir, r.dir);
    // A run whose files are not the ones its step recorded (edited, replaced) is not reported: the
    // experiment fails that step, and no figure of it appears under the design's names.
    const step = steps.get(r.step);
    const why = step && fs.existsSync(path.join(dir, 'summary.json')) ? reportedFilesChanged(expDir, step, REPORTED_FILES) : null;
    if (why !== null) {
      changed.push({ dir, why });
      continue;
    }
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
      teacher = { name: r.teacher.name, checkpoint: rec?.checkpoint ?? null, test_acc: acc === null ? null : frac(acc), split: acc === null ? null : ex ? splitOf(ex.run) : 'test' };
    }
    const sel = r.select ? (steps.get(r.select) as SelectStep | undefined) : undefined;
    const rec: RunRecord = {
      method: r.variant ? `${r.name} @${r.variant}` : r.name,
      kind: r.kind,
      model: r.model,
      variant: r.variant,
      seed: r.seed,
      dir,
      split: splitOf(r.step),
      final: frac(got.sum.final_test_acc),
      best: frac(got.sum.best_test_acc),
      bestEpoch: got.sum.best_epoch,
      curve: got.curve,
      ece: got.ece,
      nll: got.nll,
      ...emaOf(got.sum),
      ...fidelityOf(got.sum, got.testTeacher),
      teacher,
      hyper: hyperOf(dir, got.sum.loss),
      chosen: sel ? [...sel.keys] : [],
      selection: sel ? path.join(expDir, sel.dir) : null,
      compute: got.compute,
    };
    runIdentity.set(rec, `step ${r.step}`);
    out.push(rec);
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
      const rec: RunRecord = {
        method: m ? m[1] : base,
        kind: loss ? lossKind(loss) : null,
        model: got.sum.model ?? cfg?.model ?? null,
        variant: null,
        seed: got.sum.seed ?? (m ? Number(m[2]) : 0),
        dir,
        split: 'test',
        final: frac(got.sum.final_test_acc),
        best: frac(got.sum.best_test_acc),
        bestEpoch: got.sum.best_epoch,
        curve: got.curve,
        ece: got.ece,
        nll: got.nll,
        ...emaOf(got.sum),
        ...fidelityOf(got.sum, got.testTeacher),
        teacher: null,
        hyper: hyperOf(dir, loss),
        chosen: [],
        selection: null,
        compute: got.compute,
      };
      const k8 = /-([0-9a-f]{8})$/.exec(base);
      runIdentity.set(rec, k8 ? `key8 ${k8[1]}` : `content ${contentId(dir)}`);
      out.push(rec);
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

export interface Collected {
  runs: RunRecord[];
  missing: string[];
  changed: Report['changed'];
  protocol: ReportProtocol | null;
  selections: Report['selections'];
  designs: Report['designs'];
}

export function collectRuns(dirs: string[]): Collected {
  const runs: RunRecord[] = [];
  const missing: string[] = [];
  const changed: Report['changed'] = [];
  const seen = new Set<string>();
  let protocolOf: { dir: string; validation: string } | null = null;
  let protocol: ReportProtocol | null = null;
  const selections: Report['selections'] = [];
  const designs: Report['designs'] = [];
  for (const d of dirs) {
    if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) throw new UsageError(`${d}: not a directory`);
    const plan = readJsonFile<Plan>(path.join(d, 'plan.json'));
    const got = plan && Array.isArray(plan.runs) ? fromPlan(d, plan, missing, changed) : fromTree(d);
    for (const r of got) {
      const id = `${r.method}\0${runIdentity.get(r) ?? fs.realpathSync(r.dir)}`;
      if (seen.has(id)) continue;
      seen.add(id);
      runs.push(r);
    }
    // Directories of designs with other protocols: one protocol paragraph cannot describe both.
    const validation = canonicalJson(plan?.protocol?.validation ?? null);
    if (protocolOf !== null && protocolOf.validation !== validation) {
      throw new UsageError(`${d} was run under another protocol (validation: ${validation}) than ${protocolOf.dir} (validation: ${protocolOf.validation})`, 'report them separately');
    }
    protocolOf ??= { dir: d, validation };
    if (plan?.design) designs.push({ file: plan.design.file, name: plan.design.name, overrides: plan.design.overrides ?? [] });
    if (plan?.protocol) {
      const ds = plan.steps.find((s): s is DataStep => s.type === 'data' && s.key === plan.protocol!.data);
      const h = ds ? readJsonFile<HoldoutRecord>(path.join(d, ds.dir, 'holdout.json')) : null;
      protocol ??= {
        dir: d,
        validation: plan.protocol.validation,
        holdout: h ? { source_train: h.source_train, pool: h.pool, train: h.train, validation: h.validation } : null,
        sweep_seed: plan.protocol.sweep_seed,
      };
      for (const s of plan.protocol.selections) {
        const st = plan.steps.find((x): x is SelectStep => x.type === 'select' && x.key === s.step);
        const rec = st ? readJsonFile<SelectionRecord>(path.join(d, st.dir, 'selection.json')) : null;
        if (rec && !selections.some((x) => x.key === rec.key)) selections.push({ ...rec, dir: path.join(d, st!.dir) });
      }
    }
  }
  return { runs, missing, changed, protocol, selections, designs };
}

const stat = (xs: number[]): Stat => ({ mean: mean(xs), std: sampleStd(xs) });

/**
 * One row per method. Δ and its Welch interval are against the `baseline`-kind run of the same
 * model, or, with `against`, against the method of that name (of the same model) — e.g. `kd`, to
 * ask which losses beat KD rather than the baseline.
 */
export function summarize(runs: readonly RunRecord[], against: string | null = null): MethodRow[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    if (!groups.has(r.method)) groups.set(r.method, []);
    groups.get(r.method)!.push(r);
  }
  const finals = new Map<string, number[]>();
  const rows: MethodRow[] = [...groups.entries()].map(([method, rs0]) => {
    const rs = [...rs0].sort((a, b) => a.seed - b.seed);
    assertPoolable(method, rs);
    finals.set(method, rs.map((r) => r.final));
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
      seeds: rs.map((r) => r.seed),
      final: stat(rs.map((r) => r.final)),
      best: stat(rs.map((r) => r.best)),
      calibration: rs.every((r) => r.ece !== null && r.nll !== null) ? { ece: stat(rs.map((r) => r.ece!)), nll: stat(rs.map((r) => r.nll!)) } : null,
      ...(rs.every((r) => r.emaFinal !== undefined) ? { ema: stat(rs.map((r) => r.emaFinal!)) } : {}),
      ...fidelityRow(rs),
      baseline: null,
      delta_final: null,
      delta_best: null,
      ci: null,
      reading: null,
      teacher: t ? { name: tname!, checkpoint: t.checkpoint, test_acc: tAcc.length ? mean(tAcc) : null, split: t.split } : null,
      hyperparameters: rs[0].hyper,
      chosen: rs[0].chosen,
    };
  });
  if (against !== null && !rows.some((r) => r.method === against)) {
    throw new UsageError(`--against ${against}: no such method among the runs (${rows.map((r) => r.method).join(', ')})`);
  }
  for (const row of rows) {
    const base = rows.find((b) => (against === null ? b.kind === 'baseline' : b.method === against) && b.model === row.model);
    if (!base) continue;
    row.baseline = base.method;
    row.delta_final = row.final.mean - base.final.mean;
    row.delta_best = row.best.mean - base.best.mean;
    if (base !== row) {
      row.ci = welch(finals.get(row.method)!, finals.get(base.method)!, 0.95);
      row.reading = readingOf(row.ci);
    }
  }
  return rows;
}

/**
 * The runs of one row must be seeds of one method: the same model, kind, loss options and split,
 * and a teacher measured on one split. Runs of one experiment always are; directories given
 * together (`tfkd report A B`) whose designs use one name for different methods are refused rather
 * than averaged under the first run's hyperparameters.
 */
function assertPoolable(method: string, rs: readonly RunRecord[]): void {
  const facets: Array<[string, (r: RunRecord) => string]> = [
    ['model', (r) => String(r.model)],
    ['kind', (r) => String(r.kind)],
    ['hyperparameters', (r) => canonicalJson(r.hyper)],
    ['chosen values', (r) => canonicalJson(r.chosen)],
    ['split', (r) => r.split],
    ["teacher's split", (r) => String(r.teacher?.split ?? null)],
  ];
  for (const [what, of] of facets) {
    const other = rs.find((r) => of(r) !== of(rs[0]));
    if (other) {
      throw new UsageError(
        `method ${method}: ${path.dirname(other.dir)} has other ${what} (${of(other)}) than ${path.dirname(rs[0].dir)} (${of(rs[0])}); its seeds cannot be pooled`,
        'report the directories separately, or give the methods different names in their designs',
      );
    }
  }
}

/** A method's fidelity over its seeds, when every run measured it against one and the same teacher (absent otherwise). */
function fidelityRow(rs: readonly RunRecord[]): Pick<MethodRow, 'fidelity'> {
  const f = rs.map((r) => r.fidelity);
  if (!f.every((x) => x !== undefined) || new Set(f.map((x) => x!.teacher)).size !== 1) return {};
  return { fidelity: { agreement: stat(f.map((x) => x!.agreement)), kl: stat(f.map((x) => x!.kl)), teacher: f[0]!.teacher } };
}

export interface WriteReportOptions {
  /** Skip the PNG/SVG plots (tests of the table alone). */
  plots?: boolean;
  title?: string;
  /** Compare with this method instead of the baseline (summarize). */
  against?: string | null;
}

export async function writeReport(dirs: string[], outDir: string, opts: WriteReportOptions = {}): Promise<Report> {
  const { runs, missing, changed, protocol, selections, designs } = collectRuns(dirs);
  if (!runs.length) throw new UsageError(`no finished runs (summary.json) found in ${dirs.join(', ')}`, 'point tfkd report at an experiment directory or at run directories');
  const against = opts.against ?? null;
  const rows = summarize(runs, against);
  prepareOutDir(outDir);
  const title = opts.title ?? 'tfkd report';
  const md = [`# ${title}`, ''];
  for (const d of designs) md.push(`Design: \`${d.file}\`${d.overrides.length ? ` with ${d.overrides.map((o) => `\`--set ${o}\``).join(' ')}` : ''}.`, '');
  const computeNoteText = computeNote(runs);
  md.push(`Protocol. ${protocolText(protocol, rows)}`, '', renderTable(rows, against), TABLE_NOTE, ...(against === null ? [] : [`Δ and its interval are against the method \`${against}\` (\`--against\`), not the baseline.`]), '');
  if (computeNoteText) md.push(`**${computeNoteText}**`, '');
  if (missing.length) md.push(`Not finished (left out): ${missing.length} run(s).`, '');
  if (changed.length) md.push(`Changed since their step finished (left out): ${changed.length} run(s) — ${changed[0].why}${changed.length > 1 ? ', …' : ''}.`, '');
  const calibration = renderCalibration(rows);
  if (calibration) md.push(calibration);
  const ema = renderEma(rows);
  if (ema) md.push(ema);
  const fidelity = renderFidelity(rows);
  if (fidelity) md.push(fidelity);
  const sweeps = renderSweeps(selections);
  if (sweeps) md.push(sweeps);
  const plots: Report['plots'] = { curves: null, de_kd: null, fidelity: null };
  const svgs: HtmlInput['svgs'] = { curves: null, de_kd: null, fidelity: null };
  if (opts.plots !== false) {
    const curves = curvesSpec(runs);
    if (curves) {
      svgs.curves = (await renderPlot(curves, path.join(outDir, 'curves'))).svgText;
      plots.curves = 'curves.png';
      md.push('![test accuracy vs epoch](curves.png)', '');
    }
    const dekd = deKdSpec(runs, rows);
    if (dekd) {
      svgs.de_kd = (await renderPlot(dekd, path.join(outDir, 'de-kd'))).svgText;
      plots.de_kd = 'de-kd.png';
      md.push('![student vs teacher accuracy](de-kd.png)', '');
    }
    const fid = fidelitySpec(runs, rows);
    if (fid) {
      svgs.fidelity = (await renderPlot(fid, path.join(outDir, 'fidelity'))).svgText;
      plots.fidelity = 'fidelity.png';
      md.push('![fidelity to the teacher vs epoch](fidelity.png)', '');
    }
  }
  writeFileAtomicSync(path.join(outDir, 'table.md'), md.join('\n'));
  const report: Report = {
    schema: 'tfkd-report/2',
    inputs: dirs,
    std: 'sample (n-1)',
    ci: 'Welch 95% (Welch-Satterthwaite df, Student t)',
    methods: rows,
    runs: runs.map(({ curve: _c, ...r }) => r),
    protocol,
    selections,
    designs,
    missing,
    changed,
    plots,
    html: 'index.html',
    against,
    compute_note: computeNoteText,
  };
  writeFileAtomicSync(path.join(outDir, 'index.html'), renderHtml({ title, report, svgs }));
  writeJsonAtomic(path.join(outDir, 'report.json'), report);
  return report;
}
