/**
 * The checks of a design that need more than one field (zod cannot express them): teacher
 * references, kind-specific options, and the protocol's hold-out and sweeps. Each problem is one
 * `path: message` line; parseDesign (design.ts) prefixes the file and throws them together.
 */
import {
  KIND_LOSS_KEYS,
  SWEEP_KEYS,
  TEACHER_KINDS,
  checkpointName,
  checkpointUnit,
  fidelityActs,
  gridKeys,
  gridPoints,
  holdoutCount,
  kindLossKeys,
  lossValueProblem,
  resolveLoss,
  resolveTrain,
  runGrid,
  trainEpochs,
  type Design,
  type Grid,
  type Kind,
  type LossKey,
  type LossOptions,
  type RunDef,
  type TrainOptions,
} from './design-schema.js';
import { defaultMilestones, TRAIN_DEFAULTS } from '../student/trainer/config.js';
import { unusedOptions, type ConditionalKey } from '../student/trainer/unused-options.js';

/** The cross-field checks zod cannot express; returns `path: message` lines. */
export function checkDesign(d: Design): string[] {
  const out: string[] = [];
  const teachers = d.teachers ?? {};
  const runIndex = new Map<string, number>();
  d.runs.forEach((r, i) => {
    if (runIndex.has(r.name)) out.push(`runs[${i}].name: duplicate run name "${r.name}" (also runs[${runIndex.get(r.name)}])`);
    else runIndex.set(r.name, i);
  });
  const defined = () => {
    const t = Object.keys(teachers);
    return `defined teachers: ${t.length ? t.join(', ') : '(none)'}; runs: ${[...runIndex.keys()].join(', ')}`;
  };

  for (const [tname, t] of Object.entries(teachers)) {
    const at = `teachers.${tname}`;
    const sources = (['model', 'onnx', 'run'] as const).filter((k) => t[k] !== undefined);
    if (sources.length !== 1) out.push(`${at}: a teacher needs exactly one of model | onnx | run (got ${sources.length ? sources.join(', ') : 'none'})`);
    if (t.onnx !== undefined) {
      for (const k of ['seed', 'train', 'save_at'] as const) if (t[k] !== undefined) out.push(`${at}.${k}: not used by an onnx teacher`);
    }
    if (t.run !== undefined) {
      const ri = runIndex.get(t.run);
      if (ri === undefined) out.push(`${at}.run: run "${t.run}" is not defined (runs: ${[...runIndex.keys()].join(', ')})`);
      else if (d.runs[ri].kind === 'de-kd') out.push(`${at}.run: run "${t.run}" is a de-kd sweep (several students per seed); name a single-student run`);
      if (t.train !== undefined) out.push(`${at}.train: set train options on run "${t.run}" itself`);
    }
    if (t.save_at) {
      const units = new Set(t.save_at.map(checkpointUnit));
      if (units.size > 1) out.push(`${at}.save_at: mixes epochs and steps (one unit per run)`);
    }
  }

  out.push(...checkProtocol(d, runIndex));
  out.push(...checkCheckpointEpochs(d, runIndex));
  out.push(...checkFidelityTeacher(d, runIndex, defined), ...checkUnusedTrainOptions(d));

  d.runs.forEach((r, i) => {
    const at = `runs[${i}]`;
    if (!r.model && !d.model) out.push(`${at}.model: no model (set model here or at the top level)`);
    if (!r.seeds && !d.seeds) out.push(`${at}.seeds: no seeds (set seeds here or at the top level, e.g. [1, 2])`);
    const used = KIND_LOSS_KEYS[r.kind];
    for (const k of Object.keys(r.loss ?? {})) {
      if (!used.includes(k as LossKey)) out.push(`${at}.loss.${k}: not used by kind "${r.kind}" (it uses: ${used.length ? used.join(', ') : 'none'})`);
    }
    const resolved = resolveLoss(r.kind, d.loss, r.loss);
    const bad = lossValueProblem(r.kind, resolved);
    out.push(...unusedRunKeys(r, at, resolved.logit_standardization === true), ...(bad ? [`${at}.loss: ${bad}`] : []));
    // With logit standardization a loss reads other options: a grid must sweep only those.
    const grid = runGrid(d, r);
    if (grid && resolved.logit_standardization === true) {
      const reads = kindLossKeys(r.kind, true);
      for (const k of gridKeys(grid)) if (!reads.includes(k)) out.push(`${at}: its sweep varies ${k}, which kind "${r.kind}" does not read with logit_standardization (it reads: ${reads.join(', ')})`);
    }
    // A fixed value out of bounds is already reported; every point would repeat it.
    if (!bad) out.push(...checkSweepValues(d, r, at, runIndex));
    if (TEACHER_KINDS.has(r.kind)) {
      if (r.teacher === undefined) out.push(`${at}.teacher: kind "${r.kind}" needs a teacher (${defined()})`);
      else if (!(r.teacher in teachers) && !runIndex.has(r.teacher)) out.push(`${at}.teacher: teacher "${r.teacher}" is not defined (${defined()})`);
      else if (!(r.teacher in teachers) && r.teacher === r.name) out.push(`${at}.teacher: a run cannot teach itself`);
      else if (!(r.teacher in teachers) && d.runs[runIndex.get(r.teacher)!].kind === 'de-kd') out.push(`${at}.teacher: run "${r.teacher}" is a de-kd sweep; name a single-student run`);
    } else if (r.teacher !== undefined) {
      out.push(`${at}.teacher: kind "${r.kind}" takes no teacher${r.kind === 'tfkd-self' ? ' (its teacher is a ce run of its own model; see teacher_seed)' : ''}`);
    }
    if (r.teacher_seed !== undefined && r.kind !== 'tfkd-self') out.push(`${at}.teacher_seed: only for kind "tfkd-self"`);
    if (r.kind === 'de-kd') {
      const n = Number(r.checkpoints !== undefined) + Number(r.target_accuracies !== undefined);
      if (n !== 1) out.push(`${at}: kind "de-kd" needs exactly one of checkpoints | target_accuracies`);
      const t = r.teacher !== undefined ? teachers[r.teacher] : undefined;
      if (t?.onnx !== undefined) out.push(`${at}.teacher: de-kd needs a teacher trained here (model or run), not an ONNX file ("${r.teacher}")`);
      if (r.target_accuracies && r.teacher !== undefined && !t?.save_at) {
        out.push(`${at}.target_accuracies: needs candidate checkpoints: set teachers.${r.teacher}.save_at (e.g. [1, 2, 3])`);
      }
      if (r.checkpoints && new Set(r.checkpoints.map(checkpointUnit)).size > 1) out.push(`${at}.checkpoints: mixes epochs and steps (one unit per run)`);
    } else {
      if (r.checkpoints !== undefined) out.push(`${at}.checkpoints: only for kind "de-kd"`);
      if (r.target_accuracies !== undefined) out.push(`${at}.target_accuracies: only for kind "de-kd"`);
    }
  });
  return out;
}

