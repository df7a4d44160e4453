/**
 * `tfkd repro RUN`: re-runs a finished training run from its own record (config.json + manifest)
 * and says whether it came out the same: every per-epoch value of metrics.jsonl (timings aside)
 * and the weights of every checkpoint both runs hold at the same epoch and step, bit for bit, or
 * within a relative tolerance when one is given.
 *
 * What it holds fixed, from the manifest: the backend that actually ran (not `auto`, which could
 * now pick another), the native add-on's thread count (tfkd's own splits do not depend on it —
 * tested — but it costs nothing to hold and guards the libraries underneath), the caches (their
 * keys must still match). What it cannot hold fixed it reports: tfkd / tfjs / Node versions,
 * kernels and native libraries that differ from the recorded ones — the usual reasons a re-run on
 * another machine is close but not bit-identical.
 *
 * Before re-running it checks the run's own files against the sha256 the manifest recorded
 * (`outputs`), so a modified or truncated checkpoint is reported as that, not as "not reproduced".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { optionName, UsageError, WorkError } from '../errors.js';
import { openCache } from '../cache/reader.js';
import { openSafetensors } from '../cache/safetensors.js';
import { loadNative, nativeLoaded, setNativeThreads, type NativeStatus } from '../student/kernels/native.js';
import { settingsEnv } from '../settings.js';
import { train } from '../student/trainer/train.js';
import { CONDITIONAL_KEYS } from '../student/trainer/unused-options.js';
import { readMetrics, runPaths, TIMING_FIELDS, type EpochMetrics } from '../student/trainer/run-dir.js';
import { checkCachesAgainstRecord, checkRecordedPaths, readRunJson, type RunCacheRecord } from '../student/trainer/integrity.js';
import type { TrainConfigInput } from '../student/trainer/config.js';
import type { RunSession } from '../student/trainer/record.js';
import { LOSS_OPTION_NAMES, type LossEntry, type LossFn } from '../student/losses/index.js';
import { recordedPaths, type LossSource } from '../student/trainer/resolve.js';
import type { TrainRequestConfig } from '../student/trainer/request.js';
import { sha256File } from '../util/hash.js';
import type { GpuAdapter } from '../util/gpu-adapter.js';

/**
 * Relative tolerance used, when none is given, for a webgpu run re-run on another adapter: other
 * hardware compiles the shaders differently and sums in another order, so weights drift by float
 * rounding, not by a bug. On the same adapter a webgpu run re-runs bit for bit (measured on Mesa 25
 * lavapipe by test/student/webgpu.test.ts with `cnn` at batch 4), so none is needed — once tfjs's one
 * atomic-summing kernel that training reaches, the split-K matrix product, is kept out of it
 * (student/webgpu-matmul.ts; with it, that same run twice differed by 2e-7 relative after one step).
 */
const WEBGPU_OTHER_ADAPTER_TOLERANCE = 1e-3;

/** Whether this backend promises a bit-identical re-run, and why (reported by `tfkd repro`). */
interface ReproPromise {
  bitIdentical: boolean;
  why: string;
}

const sameAdapter = (a?: GpuAdapter, b?: GpuAdapter): boolean =>
  !!a && !!b && a.vendor === b.vendor && a.architecture === b.architecture && a.device === b.device && a.description === b.description;

function reproPromise(recorded: RunManifest['backend'], now: RunManifest['backend']): ReproPromise {
  if (recorded.name !== 'webgpu') return { bitIdentical: true, why: `${recorded.name}: tfkd's training is deterministic on a CPU backend` };
  if (sameAdapter(recorded.adapter, now.adapter)) return { bitIdentical: true, why: 'webgpu on the same adapter: bit-identical (measured: the same run twice)' };
  return {
    bitIdentical: false,
    why: `webgpu on another adapter (${now.adapter?.description ?? 'unknown'}; recorded ${recorded.adapter?.description ?? 'unknown'}): not bit-identical, compared within ${WEBGPU_OTHER_ADAPTER_TOLERANCE} relative unless --tolerance says otherwise`,
  };
}

/** The parts of a run manifest repro reads (written by student/trainer/train.ts). */
interface RunManifest {
  schema: string;
  backend: { name: string; detail: string; kernels: string; why: string[]; nativeThreads?: number | null; cpuKernels?: NativeStatus['cpu']; adapter?: GpuAdapter };
  versions: Record<string, string | null>;
  caches: RunCacheRecord[];
  /** --test-cache's record (absent without it). */
  testCache?: RunCacheRecord;
  loss?: { name: string; source?: LossSource };
  stepsPerEpoch: number;
  seconds: number | null;
  outputs?: Record<string, string>;
  /** Every session of the run (absent in runs from before they were recorded). */
  sessions?: RunSession[];
}

