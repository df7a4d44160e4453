/**
 * The text of table.md: the results table (one row per method, accuracies in percent), its note,
 * the protocol paragraph and the sweeps section, and the labels they share with index.html
 * (html.ts). Pure functions of the report's rows (report-types.ts); report.ts writes the file.
 */
import { formatValues } from './protocol.js';
import type { MethodRow, Report, ReportProtocol, RunRecord, Stat } from './report-types.js';

const p2 = (x: number): string => (100 * x).toFixed(2);
const pm = (s: Stat): string => `${p2(s.mean)} ± ${s.std === null ? '–' : p2(s.std)}`;
export const signed = (x: number | null): string => (x === null ? '–' : `${x >= 0 ? '+' : '−'}${p2(Math.abs(x))}`);

/** `α 0.5, τ 4 (swept); × 1, paper` */
export function formatHyper(h: Record<string, number | string>, chosen: readonly string[]): string {
  const pick = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, h[k]]));
  const swept = Object.keys(h).filter((k) => chosen.includes(k));
  const fixed = Object.keys(h).filter((k) => !chosen.includes(k) && k !== 'fidelity');
  const parts = [swept.length ? `${formatValues(pick(swept))} (swept)` : '', fixed.length ? formatValues(pick(fixed)) : ''].filter(Boolean);
  return parts.length ? parts.join('; ') : '–';
}

export function teacherLabel(t: MethodRow['teacher']): string {
  if (!t) return '–';
  const acc = t.test_acc === null ? '?' : `${t.split === 'validation' ? 'val ' : ''}${p2(t.test_acc)}`;
  return `${t.name}${t.checkpoint ? ` ${t.checkpoint}` : ''} (${acc})`;
}

export const ciLabel = (r: MethodRow): string =>
  r.ci ? `[${signed(r.ci.lo)}, ${signed(r.ci.hi)}]` : r.baseline && r.baseline !== r.method ? 'n/a (one seed)' : '';

/** The table's column labels; Δ's names what it is measured against. */
export const tableHead = (against: string | null = null): string[] => TABLE_HEAD.map((h) => (h === 'Δ vs baseline' && against !== null ? `Δ vs ${against}` : h));

/** How the row every Δ is measured against reads in the reading column. */
export const referenceLabel = (against: string | null): string => (against === null ? '(baseline)' : '(reference)');

const TABLE_HEAD = [
  'method',
  'kind',
  'model',
  'teacher (acc %)',
  'hyperparameters',
  'seeds',
  'test acc % (final epoch)',
  'Δ vs baseline',
  '95 % CI of Δ (Welch)',
  'reading',
  'best epoch on test % (optimistic)',
];