/**
 * Every point run `r` (at `at`) would train in a sweep — its own grid's, or the chosen one of the run
 * it takes its values from (`sweep_from`) — checked against its loss's bounds.
 */
function checkSweepValues(d: Design, r: RunDef, at: string, runIndex: Map<string, number>): string[] {
  const out: string[] = [];
  const grid = runGrid(d, r);
  if (grid) {
    const where = r.sweep !== undefined ? `${at}.sweep` : `sweep.grids.${r.kind}`;
    for (const p of sweepValueProblems(d, r, grid)) out.push(`${where}: run "${r.name}", point ${p.point}: ${p.why}`);
  }
  const si = r.sweep_from !== undefined ? runIndex.get(r.sweep_from) : undefined;
  const src = si !== undefined ? d.runs[si] : undefined;
  const srcGrid = src && src !== r ? runGrid(d, src) : null;
  if (src && srcGrid) {
    // The chosen point is trained over this run's own fixed options: report what the sweeping run itself does not.
    const theirs = new Set(sweepValueProblems(d, src, srcGrid).map((p) => p.why));
    for (const p of sweepValueProblems(d, r, srcGrid)) if (!theirs.has(p.why)) out.push(`${at}.sweep_from: run "${r.name}", point ${p.point} of run "${src.name}": ${p.why}`);
  }
  return out;
}

/**
 * The points of `grid` whose loss options, as run `r` trains them (the point over the run's fixed
 * options), are outside its loss's bounds — checked as `loss:` is — each distinct problem once (a
 * bad value is in many points of a product), with the first point that has it. Points that vary an
 * option the run does not read are left out: that is reported on its own.
 */