export interface ReproOptions {
  /** Where the re-run goes (kept); default a temporary directory, removed afterwards. */
  out?: string;
  /** Accept relative differences up to this (every metric value and weight tensor); default 0: bit-identical. */
  tolerance?: number;
  /** Re-run only the first N epochs (same schedule): compares those epochs and the checkpoints at them. */
  stopAfter?: number;
  /** The loss of a run trained with a loss entry or function handed to train() (recorded as `api:NAME`). */
  loss?: LossEntry | LossFn;
  info?(line: string): void;
}

interface CheckpointComparison {
  file: string;
  identical: boolean;
  /** max |Δ| / max |recorded| over the worst tensor (0 when identical). */
  maxRelDiff: number;
  worstTensor: string | null;
}

export interface ReproReport {
  run: string;
  out: string;
  kept: boolean;
  verdict: 'identical' | 'within-tolerance' | 'differs';
  tolerance: number;
  epochsCompared: number;
  valuesCompared: number;
  metricDiffs: Array<{ epoch: number; field: string; recorded: number; now: number; rel: number }>;
  checkpoints: CheckpointComparison[];
  environment: Array<{ what: string; recorded: string; now: string }>;
  /** What the backend promises (bit-identity or a tolerance), and why. */
  promise: ReproPromise;
  seconds: { recorded: number | null; now: number };
}

const rel = (a: number, b: number): number => (a === b || (Number.isNaN(a) && Number.isNaN(b)) ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-30));

function nativeLine(m: RunManifest): string {
  return m.backend.why.find((w) => w.includes('native addon:'))?.replace(/^.*native addon: /, '') ?? 'none';
}

/** Every checkpoint in both runs at the same epoch and step, compared tensor by tensor (its weights, and the average of --ema runs). */
function compareCheckpoints(run: string, out: string): CheckpointComparison[] {
  const res: CheckpointComparison[] = [];
  const names = fs.existsSync(runPaths(out).checkpoints) ? fs.readdirSync(runPaths(out).checkpoints).sort() : [];
  for (const name of names) {
    for (const kind of ['weights.safetensors', 'ema.safetensors']) {
      const c = compareCheckpointFile(run, out, name, kind);
      if (c) res.push(c);
    }
  }
  return res;
}

/** One file of checkpoint `name` in both runs; null when either lacks it or they are at different points. */
function compareCheckpointFile(run: string, out: string, name: string, kind: string): CheckpointComparison | null {
  const a = path.join(runPaths(run).checkpoint(name), kind);
  const b = path.join(runPaths(out).checkpoint(name), kind);
  if (!fs.existsSync(a) || !fs.existsSync(b)) return null;
  const sa = readRunJson<{ epoch: number; step: number }>(path.join(runPaths(run).checkpoint(name), 'state.json'));
  const sb = readRunJson<{ epoch: number; step: number }>(path.join(runPaths(out).checkpoint(name), 'state.json'));
  if (sa.epoch !== sb.epoch || sa.step !== sb.step) return null;
  const file = `checkpoints/${name}/${kind}`;
  if (fs.readFileSync(a).equals(fs.readFileSync(b))) return { file, identical: true, maxRelDiff: 0, worstTensor: null };
  const fa = openSafetensors(a);
  const fb = openSafetensors(b);
  try {
    let worst = { rel: 0, name: null as string | null };
    for (const t of Object.keys(fa.tensors).sort()) {
      if (!fb.tensors[t]) {
        worst = { rel: Infinity, name: t };
        break;
      }
      const x = fa.readTensor(t) as Float32Array;
      const y = fb.readTensor(t) as Float32Array;
      let diff = x.length === y.length ? 0 : Infinity;
      let scale = 0;
      for (let i = 0; i < x.length && diff !== Infinity; i++) {
        diff = Math.max(diff, Math.abs(x[i] - y[i]));
        scale = Math.max(scale, Math.abs(x[i]));
      }
      // A NaN difference (NaN on one side only) counts as the worst possible, whichever tensor it is in.
      const r = diff === 0 ? 0 : Number.isNaN(diff) ? Infinity : diff / Math.max(scale, 1e-30);
      if (r > worst.rel) worst = { rel: r, name: t };
    }
    return { file, identical: false, maxRelDiff: worst.rel, worstTensor: worst.name };
  } finally {
    fa.close();
    fb.close();
  }
}