export function renderTable(rows: readonly MethodRow[], against: string | null = null): string {
  const head = tableHead(against);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i >= 5 && i !== 9 ? '---:' : '---')).join('|')}|`];
  for (const r of rows) {
    const reading = r.reading ?? (r.baseline === r.method ? referenceLabel(against) : '–');
    lines.push(
      `| ${[r.method, r.kind ?? '?', r.model ?? '?', teacherLabel(r.teacher), formatHyper(r.hyperparameters, r.chosen), String(r.n), pm(r.final), signed(r.delta_final), ciLabel(r) || '–', reading, pm(r.best)].join(' | ')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export const TABLE_NOTE = [
  'Accuracy in percent on the test split at the final epoch: mean ± sample standard deviation (n − 1 denominator)',
  'over seeds ("–" with a single seed). Δ = difference of the means against the baseline run of the same',
  'model, in percentage points; its 95 % confidence interval is Welch\'s (Welch–Satterthwaite degrees of',
  'freedom, Student-t quantile). Reading: "within noise" when the interval contains 0, else "better" /',
  '"worse". "best epoch on test" is the best epoch picked on the test set, as the official Tf-KD code does —',
  'optimistic, shown only for comparison. Teacher accuracy: the exported checkpoint\'s accuracy ("val" = on',
  'the validation split; "?" for ONNX teachers given as files). Hyperparameters: the loss options the runs',
  'trained with; "(swept)" = chosen by the sweep on the validation split (see "Sweeps").',
].join('\n');

/** A mean cross-entropy over seeds: `0.4656 ± 0.0056` (table.md and index.html). */
export const nllLabel = (s: Stat): string => `${s.mean.toFixed(4)} ± ${s.std === null ? '–' : s.std.toFixed(4)}`;

/**
 * table.md's calibration section: the methods whose runs all recorded their ECE (runs of tfkd
 * before it kept one have none), with the final epoch's ECE and mean cross-entropy on the test
 * split. Null when no method has them.
 */
export function renderCalibration(rows: readonly MethodRow[]): string | null {
  const with_ = rows.filter((r) => r.calibration !== null);
  if (!with_.length) return null;
  const left = rows.length - with_.length;
  return methodSection(
    'Calibration (final epoch)',
    ['test acc %', 'ECE %', 'NLL'],
    with_.map((r) => [pm(r.final), pm(r.calibration!.ece), nllLabel(r.calibration!.nll)]),
    with_,
    [CALIBRATION_NOTE, ...(left ? [`${left} method(s) left out: some of their runs were recorded before tfkd kept the ECE.`] : [])],
  );
}

/** A section of table.md: a table of methods (method, model, seeds, then `cols`) and its note lines. */
function methodSection(title: string, cols: string[], cells: string[][], rows: readonly MethodRow[], note: string[]): string {
  const lines = [
    `## ${title}`,
    '',
    `| method | model | seeds | ${cols.join(' | ')} |`,
    `|---|---|---:|${cols.map(() => '---:').join('|')}|`,
    ...rows.map((r, i) => `| ${[r.method, r.model ?? '?', String(r.n), ...cells[i]].join(' | ')} |`),
    '',
    ...note,
  ];
  return `${lines.join('\n')}\n`;
}

export const CALIBRATION_NOTE = [
  'On the split the accuracy is measured on, mean ± sample standard deviation over seeds. ECE: expected',
  'calibration error over 15 equal-width confidence bins (Guo et al., ICML 2017; 0 = confidence matches',
  'accuracy); NLL: mean cross-entropy of the labels. Lower is better for both.',
].join('\n');

/**
 * table.md's model-EMA section (runs trained with --ema): each method's trained weights and the
 * average of its weights at the final epoch, on the same split. Null when no method kept one.
 */
export function renderEma(rows: readonly MethodRow[]): string | null {
  const with_ = rows.filter((r) => r.ema !== undefined);
  if (!with_.length) return null;
  return methodSection(
    'Model EMA (final epoch)',
    ['test acc % (trained weights)', 'test acc % (EMA)', 'EMA − trained'],
    with_.map((r) => [pm(r.final), pm(r.ema!), signed(r.ema!.mean - r.final.mean)]),
    with_,
    [EMA_NOTE],
  );
}

/**
 * table.md's fidelity section (runs trained with --test-cache): each method's top-1 agreement with
 * that teacher and mean KL(teacher ‖ student) at the final epoch. Null when no method measured them.
 */
export function renderFidelity(rows: readonly MethodRow[]): string | null {
  const with_ = rows.filter((r) => r.fidelity !== undefined);
  if (!with_.length) return null;
  return methodSection(
    'Fidelity to a teacher (final epoch)',
    ['teacher', 'test acc %', 'agreement %', 'KL(t‖s)'],
    with_.map((r) => [r.fidelity!.teacher, pm(r.final), pm(r.fidelity!.agreement), nllLabel(r.fidelity!.kl)]),
    with_,
    [FIDELITY_NOTE],
  );
}

export const FIDELITY_NOTE = [
  'The runs measured their fidelity to a teacher every epoch (tfkd train --test-cache; Stanton et al., "Does',
  'Knowledge Distillation Really Work?", NeurIPS 2021): agreement is the share of test samples where the',
  'student predicts the teacher\'s class, KL(t‖s) the mean KL divergence from the teacher\'s distribution (τ = 1)',
  'to the student\'s, in nats. The teacher column names the cached teacher (file and cache key). Mean ± sample',
  'standard deviation over seeds; a method whose runs measured against different teachers is left out.',
].join('\n');

export const EMA_NOTE = [
  'The runs kept an exponential moving average of their weights (tfkd train --ema, timm\'s model EMA); it is',
  'evaluated on the same split at the same epoch. Mean ± sample standard deviation over seeds; the last',
  'column is the difference of the means in percentage points. The table above reports the trained weights.',
].join('\n');

/** The protocol paragraph of table.md (and index.html). */
export function protocolText(p: ReportProtocol | null, rows: readonly MethodRow[]): string {
  if (!p) return 'No validation protocol: every run was evaluated on the test split every epoch; nothing was chosen on it by tfkd (hyperparameters are the design\'s).';
  const v = p.validation;
  const h = p.holdout;
  const share = v.size !== null ? `${v.size} images` : `${(100 * (v.fraction ?? 0.1)).toFixed(0)} %`;
  const pool = v.subset !== null ? `of a seeded ${v.subset}-image subset of the training split` : 'of the training split';
  const sizes = h ? ` (${h.validation} of ${h.pool} images; runs train on the other ${h.train})` : '';
  const swept = rows.filter((r) => r.chosen.length).length;
  return [
    `Validation: a seeded hold-out (seed ${v.seed}) of ${share} ${pool}${sizes}, never trained on.`,
    `Teachers trained here, De-KD checkpoints and every sweep point are evaluated on it; hyperparameters are chosen on it:`,
    p.sweep_seed !== null
      ? `each grid point is trained once, on seed ${p.sweep_seed}, and the point with the highest final-epoch validation accuracy is chosen (${swept} of the ${rows.length} methods train with chosen values).`
      : 'no method is swept.',
    'The chosen values are then trained on every seed and evaluated on the test split; the table reports the final epoch.',
  ].join(' ');
}

/** The sweeps section of table.md: every grid point's validation accuracy, the choice marked. */
export function renderSweeps(sel: Report['selections']): string {
  if (!sel.length) return '';
  const out = ['## Sweeps (validation accuracy, one seed)', ''];
  for (const s of sel) {
    out.push(`**${s.run}${s.variant ? ` @${s.variant}` : ''}** — chose ${formatValues(s.chosen)}: ${s.reason}.`, '');
    out.push('| point | val acc % (final epoch) | best val acc % (epoch) | |', '|---|---:|---:|---|');
    s.points.forEach((p, i) => out.push(`| ${formatValues(p.values)} | ${p2(p.val_acc)} | ${p2(p.best_val_acc)} (${p.best_epoch}) | ${i === s.chosen_index ? '**chosen**' : ''} |`));
    out.push('');
  }
  return out.join('\n');
}

/**
 * A warning when the runs did not all train on the same backend and kernels (their manifests): the
 * same run gives other float results on each (e.g. a native add-on missing for some steps), so
 * seeds are not strictly comparable across them. Null when they agree or say nothing.
 */
export function computeNote(runs: ReadonlyArray<Pick<RunRecord, 'compute'>>): string | null {
  const counts = new Map<string, number>();
  for (const r of runs) if (r.compute) counts.set(r.compute, (counts.get(r.compute) ?? 0) + 1);
  if (counts.size < 2) return null;
  const parts = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([c, n]) => `${n} on ${c}`);
  return `The runs did not all train on the same backend and kernels: ${parts.join(', ')} (their manifest.json). The same run gives other numbers in the last digits on each, so re-run the odd ones where the others ran (tfkd repro RUN --out DIR) before reading small differences.`;
}
