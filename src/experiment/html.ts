/**
 * `index.html` of a report: one self-contained page — no script, no stylesheet or image to fetch,
 * the plots inline as SVG — holding the reading (one line per method), the protocol and the chosen
 * hyperparameters with every sweep's grid, the results table, both plots, and each run's config
 * and manifest summary. Opens from disk in any browser, offline.
 */
import { LOSS_OPTION_NAMES } from '../student/losses/index.js';
import * as path from 'node:path';
import { readJsonFile } from './fsutil.js';
import { formatValues } from './protocol.js';
import { CALIBRATION_NOTE, EMA_NOTE, FIDELITY_NOTE, ciLabel, formatHyper, nllLabel, protocolText, referenceLabel, signed, tableHead, TABLE_NOTE, teacherLabel } from './report-table.js';
import type { MethodRow, Report, RunRecord } from './report-types.js';

const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const p2 = (x: number): string => (100 * x).toFixed(2);
const pm = (m: number, s: number | null): string => `${p2(m)} ± ${s === null ? '–' : p2(s)}`;

/**
 * An SVG as vega writes it, made safe to inline beside another: its ids (clip paths, gradients)
 * get a prefix so two plots on one page do not resolve each other's `url(#…)`.
 */
export function inlineSvg(svg: string, prefix: string): string {
  return svg
    .replace(/^<\?xml[^>]*>\s*/, '')
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`);
}

/** One line per method compared with its baseline: Δ, interval, reading. */
function readingLines(rows: readonly MethodRow[]): string[] {
  return rows
    .filter((r) => r.baseline && r.baseline !== r.method)
    .map((r) => {
      const ci = r.ci ? `95 % CI [${signed(r.ci.lo)}, ${signed(r.ci.hi)}]` : 'no interval (one seed)';
      return `${r.method} (${r.model}) vs ${r.baseline}: Δ ${signed(r.delta_final)} points, ${ci} → ${r.reading ?? 'no reading'}`;
    });
}

interface RunConfigLike {
  [k: string]: unknown;
}
interface RunManifestLike {
  backend?: { name?: string; kernels?: string; nativeThreads?: number | null };
  versions?: Record<string, string | null>;
  data?: { spec?: string; fingerprint?: string };
  trainSamples?: number;
  testSamples?: number;
  stepsPerEpoch?: number;
  caches?: Array<{ key?: string; teacher?: { file?: string }; views?: number; augment?: { spec?: string; seed?: number } | null }>;
  seconds?: number | null;
  started?: string;
  finished?: string | null;
}

// The loss options from the registry: a run's config.json holds exactly those its loss reads.
const CONFIG_KEYS = ['model', 'loss', 'fidelity', ...LOSS_OPTION_NAMES, 'logitStandardization', 'epochs', 'batch', 'gradAccumSteps', 'lr', 'optimizer', 'momentum', 'weightDecay', 'skipDecay', 'clipGrad', 'layerDecay', 'layerGroups', 'ema', 'emaWarmup', 'dropPath', 'schedule', 'milestones', 'warmup', 'seed', 'limit', 'testLimit', 'augment', 'data'];

function runDetails(r: Omit<RunRecord, 'curve'>, i: number): string {
  const cfg = readJsonFile<RunConfigLike>(path.join(r.dir, 'config.json'));
  const man = readJsonFile<RunManifestLike>(path.join(r.dir, 'manifest.json'));
  const rows: Array<[string, string]> = [];
  if (cfg) {
    const c = CONFIG_KEYS.filter((k) => cfg[k] !== undefined && cfg[k] !== null && !(Array.isArray(cfg[k]) && (cfg[k] as unknown[]).length === 0));
    rows.push(['config', c.map((k) => `${k} ${Array.isArray(cfg[k]) ? (cfg[k] as unknown[]).join(',') : String(cfg[k])}`).join(' · ')]);
  }
  if (man) {
    const b = man.backend;
    if (b) rows.push(['backend', `${b.name ?? '?'} (${b.kernels ?? '?'}${b.nativeThreads ? `, ${b.nativeThreads} native thread(s)` : ''})`]);
    if (man.versions) rows.push(['versions', Object.entries(man.versions).map(([k, v]) => `${k} ${k === 'git' && v ? v.slice(0, 12) : (v ?? '–')}`).join(' · ')]);
    if (man.data) rows.push(['data', `${man.data.spec ?? '?'} (fingerprint ${(man.data.fingerprint ?? '?').slice(0, 16)}…) · ${man.trainSamples ?? '?'} training samples · evaluated on ${man.testSamples ?? '?'} (${r.split} split) · ${man.stepsPerEpoch ?? '?'} steps/epoch`]);
    for (const c of man.caches ?? []) rows.push(['teacher cache', `${c.teacher?.file ?? '?'} · key ${(c.key ?? '?').slice(0, 16)}… · ${c.views ?? 1} view(s)${c.augment?.spec ? ` (${c.augment.spec}, seed ${c.augment.seed})` : ''}`]);
    rows.push(['time', `${man.seconds != null ? `${man.seconds.toFixed(1)} s` : '?'} (${man.started ?? '?'} → ${man.finished ?? '?'})`]);
  }
  if (!cfg && !man) rows.push(['files', 'no config.json / manifest.json in the run directory']);
  rows.push(['result', `final ${p2(r.final)} % · best ${p2(r.best)} % (epoch ${r.bestEpoch}, picked on ${r.split})`]);
  return `<details class="run" id="run-${i}"><summary>${esc(r.method)} · seed ${r.seed} · <code>${esc(r.dir)}</code></summary><table class="kv">${rows
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
    .join('')}</table></details>`;
}

const CSS = `
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px auto; max-width: 1280px; color: #222; background: #fff; line-height: 1.4; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; vertical-align: top; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.better td.reading { background: #dff3df; } tr.worse td.reading { background: #f8dddd; } tr.noise td.reading { background: #f1f1f1; }
tr.chosen td { font-weight: bold; background: #fff7d6; }
.note { font-size: 12px; color: #555; max-width: 960px; }
.warn { font-size: 13px; color: #8a4b00; max-width: 960px; }
figure { margin: 12px 0; } figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
details.run { margin: 2px 0; font-size: 13px; } table.kv th { width: 110px; }
code { font-size: 12px; }
`;

export interface HtmlInput {
  title: string;
  report: Report;
  /** SVG text of the plots (null when absent). */
  svgs: { curves: string | null; de_kd: string | null; fidelity: string | null };
}

/** A table of methods (method, model, seeds, then `cols`; `cells` already escaped) with its note; '' without rows. */
function methodSection(id: string, title: string, cols: string[], cells: string[][], rows: Report['methods'], note: string): string {
  if (!rows.length) return '';
  const body = rows
    .map((r, i) => `<tr data-method="${esc(r.method)}"><td>${esc(r.method)}</td><td>${esc(r.model ?? '?')}</td><td class="num">${r.n}</td>${cells[i].map((c) => `<td class="num">${c}</td>`).join('')}</tr>`)
    .join('\n');
  return `<section id="${id}"><h2>${title}</h2>
<table id="${id}-table"><thead><tr><th>method</th><th>model</th><th>seeds</th>${cols.map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody>
${body}
</tbody></table>
<p class="note">${esc(note)}</p>
</section>
`;
}

/** The model-EMA table (runs trained with --ema), or '' when no method kept an average. */
function emaSection(rows: Report['methods']): string {
  const with_ = rows.filter((r) => r.ema !== undefined);
  const cells = with_.map((r) => [esc(pm(r.final.mean, r.final.std)), esc(pm(r.ema!.mean, r.ema!.std)), esc(signed(r.ema!.mean - r.final.mean))]);
  return methodSection('ema', 'Model EMA (final epoch)', ['test acc % (trained weights)', 'test acc % (EMA)', 'EMA − trained'], cells, with_, EMA_NOTE);
}

/** The fidelity table (--test-cache runs: agreement and KL per method), or '' when no method measured them. */
function fidelitySection(rows: Report['methods']): string {
  const with_ = rows.filter((r) => r.fidelity !== undefined);
  const cells = with_.map((r) => [esc(r.fidelity!.teacher), esc(pm(r.final.mean, r.final.std)), esc(pm(r.fidelity!.agreement.mean, r.fidelity!.agreement.std)), esc(nllLabel(r.fidelity!.kl))]);
  return methodSection('fidelity', 'Fidelity to a teacher (final epoch)', ['teacher', 'test acc %', 'agreement %', 'KL(t‖s)'], cells, with_, FIDELITY_NOTE);
}

/** The calibration table (final ECE and NLL per method), or '' when no method recorded them. */
function calibrationSection(rows: Report['methods']): string {
  const calibrated = rows.filter((r) => r.calibration !== null);
  const cells = calibrated.map((r) => [esc(pm(r.final.mean, r.final.std)), esc(pm(r.calibration!.ece.mean, r.calibration!.ece.std)), esc(nllLabel(r.calibration!.nll))]);
  return methodSection('calibration', 'Calibration (final epoch)', ['test acc %', 'ECE %', 'NLL'], cells, calibrated, CALIBRATION_NOTE);
}

export function renderHtml({ title, report, svgs }: HtmlInput): string {
  const rows = report.methods;
  const reading = readingLines(rows);
  const head = tableHead(report.against ?? null).map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows
    .map((r) => {
      const cls = r.reading === 'better' ? 'better' : r.reading === 'worse' ? 'worse' : r.reading === 'within noise' ? 'noise' : 'base';
      const cells = [
        esc(r.method),
        esc(r.kind ?? '?'),
        esc(r.model ?? '?'),
        esc(teacherLabel(r.teacher)),
        esc(formatHyper(r.hyperparameters, r.chosen)),
        `<span class="num">${r.n}</span>`,
        esc(pm(r.final.mean, r.final.std)),
        esc(signed(r.delta_final)),
        esc(ciLabel(r) || '–'),
        esc(r.reading ?? (r.baseline === r.method ? referenceLabel(report.against ?? null) : '–')),
        esc(pm(r.best.mean, r.best.std)),
      ];
      const td = cells.map((c, i) => `<td class="${i === 9 ? 'reading' : i >= 5 ? 'num' : ''}">${c}</td>`).join('');
      return `<tr class="method ${cls}" data-method="${esc(r.method)}">${td}</tr>`;
    })
    .join('\n');
  const sweeps = report.selections
    .map((s) => {
      const pts = s.points
        .map((p, i) => `<tr class="point${i === s.chosen_index ? ' chosen' : ''}"><td>${esc(formatValues(p.values))}</td><td class="num">${p2(p.val_acc)}</td><td class="num">${p2(p.best_val_acc)} (${p.best_epoch})</td><td>${i === s.chosen_index ? 'chosen' : ''}</td></tr>`)
        .join('');
      return `<div class="sweep" data-run="${esc(s.run)}"><p><b>${esc(s.run)}${s.variant ? ` @${esc(s.variant)}` : ''}</b> — chose <b>${esc(formatValues(s.chosen))}</b>: ${esc(s.reason)}.</p><table><tr><th>grid point</th><th>val acc % (final epoch)</th><th>best val acc % (epoch)</th><th></th></tr>${pts}</table></div>`;
    })
    .join('\n');
  const calibration = calibrationSection(rows) + emaSection(rows) + fidelitySection(rows);
  const fig = (id: string, svg: string | null, caption: string) =>
    svg ? `<figure id="${id}">${inlineSvg(svg, id)}<figcaption class="note">${esc(caption)}</figcaption></figure>` : `<p class="note" id="${id}-absent">${esc(caption)}: no data.</p>`;
  const missing =
    (report.missing.length ? `<p class="note">Not finished (left out): ${report.missing.length} run(s).</p>` : '') +
    (report.changed.length ? `<p class="note">Changed since their step finished (left out): ${report.changed.length} run(s) — ${esc(report.changed[0].why)}${report.changed.length > 1 ? ', …' : ''}.</p>` : '');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p class="note">tfkd report of ${report.inputs.map((d) => `<code>${esc(d)}</code>`).join(', ')} · ${report.runs.length} runs, ${rows.length} methods.</p>
${report.designs.map((d) => `<p class="note design">Design: <code>${esc(d.file)}</code>${d.overrides.length ? ` with ${d.overrides.map((o) => `<code>--set ${esc(o)}</code>`).join(' ')}` : ''}</p>`).join('\n')}
<section id="reading"><h2>Reading</h2>
${reading.length ? `<ul>${reading.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>` : '<p>No method has a baseline of the same model to compare with.</p>'}
<p class="note">"within noise": the 95 % Welch interval of the difference contains 0.</p>
</section>
<section id="protocol"><h2>Protocol and hyperparameters</h2>
<p>${esc(protocolText(report.protocol, rows))}</p>
${sweeps ? `<h3>Sweeps (validation accuracy, one seed)</h3>\n${sweeps}` : '<p>No sweep: every hyperparameter is the one written in the design (see the table).</p>'}
</section>
<section id="results"><h2>Results</h2>
<table id="results-table"><thead><tr>${head}</tr></thead><tbody>
${body}
</tbody></table>
<p class="note">${esc(TABLE_NOTE)}</p>
${report.compute_note ? `<p class="warn" id="compute-note">${esc(report.compute_note)}</p>` : ''}
${missing}
</section>
${calibration}<section id="plots"><h2>Plots</h2>
${fig('plot-curves', svgs.curves, 'Test accuracy vs epoch, mean over seeds per method')}
${fig('plot-de-kd', svgs.de_kd, 'Student final test accuracy vs teacher accuracy (cf. the paper\u2019s Fig. 2)')}
${svgs.fidelity ? fig('plot-fidelity', svgs.fidelity, 'Agreement with the teacher and KL(teacher \u2016 student) vs epoch, mean over seeds per method') : ''}
</section>
<section id="runs"><h2>Runs (config and manifest)</h2>
${report.runs.map((r, i) => runDetails(r, i)).join('\n')}
</section>
</body>
</html>
`;
}