/** What the run recorded of itself: its config.json and manifest.json, read once. */
interface RunRecord {
  run: string;
  manifest: RunManifest;
  config: TrainConfigInput & { epochs: number; cache: string[] };
}

/**
 * Check the record → re-run it as recorded → compare metrics, checkpoints and environment →
 * report. The record's checks (run files, caches, loss) come before any training.
 */
export async function repro(run: string, o: ReproOptions = {}): Promise<ReproReport> {
  const rec = readRecord(run, o);
  checkOutputs(run, rec.manifest.outputs, o.info);
  // What the run names by path (the loss module is read from the manifest's absolute record).
  checkRecordedPaths(run, recordedPaths({ ...rec.config, loss: undefined }), 'repro');
  checkCaches(rec);
  const loss = recordedLoss(rec, o.loss);
  // Hold fixed what the manifest says ran: the backend itself (not 'auto'), the native threads, and
  // TFKD_CPU_KERNELS=avx2 when the run had it (possible while the add-on is not loaded yet).
  const pinned = rec.manifest.backend.cpuKernels?.choice === 'avx2';
  if (pinned && nativeLoaded() && loadNative().cpu?.choice !== 'avx2') o.info?.(`${run} ran with TFKD_CPU_KERNELS=avx2; this process loaded other CPU kernels before repro could set it`);
  const native = loadNative(pinned ? { ...settingsEnv(), TFKD_CPU_KERNELS: 'avx2' } : settingsEnv());
  const recordedThreads = rec.manifest.backend.nativeThreads ?? null;
  if (recordedThreads !== null && native.addon) setNativeThreads(recordedThreads);

  const kept = o.out !== undefined;
  const out = o.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tfkd-repro-'));
  if (!kept) fs.rmSync(out, { recursive: true, force: true }); // train wants a fresh or empty directory
  const t0 = Date.now();
  try {
    o.info?.(`re-running ${run} (${rec.config.epochs} epochs${o.stopAfter ? `, stopping after ${o.stopAfter}` : ''}, backend ${rec.manifest.backend.name}) → ${out}`);
    try {
      await rerun(rec, loss, out, o.stopAfter, o.info);
    } catch (e) {
      // The trainer's hint names --backend, which repro does not take: it re-runs on the backend the run used.
      if (e instanceof UsageError && / is not available: /.test(e.message) && e.message.startsWith(optionName('backend'))) {
        throw new UsageError(`${run} trained on ${rec.manifest.backend.name}, which ${e.message.slice(e.message.indexOf(' is not available: ') + 1)}`, 'repro re-runs a run on the backend it trained on: run it on a machine that has it');
      }
      throw e;
    }
    const seconds = (Date.now() - t0) / 1000;
    const now = readRunJson<RunManifest>(runPaths(out).manifest);
    const metrics = compareMetrics(run, out);
    // With --stop-after, the recorded run may hold no checkpoint at that epoch (only with
    // --save-at): then the metrics alone are compared, and the report says so.
    const checkpoints = compareCheckpoints(run, out);
    if (checkpoints.length === 0 && o.stopAfter === undefined) throw new WorkError(`no checkpoint of ${run} is at the same epoch and step as the re-run's`);
    const environment = environmentDiffs(rec.manifest, now);
    const promise = reproPromise(rec.manifest.backend, now.backend);
    const tolerance = !promise.bitIdentical && o.tolerance === undefined ? WEBGPU_OTHER_ADAPTER_TOLERANCE : (o.tolerance ?? 0);
    return {
      run,
      out,
      kept,
      verdict: verdictOf(metrics.diffs, checkpoints, tolerance),
      tolerance,
      epochsCompared: metrics.epochs,
      valuesCompared: metrics.values,
      metricDiffs: metrics.diffs,
      checkpoints,
      environment,
      promise,
      seconds: { recorded: rec.manifest.seconds, now: seconds },
    };
  } finally {
    if (!kept) fs.rmSync(out, { recursive: true, force: true });
  }
}

