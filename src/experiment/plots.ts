/**
 * Report plots: vega-lite spec → vega view (headless, renderer 'none') → SVG → sharp → PNG.
 * Both files are kept: the SVG for documents, the PNG for a quick look. Text is sized for a PNG
 * rendered at 2× (readable when shown at half size).
 */
import type SharpFactory from 'sharp';
import { lazyFunction } from '../util/lazy.js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { writeFileAtomicSync } from './fsutil.js';
import type { MethodRow, RunRecord } from './report-types.js';
import type { EvalResult } from '../student/evaluate.js';

// Loaded at its first call: loading sharp sets VIPSHOME (util/lazy.ts).
const sharp = lazyFunction<typeof SharpFactory>('sharp', import.meta.url);

// vega-lite's TopLevelSpec type is very wide; specs are built as plain objects and checked by compile().
type Spec = Record<string, unknown>;

const CONFIG = {
  font: 'DejaVu Sans',
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true },
  legend: { labelFontSize: 12, titleFontSize: 13, labelLimit: 260 },
  title: { fontSize: 15, anchor: 'start' },
  view: { stroke: '#ccc' },
};

const pct = (x: number): number => Math.round(10000 * x) / 100;

type CurvePoint = RunRecord['curve'][number];

/**
 * Per method and epoch (in the runs' order), the mean over seeds of the figures `pick` reads from a
 * curve point; points it returns null for are left out, and so are methods not in `only`.
 */
function epochMeans<F extends string>(runs: readonly RunRecord[], pick: (p: CurvePoint) => Record<F, number> | null, only?: readonly string[]): Array<{ method: string; epoch: number; seeds: number; mean: Record<F, number> }> {
  const acc = new Map<string, { method: string; epoch: number; n: number; sum: Record<string, number> }>();
  for (const r of runs) {
    if (only && !only.includes(r.method)) continue;
    for (const p of r.curve) {
      const v = pick(p);
      if (v === null) continue;
      const k = `${r.method}\0${p.epoch}`;
      const a = acc.get(k) ?? { method: r.method, epoch: p.epoch, n: 0, sum: {} };
      for (const [f, x] of Object.entries(v) as Array<[string, number]>) a.sum[f] = (a.sum[f] ?? 0) + x;
      a.n += 1;
      acc.set(k, a);
    }
  }
  return [...acc.values()].map((a) => ({ method: a.method, epoch: a.epoch, seeds: a.n, mean: Object.fromEntries(Object.entries(a.sum).map(([f, x]) => [f, x / a.n])) as Record<F, number> }));
}

/** Test accuracy vs epoch, the mean over seeds per method. Null when no run has a curve. */
export function curvesSpec(runs: readonly RunRecord[]): Spec | null {
  const order = [...new Set(runs.map((r) => r.method))];
  const means = epochMeans(runs, (p) => ({ acc: p.test_acc }));
  if (!means.length) return null;
  const values = means.map((m) => ({ method: m.method, epoch: m.epoch, acc: pct(m.mean.acc), seeds: m.seeds }));
  const maxEpoch = Math.max(...values.map((v) => v.epoch));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Test accuracy vs epoch', subtitle: 'mean over seeds per method' },
    width: 520,
    height: 320,
    config: CONFIG,
    data: { values },
    mark: { type: 'line', point: { size: 50 }, strokeWidth: 2 },
    encoding: {
      x: {
        field: 'epoch',
        type: 'quantitative',
        title: 'epoch',
        scale: { domain: [Math.min(1, ...values.map((v) => v.epoch)), Math.max(2, maxEpoch)], nice: false },
        axis: { tickMinStep: 1, format: 'd' },
      },
      y: { field: 'acc', type: 'quantitative', title: 'test accuracy (%)', scale: { zero: false } },
      color: { field: 'method', type: 'nominal', title: 'method', sort: order, scale: { scheme: order.length > 10 ? 'category20' : 'tableau10' } },
      tooltip: [{ field: 'method' }, { field: 'epoch' }, { field: 'acc' }, { field: 'seeds' }],
    },
  };
}

/**
 * Fidelity to the teacher vs epoch (Stanton et al. 2021 plot how it develops): top-1 agreement
 * (left) and mean KL(teacher ‖ student) (right), the mean over seeds per method — for the methods
 * of the report's fidelity table (every run measured against one teacher, `rows[].fidelity`).
 * Null when no method has one.
 */
