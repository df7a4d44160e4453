/**
 * What a run's manifest.json records beyond its config: versions, the native add-on's threads, each
 * cache's identity (key, teacher, shard hashes), and the sha256 of every checkpoint (what `tfkd
 * repro` compares).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createdBy } from '../../cache/manifest.js';
import type { CacheReader } from '../../cache/reader.js';
import type { BackendInfo } from '../backend.js';
import { loadNative } from '../kernels/native.js';
import { sha256File } from '../../util/hash.js';
import { tf } from '../tf.js';
import type { TrainConfig } from './config.js';
import type { Built } from './built.js';
import { runPaths, type EpochMetrics, type Summary } from './run-dir.js';

function versions(): Record<string, string | null> {
  const c = createdBy();
  return { tfkd: c.tfkd, git: c.git, tfjs: tf.version_core, node: process.version };
}

function nativeThreads(backend: BackendInfo): number | null {
  return backend.kernels === 'wasm+native-blas' ? (loadNative().addon?.getThreads() ?? null) : null;
}

/** The add-on's CPU kernels (OpenBLAS core, oneDNN instruction set, TFKD_CPU_KERNELS) when it is in use. */
function cpuKernels(backend: BackendInfo) {
  const cpu = backend.kernels === 'wasm+native-blas' ? loadNative().cpu : undefined;
  return cpu ? { cpuKernels: cpu } : {};
}

/** `checkpoints/NAME/weights.safetensors` → sha256, for every checkpoint in the run (sorted). */
export function hashCheckpoints(run: string): Record<string, string> {
  const dir = runPaths(run).checkpoints;
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const name of fs.readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue; // temp / trash copies of a directory swap, not checkpoints
    const file = path.join(dir, name, 'weights.safetensors');
    if (fs.existsSync(file)) out[`checkpoints/${name}/weights.safetensors`] = sha256File(file);
    const ema = path.join(dir, name, 'ema.safetensors');
    if (fs.existsSync(ema)) out[`checkpoints/${name}/ema.safetensors`] = sha256File(ema);
  }
  return out;
}

function cacheRecord(c: CacheReader) {
  return {
    dir: c.dir,
    key: c.key,
    baseKey: c.manifest.baseKey,
    teacher: { file: c.manifest.teacher.file, sha256: c.manifest.teacher.sha256 },
    views: c.views,
    augment: c.manifest.augment,
    topk: c.topk,
    shards: c.manifest.shards.map((s) => ({ file: s.file, sha256: s.sha256 })),
  };
}

/**
 * One session of a run (a start, or a --resume): where it started and the options --resume may
 * change that change the numbers (`epochs` moves a cosine schedule, `backend` the arithmetic,
 * `eval_batch` the test loss's last bits). `tfkd repro` replays a run session by session when they
 * differ, rather than every epoch with the last session's options.
 */
export interface RunSession {
  after_epoch: number;
  after_batch?: number;
  epochs: number;
  backend: string;
  eval_batch: number | null;
}

/**
 * The sessions of the run at `paths` up to this one: those its previous manifest recorded (or, for
 * a run from before sessions were recorded, the one its manifest and config.json describe) that
 * started before this session's resume point — a session interrupted before its first checkpoint
 * left nothing, and its resume replaces it — then this one.
 */
export function sessionHistory(prev: { manifest: unknown; config: unknown } | null, now: RunSession): RunSession[] {
  if (now.after_epoch === 0 && (now.after_batch ?? 0) === 0) return [now];
  const m = prev?.manifest as { sessions?: RunSession[]; resumedAfterEpoch?: number; resumedAfterBatch?: number; backend?: { name?: string } } | null;
  const c = prev?.config as { epochs?: number; evalBatch?: number } | null;
  let before: RunSession[] = [];
  if (Array.isArray(m?.sessions)) before = m.sessions;
  else if (m && c && typeof c.epochs === 'number' && typeof m.backend?.name === 'string') {
    before = [{ after_epoch: m.resumedAfterEpoch ?? 0, ...(m.resumedAfterBatch ? { after_batch: m.resumedAfterBatch } : {}), epochs: c.epochs, backend: m.backend.name, eval_batch: c.evalBatch ?? null }];
  }
  const at = (x: RunSession) => [x.after_epoch, x.after_batch ?? 0] as const;
  const earlier = (x: RunSession) => at(x)[0] < at(now)[0] || (at(x)[0] === at(now)[0] && at(x)[1] < at(now)[1]);
  return [...before.filter(earlier), now];
}