/** A finished tfkd run, a sane tolerance and --stop-after, a manifest this version reads (exit 2 otherwise). */
function readRecord(run: string, o: ReproOptions): RunRecord {
  const paths = runPaths(run);
  if (!fs.existsSync(paths.config) || !fs.existsSync(paths.manifest)) throw new UsageError(`${run} is not a tfkd run (no config.json / manifest.json)`);
  if (!fs.existsSync(paths.summary)) throw new UsageError(`${run} is not finished (no summary.json)`, `finish it first: tfkd train --out ${run} --resume`);
  const tolerance = o.tolerance ?? 0;
  if (!(tolerance >= 0)) throw new UsageError(`${optionName('tolerance')} must be ≥ 0, got ${tolerance}`);
  const manifest = readRunJson<RunManifest>(paths.manifest);
  if (manifest.schema !== 'tfkd-run/1') throw new UsageError(`${run}: manifest schema ${manifest.schema}, expected tfkd-run/1`);
  const config = readRunJson<RunRecord['config']>(paths.config);
  if (o.stopAfter !== undefined && !(Number.isInteger(o.stopAfter) && o.stopAfter >= 1 && o.stopAfter <= config.epochs)) {
    throw new UsageError(`${optionName('stopAfter')} must be an integer in [1, ${config.epochs}] (the run's epochs), got ${o.stopAfter}`);
  }
  return { run, manifest, config };
}

/** The run's own files first: a changed checkpoint is not a failed reproduction. */
function checkOutputs(run: string, recordedOutputs: RunManifest['outputs'], info: ReproOptions['info']): void {
  if (!recordedOutputs) {
    info?.(`${run}: its manifest has no output hashes (a run from before they were recorded); comparing with its files as they are`);
    return;
  }
  for (const [file, sha] of Object.entries(recordedOutputs)) {
    const full = path.join(run, file);
    if (!fs.existsSync(full)) throw new WorkError(`${full} is missing (the run's manifest lists it)`);
    const now = sha256File(full);
    if (now !== sha) throw new WorkError(`${full} changed since the run wrote it: sha256 ${now.slice(0, 12)}…, manifest ${sha.slice(0, 12)}…`);
  }
}

/** The caches: the ones the run trained on (key and shard hashes), each verified as it opens. */
function checkCaches({ run, manifest, config }: RunRecord): void {
  const dirs = manifest.caches.map((c, i) => config.cache[i] ?? c.dir);
  const t = manifest.testCache;
  const testDir = t ? (config.testCache ?? t.dir) : null;
  const readers = dirs.map((dir) => openCache(dir));
  try {
    checkCachesAgainstRecord(run, manifest.caches, readers);
  } finally {
    for (const r of readers) r.close();
  }
  // --test-cache: the teacher the fidelity figures were measured against, checked the same way.
  if (t && testDir !== null) {
    const reader = openCache(testDir);
    try {
      checkCachesAgainstRecord(run, [t], [reader], 'measured its fidelity against');
    } finally {
      reader.close();
    }
  }
}

/**
 * The loss: a module is re-imported from where the run recorded it, and must be the same bytes; a
 * function handed to train() cannot be read back from the record and must be handed over again.
 */
function recordedLoss({ run, manifest, config }: RunRecord, given: ReproOptions['loss']): TrainRequestConfig['loss'] {
  const source = manifest.loss?.source;
  if (source?.kind === 'module') {
    if (!fs.existsSync(source.file)) throw new WorkError(`${run} was trained with the loss module ${source.file}, which is gone`, 'restore it to reproduce the run');
    const now = sha256File(source.file);
    if (now !== source.sha256) throw new WorkError(`the loss module ${source.file} changed since ${run} was trained: sha256 ${now.slice(0, 12)}…, manifest ${source.sha256.slice(0, 12)}…`);
    return source.file;
  }
  if (source?.kind === 'api') {
    if (!given) throw new UsageError(`${run} was trained with a loss function given through the API (${config.loss})`, 'pass the same function or entry as the loss option of repro()');
    return given;
  }
  return config.loss;
}

/**
 * The run's stretches of equal options: a new one at each session whose epochs, backend or eval
 * batch differ from the one before (a resume that changed nothing continues the stretch). One
 * stretch for a run trained in one go, or from before sessions were recorded.
 */
export function replayStretches(run: string, sessions: readonly RunSession[] | undefined): RunSession[] {
  if (!sessions?.length) return [];
  const same = (a: RunSession, b: RunSession) => a.epochs === b.epochs && a.backend === b.backend && a.eval_batch === b.eval_batch;
  const out = [sessions[0]];
  for (const s of sessions.slice(1)) {
    if (same(s, out[out.length - 1])) continue;
    // --stop-after ends a re-run at an epoch's end only: a change of options inside an epoch cannot be replayed.
    if (s.after_batch) throw new UsageError(`${run} was resumed inside epoch ${s.after_epoch + 1} (after batch ${s.after_batch}) with other options (epochs, backend or eval batch); repro replays sessions that start at an epoch's end only`);
    out.push(s);
  }
  return out;
}