export function fidelitySpec(runs: readonly RunRecord[], rows: readonly MethodRow[]): Spec | null {
  const measured = rows.filter((m) => m.fidelity !== undefined);
  if (!measured.length) return null;
  const order = measured.map((m) => m.method);
  const means = epochMeans(runs, (p) => (p.test_agreement === undefined || p.test_kl === undefined ? null : { agreement: p.test_agreement, kl: p.test_kl }), order);
  if (!means.length) return null;
  const values = means.map((m) => ({ method: m.method, epoch: m.epoch, agreement: pct(m.mean.agreement), kl: Math.round(1e4 * m.mean.kl) / 1e4, seeds: m.seeds }));
  const epochs = values.map((v) => v.epoch);
  const x = { field: 'epoch', type: 'quantitative', title: 'epoch', scale: { domain: [Math.min(1, ...epochs), Math.max(2, ...epochs)], nice: false }, axis: { tickMinStep: 1, format: 'd' } };
  const color = { field: 'method', type: 'nominal', title: 'method', sort: order, scale: { scheme: order.length > 10 ? 'category20' : 'tableau10' } };
  const panel = (field: 'agreement' | 'kl', title: string) => ({
    width: 300,
    height: 280,
    mark: { type: 'line', point: { size: 50 }, strokeWidth: 2 },
    encoding: { x, y: { field, type: 'quantitative', title, scale: { zero: false } }, color, tooltip: [{ field: 'method' }, { field: 'epoch' }, { field }, { field: 'seeds' }] },
  });
  const teachers = [...new Set(measured.map((m) => m.fidelity!.teacher))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Fidelity to the teacher vs epoch (test split)', subtitle: [`teacher: ${teachers.join('; ')}`, 'mean over seeds per method'] },
    config: CONFIG,
    data: { values },
    hconcat: [panel('agreement', 'top-1 agreement with the teacher (%)'), panel('kl', 'KL(teacher ‖ student), nats')],
  };
}

/**
 * Student accuracy vs teacher accuracy for every teacher-based method whose teacher's accuracy is
 * known — the analogue of the paper's Fig. 2 (De-KD sweep). Small hollow marks: single seeds;
 * large filled marks: the mean; dashed rule: the baseline of the same model. Null without data.
 */
export function deKdSpec(runs: readonly RunRecord[], rows: readonly MethodRow[]): Spec | null {
  const seeds = runs
    .filter((r) => r.teacher && typeof r.teacher.test_acc === 'number')
    .map((r) => ({ method: r.method, kind: r.kind ?? '?', model: r.model ?? '?', teacher: pct(r.teacher!.test_acc!), student: pct(r.final), seed: r.seed }));
  if (!seeds.length) return null;
  const means = rows
    .filter((m) => m.teacher && typeof m.teacher.test_acc === 'number')
    .map((m) => ({ method: m.method, kind: m.kind ?? '?', model: m.model ?? '?', teacher: pct(m.teacher!.test_acc!), student: pct(m.final.mean), n: m.n }));
  const models = new Set(means.map((m) => m.model));
  const baselines = rows
    .filter((b) => b.kind === 'baseline' && models.has(b.model ?? '?'))
    .filter((b, i, a) => a.findIndex((x) => x.model === b.model) === i)
    .map((b) => ({ model: b.model ?? '?', student: pct(b.final.mean), label: `baseline ${b.model ?? ''} (no teacher): ${pct(b.final.mean).toFixed(2)}%` }));
  const xs = seeds.map((s) => s.teacher);
  const lo = Math.max(0, Math.floor((Math.min(...xs) - 5) / 5) * 5);
  // Room on the right for the method labels written beside the mean points.
  const hi = Math.min(100, Math.ceil((Math.max(...xs) + 12) / 5) * 5);
  // Labels of near-coincident means (e.g. kd and tfkd-self with equally good teachers) are
  // pushed apart vertically, in data units, so they do not print over each other.
  const ys = [...seeds.map((p) => p.student), ...baselines.map((b) => b.student)];
  const yr = Math.max(1, Math.max(...ys) - Math.min(...ys));
  const labelled: Array<(typeof means)[number] & { ly: number }> = [];
  for (const m of [...means].sort((a, b) => a.teacher - b.teacher || b.student - a.student)) {
    let ly = m.student;
    while (labelled.some((p) => Math.abs(p.teacher - m.teacher) < 0.15 * (hi - lo) && Math.abs(p.ly - ly) < 0.05 * yr)) ly -= 0.06 * yr;
    labelled.push({ ...m, ly });
  }
  // Teachers trained under a validation protocol are scored on the validation split.
  const splits = new Set(runs.filter((r) => r.teacher && typeof r.teacher.test_acc === 'number').map((r) => r.teacher!.split ?? 'test'));
  const xTitle = splits.size > 1 ? 'teacher accuracy (%), validation or test split' : splits.has('validation') ? 'teacher validation accuracy (%)' : 'teacher test accuracy (%)';
  const x = { field: 'teacher', type: 'quantitative', title: xTitle, scale: { domain: [lo, hi], nice: false } };
  const y = { field: 'student', type: 'quantitative', title: 'student final test accuracy (%)', scale: { zero: false } };
  const color = { field: 'kind', type: 'nominal', title: 'method kind' };
  const layers: Spec[] = [
    { data: { values: seeds }, mark: { type: 'point', size: 40, opacity: 0.6 }, encoding: { x, y, color, tooltip: [{ field: 'method' }, { field: 'seed' }, { field: 'teacher' }, { field: 'student' }] } },
    {
      data: { values: means },
      mark: { type: 'point', filled: true, size: 140 },
      encoding: { x, y, color, ...(models.size > 1 ? { shape: { field: 'model', type: 'nominal', title: 'student model' } } : {}), tooltip: [{ field: 'method' }, { field: 'n' }, { field: 'teacher' }, { field: 'student' }] },
    },
    { data: { values: labelled }, mark: { type: 'text', align: 'left', dx: 10, fontSize: 12 }, encoding: { x, y: { ...y, field: 'ly' }, text: { field: 'method' } } },
  ];
  if (baselines.length) {
    layers.push({ data: { values: baselines }, mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 2, color: '#555' }, encoding: { y } });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Student accuracy vs teacher accuracy (cf. the paper\'s Fig. 2, De-KD)',
      subtitle: [
        'large: mean over seeds; small: single seeds',
        baselines.length ? `dashed: ${baselines.map((b) => b.label).join('; ')}` : 'no baseline run of the same model in the report',
      ],
    },
    width: 520,
    height: 320,
    config: CONFIG,
    layer: layers,
  };
}