/** The run manifest as a session starts it (finished, seconds and outputs filled in when it ends: loop.ts). */
export function runManifest(built: Built, session: { N: number; stepsPerEpoch: number; batchesPerEpoch?: number; startEpoch: number; startBatch: number; sessions: RunSession[] }) {
  const { config, loss, lossOptions, trainDs, testDs, testIdx, fp, caches, testTeacher, plan, inputs, t0, backend, spec, params } = built;
  return {
    schema: 'tfkd-run/1',
    seed: config.seed,
    // nativeThreads: the add-on's thread count (the numbers do not depend on it; recorded for the
    // record, and `tfkd repro` reuses it). null when the native kernels are not in use.
    // cpuKernels: which CPU kernels ran (they do change the numbers); repro reuses TFKD_CPU_KERNELS=avx2.
    backend: { name: backend.name, detail: backend.detail, kernels: backend.kernels, requested: backend.requested, why: backend.why, nativeThreads: nativeThreads(backend), ...cpuKernels(backend), ...(backend.adapter ? { adapter: backend.adapter } : {}) },
    versions: versions(),
    data: { spec: trainDs.spec, kind: trainDs.kind, fingerprint: fp, train: trainDs.size, test: testDs.size, numClasses: trainDs.numClasses, shape: inputs.shape },
    model: spec,
    params,
    loss: { name: config.loss, entry: loss.entry.name, source: loss.source, options: lossOptions },
    caches: caches.map(cacheRecord),
    /** --test-cache: the teacher the fidelity figures are measured against. */
    ...(testTeacher ? { testCache: cacheRecord(testTeacher) } : {}),
    views: plan,
    preprocess: inputs.preprocess,
    trainSamples: session.N,
    testSamples: testIdx ? testIdx.length : testDs.size,
    stepsPerEpoch: session.stepsPerEpoch,
    /** --grad-accum-steps: batches per epoch, when they are not the steps. */
    ...(session.batchesPerEpoch !== undefined ? { batchesPerEpoch: session.batchesPerEpoch } : {}),
    started: new Date(t0).toISOString(),
    /** Epochs already done when this session started (0 unless --resume). */
    resumedAfterEpoch: session.startEpoch,
    /** --checkpoint-every: batches of the next epoch already done when this session started (absent: none). */
    ...(session.startBatch > 0 ? { resumedAfterBatch: session.startBatch } : {}),
    /** Every session of the run so far, this one last (RunSession). */
    sessions: session.sessions,
    finished: null as string | null,
    seconds: null as number | null,
    /** sha256 of every checkpoint's weights when the session ended (what `tfkd repro` compares). */
    outputs: {} as Record<string, string>,
  };
}

/**
 * The metrics line whose average tested best (the first epoch wins a tie, as for the trained
 * weights): summary.json's ema_best_* and the epoch of best-ema/ (loop.ts). Null without --ema.
 */
export function emaBestLine(metrics: readonly EpochMetrics[]): EpochMetrics | null {
  let best: EpochMetrics | null = null;
  for (const m of metrics) if (m.ema_test_acc !== undefined && (best === null || m.ema_test_acc > best.ema_test_acc!)) best = m;
  return best;
}

/** The average's figures from the metrics lines. */
function emaSummary(metrics: EpochMetrics[]): Partial<Summary> {
  const last = metrics[metrics.length - 1];
  if (last?.ema_test_acc === undefined) return {};
  const best = emaBestLine(metrics)!;
  return { ema_final_test_acc: last.ema_test_acc, ...(last.ema_test_ece !== undefined ? { ema_final_test_ece: last.ema_test_ece } : {}), ema_best_test_acc: best.ema_test_acc, ema_best_epoch: best.epoch };
}

export function makeSummary(config: TrainConfig, metrics: EpochMetrics[], best: { acc: number; epoch: number }, backend: BackendInfo, params: number): Summary {
  const last = metrics[metrics.length - 1];
  return {
    final_test_acc: last ? last.test_acc : 0,
    ...(last?.test_ece !== undefined ? { final_test_ece: last.test_ece } : {}),
    ...(last?.test_agreement !== undefined ? { final_test_agreement: last.test_agreement, final_test_kl: last.test_kl } : {}),
    best_test_acc: best.acc >= 0 ? best.acc : 0,
    best_epoch: best.epoch,
    ...emaSummary(metrics),
    epochs: last ? last.epoch : 0,
    backend: backend.name,
    seed: config.seed,
    params,
    model: config.model,
    loss: config.loss,
  };
}