function sweepValueProblems(d: Design, r: RunDef, grid: Grid): Array<{ point: string; why: string }> {
  const fixed = resolveLoss(r.kind, d.loss, r.loss);
  const reads = kindLossKeys(r.kind, fixed.logit_standardization === true);
  const seen = new Set<string>();
  const out: Array<{ point: string; why: string }> = [];
  for (const p of gridPoints(grid)) {
    if (Object.keys(p).some((k) => !reads.includes(k))) continue;
    const why = lossValueProblem(r.kind, { ...fixed, ...p });
    if (why === null || seen.has(why)) continue;
    seen.add(why);
    out.push({ point: `{ ${Object.entries(p).map(([k, v]) => `${k}: ${v}`).join(', ')} }`, why });
  }
  return out;
}

/**
 * Epoch checkpoints a teacher trained here is asked to save — its `save_at`, a de-kd run's
 * `checkpoints` — against the epochs of the run that saves them (a `model:` teacher's own training
 * options, or those of the run it is).
 */
function checkCheckpointEpochs(d: Design, runIndex: Map<string, number>): string[] {
  const teachers = d.teachers ?? {};
  const out: string[] = [];
  /** The own train options of the run that trains teacher `name` (of `teachers:`, or a run); null for an ONNX file or an undefined name. */
  const saverOf = (name: string): { own: TrainOptions | undefined } | null => {
    const t = teachers[name];
    if (t?.model !== undefined) return { own: t.train };
    const ri = t ? (t.run !== undefined ? runIndex.get(t.run) : undefined) : runIndex.get(name);
    return ri !== undefined ? { own: d.runs[ri].train } : null;
  };
  for (const [name, t] of Object.entries(teachers)) {
    const saver = saverOf(name);
    if (t.save_at && saver) out.push(...pastLastEpoch(`teachers.${name}.save_at`, t.save_at, `teacher "${name}"`, d.train, saver.own));
  }
  d.runs.forEach((r, i) => {
    const saver = r.kind === 'de-kd' && r.checkpoints && r.teacher !== undefined ? saverOf(r.teacher) : null;
    if (saver) out.push(...pastLastEpoch(`runs[${i}].checkpoints`, r.checkpoints!, `teacher "${r.teacher}"`, d.train, saver.own));
  });
  return out;
}

/**
 * `epoch N` checkpoints past the last epoch of the run that saves them (`top` < `own` train
 * options): the trainer refuses them, but only once that run starts. Step checkpoints are left to
 * it: the steps of an epoch depend on the number of training images, which only the data knows.
 */
function pastLastEpoch(at: string, checkpoints: ReadonlyArray<number | string>, whose: string, top: TrainOptions | undefined, own: TrainOptions | undefined): string[] {
  const last = trainEpochs({ ...top, ...own });
  if (last === null) return [];
  const past = checkpoints.filter((c) => checkpointUnit(c) === 'epoch').map((c) => Number(checkpointName(c).slice('epoch-'.length))).filter((e) => e > last);
  if (!past.length) return [];
  const set = own?.epochs !== undefined || top?.epochs !== undefined ? `train.epochs ${last}` : `the trainer's default of ${last} epochs`;
  return [`${at}: epoch ${past.join(', ')} ${past.length > 1 ? 'are' : 'is'} past the last epoch of ${whose} (${set}), never reached; save at epochs ≤ ${last} or raise its epochs`];
}

/**
 * `fidelity_teacher:` names a teacher or a single-student run; the plan then passes every reported
 * run its --test-cache, so one written in `args` as well would be given twice.
 */
/**
 * Keys of a run its kind would not read: its own fidelity where both modes agree (a top-level one
 * trains such a kind as paper: resolveLoss), its `precompute:` where it learns from no cache.
 */
function unusedRunKeys(r: RunDef, at: string, ls: boolean): string[] {
  const out: string[] = [];
  const f = r.loss?.fidelity;
  if (f !== undefined && f !== TRAIN_DEFAULTS.fidelity && !fidelityActs(r.kind, ls)) {
    out.push(`${at}.loss.fidelity: kind "${r.kind}"${ls ? ' with logit_standardization' : ''} computes the same in both fidelity modes (${f} would not act)`);
  }
  if (r.precompute !== undefined && !TEACHER_KINDS.has(r.kind) && r.kind !== 'tfkd-self') out.push(`${at}.precompute: kind "${r.kind}" learns from no teacher cache`);
  return out;
}