/**
 * The reliability diagram of an evaluation (Guo et al. 2017, Fig. 1): per confidence bin, the
 * accuracy of its samples (bars) against their mean confidence (points), the diagonal a perfectly
 * calibrated model would follow, and the share of samples in each bin (the lower panel).
 */
export function reliabilitySpec(r: Pick<EvalResult, 'n' | 'accuracy' | 'ece' | 'confidence' | 'reliability'>, label: string): Spec {
  const bins = r.reliability.map((b) => ({ lo: b.lo, hi: b.hi, n: b.n, share: r.n ? b.n / r.n : 0, accuracy: b.accuracy, confidence: b.confidence }));
  const filled = bins.filter((b) => b.n > 0);
  const x = { field: 'lo', type: 'quantitative', title: 'confidence (largest softmax probability)', scale: { domain: [0, 1], nice: false } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Reliability diagram · ECE ${(100 * r.ece).toFixed(2)} % (${bins.length} bins)`,
      subtitle: [label, `accuracy ${(100 * r.accuracy).toFixed(2)} % · mean confidence ${(100 * r.confidence).toFixed(2)} % · ${r.n} samples`, 'bars: accuracy per bin · points: its mean confidence · dashed: calibrated'],
    },
    config: CONFIG,
    vconcat: [
      {
        width: 480,
        height: 320,
        layer: [
          { data: { values: filled }, mark: { type: 'rect', color: '#4c78a8', opacity: 0.85, stroke: '#fff' }, encoding: { x, x2: { field: 'hi' }, y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } }, tooltip: [{ field: 'lo' }, { field: 'hi' }, { field: 'n' }, { field: 'accuracy' }, { field: 'confidence' }] } },
          { data: { values: [{ a: 0, b: 0 }, { a: 1, b: 1 }] }, mark: { type: 'line', strokeDash: [6, 4], color: '#555' }, encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' } } },
          { data: { values: filled }, mark: { type: 'point', filled: true, color: '#e45756', size: 50 }, encoding: { x: { field: 'confidence', type: 'quantitative' }, y: { field: 'confidence', type: 'quantitative' } } },
        ],
      },
      {
        width: 480,
        height: 90,
        data: { values: bins },
        mark: { type: 'rect', color: '#9d9d9d', stroke: '#fff' },
        encoding: { x, x2: { field: 'hi' }, y: { field: 'share', type: 'quantitative', title: 'share of samples', axis: { format: '.0%' } } },
      },
    ],
  };
}

/** Writes `<base>.svg` and `<base>.png` (2× scale). */
export async function renderPlot(spec: Spec, base: string, scale = 2): Promise<{ svg: string; png: string; svgText: string }> {
  const compiled = vl.compile(spec as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  let svg = '';
  try {
    svg = await view.toSVG();
    // Opaque background: a transparent PNG is unreadable in dark viewers.
    const png = await sharp(Buffer.from(svg), { density: 72 * scale }).flatten({ background: '#ffffff' }).png().toBuffer();
    writeFileAtomicSync(`${base}.svg`, svg);
    writeFileAtomicSync(`${base}.png`, png);
  } finally {
    view.finalize();
  }
  return { svg: `${base}.svg`, png: `${base}.png`, svgText: svg };
}