/**
 * Trains again from the recorded config, on the backend that actually ran. A run resumed with
 * other `--epochs`, `--backend` or `--eval-batch` is replayed session by session: each stretch of
 * equal options with those options, stopped where the next began (`--stop-after`), then resumed
 * with the next one's — as it was trained, not every epoch with the last session's options.
 */
async function rerun({ run, manifest, config }: RunRecord, loss: TrainRequestConfig['loss'], out: string, stopAfter: number | undefined, info: ReproOptions['info']): Promise<void> {
  // Loss options the run's loss does not read are not the user's (a config.json of an older tfkd
  // listed them all); nor are the options another one decides the use of (momentum under Adam):
  // config.json holds them at their defaults, or at what an older tfkd let through unread.
  const notGiven: readonly string[] = [...LOSS_OPTION_NAMES, ...CONDITIONAL_KEYS];
  const explicit = new Set(Object.keys(config).filter((k) => !notGiven.includes(k)));
  const stretches = replayStretches(run, manifest.sessions);
  if (stretches.length <= 1) {
    await train({ config: { ...config, loss, backend: manifest.backend.name as TrainConfigInput['backend'] }, explicit, out, stopAfter, hooks: {} });
    return;
  }
  for (const [i, st] of stretches.entries()) {
    const end = i + 1 < stretches.length ? stretches[i + 1].after_epoch : st.epochs;
    const stop = Math.min(end, stopAfter ?? Infinity);
    info?.(`  session ${i + 1} of ${stretches.length}: epochs ${st.after_epoch + 1}–${stop} with --epochs ${st.epochs}, backend ${st.backend}${st.eval_batch !== null ? `, eval batch ${st.eval_batch}` : ''}`);
    const cfg = { ...config, loss, epochs: st.epochs, backend: st.backend as TrainConfigInput['backend'], ...(st.eval_batch !== null ? { evalBatch: st.eval_batch } : {}) };
    await train({ config: cfg, explicit, out, resume: i > 0, stopAfter: stop < st.epochs ? stop : undefined, hooks: {} });
    if (stopAfter !== undefined && stopAfter <= end) return;
  }
}

/** Metrics: every value but the timings, epoch by epoch of the re-run. */
function compareMetrics(run: string, out: string): { epochs: number; values: number; diffs: ReproReport['metricDiffs'] } {
  const recorded = readMetrics(runPaths(run).metrics);
  const again = readMetrics(runPaths(out).metrics);
  const diffs: ReproReport['metricDiffs'] = [];
  let values = 0;
  for (const m of again) {
    const r = recorded.find((x) => x.epoch === m.epoch);
    if (!r) throw new WorkError(`${run}/metrics.jsonl has no epoch ${m.epoch}`);
    for (const field of Object.keys(r) as Array<keyof EpochMetrics>) {
      if (TIMING_FIELDS.includes(field)) continue;
      values++;
      const a = Number(r[field]);
      const b = Number(m[field]);
      if (!Object.is(a, b)) diffs.push({ epoch: m.epoch, field, recorded: a, now: b, rel: rel(a, b) });
    }
  }
  return { epochs: again.length, values, diffs };
}

/** What differs between the recorded environment and this one: the usual reasons for a close-but-not-identical re-run. */
function environmentDiffs(recorded: RunManifest, now: RunManifest): ReproReport['environment'] {
  const environment: ReproReport['environment'] = [];
  const env = (what: string, a: unknown, b: unknown) => {
    if (String(a) !== String(b)) environment.push({ what, recorded: String(a), now: String(b) });
  };
  for (const k of new Set([...Object.keys(recorded.versions), ...Object.keys(now.versions)])) env(k, recorded.versions[k], now.versions[k]);
  env('backend', `${recorded.backend.name} (${recorded.backend.kernels})`, `${now.backend.name} (${now.backend.kernels})`);
  env('backend detail', recorded.backend.detail, now.backend.detail);
  env('native add-on', nativeLine(recorded), nativeLine(now));
  env('native threads', recorded.backend.nativeThreads ?? null, now.backend.nativeThreads ?? null);
  if (recorded.backend.adapter || now.backend.adapter) env('gpu adapter', recorded.backend.adapter?.description, now.backend.adapter?.description);
  return environment;
}

function verdictOf(metricDiffs: ReproReport['metricDiffs'], checkpoints: CheckpointComparison[], tolerance: number): ReproReport['verdict'] {
  const identical = metricDiffs.length === 0 && checkpoints.every((c) => c.identical);
  const within = metricDiffs.every((d) => d.rel <= tolerance) && checkpoints.every((c) => c.maxRelDiff <= tolerance);
  return identical ? 'identical' : within ? 'within-tolerance' : 'differs';
}