/**
 * Train options a run (or a teacher trained here) would be given and not read — momentum under
 * Adam, milestones or γ without a step schedule's milestones — refused as `tfkd train` refuses them
 * (student/trainer/unused-options.ts), at the key that sets them: the run's own `train:`, or the
 * top-level one, which every run gets. Runs whose `args` set those options are left to the trainer.
 */
function checkUnusedTrainOptions(d: Design): string[] {
  // One line per key and reason, naming every run it reaches (a top-level key reaches them all).
  const lines = new Map<string, string[]>();
  const check = (at: string, who: string, own: TrainOptions | undefined): void => {
    const t = resolveTrain(d.train, own);
    if ((t.args ?? []).some((a) => /^--(optimizer|schedule|epochs|config|momentum|milestones|gamma)(=|$)/.test(a))) return;
    const epochs = t.epochs ?? TRAIN_DEFAULTS.epochs;
    const unused = unusedOptions(
      {
        optimizer: t.optimizer ?? TRAIN_DEFAULTS.optimizer,
        schedule: t.schedule ?? TRAIN_DEFAULTS.schedule,
        epochs,
        momentum: t.momentum ?? TRAIN_DEFAULTS.momentum,
        nesterov: false,
        ...(t.milestones ? { milestones: t.milestones } : {}),
        gamma: t.gamma ?? TRAIN_DEFAULTS.gamma,
        fidelity: TRAIN_DEFAULTS.fidelity,
        fidelityActs: true,
        defaultMilestones: defaultMilestones(epochs),
      },
      (k: ConditionalKey) => k in t,
    );
    for (const u of unused) {
      const where = own !== undefined && u.key in own ? `${at}.train.${u.key}` : `train.${u.key}`;
      const line = `${where}: not read by @: ${u.why}`;
      lines.set(line, [...(lines.get(line) ?? []), who]);
    }
  };
  d.runs.forEach((r, i) => check(`runs[${i}]`, `run "${r.name}"`, r.train));
  for (const [name, t] of Object.entries(d.teachers ?? {})) if (t.model !== undefined) check(`teachers.${name}`, `teacher "${name}"`, t.train);
  return [...lines].map(([line, who]) => line.replace('@', who.join(', ')));
}

function checkFidelityTeacher(d: Design, runIndex: Map<string, number>, defined: () => string): string[] {
  const name = d.fidelity_teacher;
  if (name === undefined) return [];
  const out: string[] = [];
  if (!(name in (d.teachers ?? {}))) {
    const ri = runIndex.get(name);
    if (ri === undefined) out.push(`fidelity_teacher: teacher "${name}" is not defined (${defined()})`);
    else if (d.runs[ri].kind === 'de-kd') out.push(`fidelity_teacher: run "${name}" is a de-kd sweep (several students per seed); name a single-student run`);
  }
  const givesTestCache = (t: TrainOptions | undefined) => (t?.args ?? []).some((a) => a === '--test-cache' || a.startsWith('--test-cache='));
  if (givesTestCache(d.train)) out.push('train.args: --test-cache is given by fidelity_teacher; drop one');
  d.runs.forEach((r, i) => givesTestCache(r.train) && out.push(`runs[${i}].train.args: --test-cache is given by fidelity_teacher; drop one`));
  return out;
}

/** Data kinds a `validation:` hold-out can be written for (as files, or links to files, the trainer reads back). */
export const HOLDOUT_KINDS = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'folder'] as const;

/** Checks of `validation:` / `sweep:` / runs' `sweep` and `sweep_from`. */
function checkProtocol(d: Design, runIndex: Map<string, number>): string[] {
  const out: string[] = [];
  const dataKind = d.data.split(':')[0];
  if (d.validation && !(HOLDOUT_KINDS as readonly string[]).includes(dataKind)) {
    out.push(`validation: a hold-out is written as files of the data set's own format; supported: ${HOLDOUT_KINDS.join(', ')} (data is "${dataKind}")`);
  }
  const noVal = 'hyperparameters are chosen on the validation split: add a validation: block (e.g. validation: { fraction: 0.1, seed: 0 })';
  if (d.sweep && !d.validation) out.push(`sweep: ${noVal}`);
  // With a subset the pool is known here; without one, the preflight checks against the data set's size.
  const v = d.validation;
  if (v?.subset !== undefined) {
    const { held, empty } = holdoutCount(v, v.subset);
    const at = v.size !== undefined ? 'validation.size' : v.fraction !== undefined ? 'validation.fraction' : 'validation.subset';
    if (empty) out.push(`${at}: ${held} held-out images out of a subset of ${v.subset} leaves nothing to ${empty} (${v.size !== undefined ? 'size must be below subset' : empty === 'validate on' ? 'raise fraction or subset' : 'raise subset'})`);
  }
  const checkGrid = (g: Grid, kind: Kind, at: string, own?: LossOptions): void => {
    const used = KIND_LOSS_KEYS[kind];
    const keys = gridKeys(g);
    if (!keys.length) out.push(`${at}: a grid needs at least one of ${SWEEP_KEYS.join(', ')}`);
    for (const k of keys) {
      if (!used.includes(k)) out.push(`${at}.${k}: not used by kind "${kind}" (it uses: ${used.length ? used.join(', ') : 'none'})`);
      else if (own?.[k] !== undefined) out.push(`${at}.${k}: also fixed by the run's loss.${k}; keep one`);
    }
    if (Array.isArray(g)) g.forEach((p, j) => Object.keys(p).length === 0 && out.push(`${at}[${j}]: an empty point`));
    const pts = gridPoints(g).map((p) => JSON.stringify(Object.entries(p).sort()));
    if (new Set(pts).size !== pts.length) out.push(`${at}: a point is listed twice`);
  };
  for (const [kind, g] of Object.entries(d.sweep?.grids ?? {})) if (g) checkGrid(g, kind as Kind, `sweep.grids.${kind}`);
  // A default grid no run takes, or a sweep seed with nothing swept, would change nothing in the plan.
  for (const kind of Object.keys(d.sweep?.grids ?? {})) {
    if (!d.runs.some((r) => r.kind === kind && r.sweep === undefined)) out.push(`sweep.grids.${kind}: no run of kind "${kind}" takes it (none, or each has its own sweep: or sweep: false)`);
  }
  if (d.sweep?.seed !== undefined && d.validation && !d.runs.some((r) => runGrid(d, r))) out.push('sweep.seed: no run is swept (no sweep: of its own, no sweep.grids entry of its kind); it would seed nothing');
  d.runs.forEach((r, i) => {
    const at = `runs[${i}]`;
    if (r.sweep !== undefined && r.sweep !== false) {
      if (!d.validation) out.push(`${at}.sweep: ${noVal}`);
      checkGrid(r.sweep, r.kind, `${at}.sweep`, r.loss);
    }
    const g = runGrid(d, r);
    if (g && r.sweep === undefined) {
      for (const k of gridKeys(g)) if (r.loss?.[k] !== undefined) out.push(`${at}.loss.${k}: fixed here but swept by sweep.grids.${r.kind}; drop one (or set sweep: false on the run)`);
    }
    if (r.sweep_from !== undefined) {
      if (!d.validation) out.push(`${at}.sweep_from: ${noVal}`);
      if (r.sweep !== undefined) out.push(`${at}.sweep_from: a run takes either its own sweep or sweep_from, not both`);
      const si = runIndex.get(r.sweep_from);
      if (si === undefined) {
        out.push(`${at}.sweep_from: run "${r.sweep_from}" is not defined (runs: ${[...runIndex.keys()].join(', ')})`);
        return;
      }
      const src = d.runs[si];
      const sg = runGrid(d, src);
      if (src.name === r.name) out.push(`${at}.sweep_from: a run cannot take its values from itself`);
      else if (!sg) out.push(`${at}.sweep_from: run "${src.name}" has no sweep of its own`);
      else {
        if (src.kind === 'de-kd') out.push(`${at}.sweep_from: run "${src.name}" is a de-kd run (one sweep per teacher); name a single-teacher run`);
        for (const k of gridKeys(sg)) {
          if (!KIND_LOSS_KEYS[r.kind].includes(k)) out.push(`${at}.sweep_from: run "${src.name}" sweeps ${k}, which kind "${r.kind}" does not use`);
          else if (r.loss?.[k] !== undefined) out.push(`${at}.loss.${k}: also chosen by the sweep of run "${src.name}" (sweep_from); keep one`);
        }
      }
    }
  });
  return out;
}
