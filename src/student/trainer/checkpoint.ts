/**
 * Checkpoints, format `tfkd-checkpoint/1`: a directory written atomically (see run-dir.ts).
 *
 *   weights.safetensors    every model weight by layer-qualified name, BN moving statistics included
 *   model.json             the zoo ModelSpec (name, inputShape, numClasses, seed, widthMultiplier)
 *   optimizer.safetensors  the optimizer's slot tensors (momentum buffers, Adam moments), if any
 *   ema.safetensors        --ema: the average of the weights (student/ema.ts), named as weights.safetensors
 *   state.json             format, epoch/step counters, the optimizer's scalar state, the
 *                          preprocessing the model expects, its test accuracy, best-so-far
 *
 * Only our own formats: safetensors (readable with numpy in five lines) and JSON. The trainer
 * has no RNG state to store: every random choice derives from (seed, epoch, sample).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, WorkError, optionName } from '../../errors.js';
import { canonicalJson } from '../../util/canonical-json.js';
import { sha256File } from '../../util/hash.js';
import { openSafetensors, writeSafetensors, type TensorIn } from '../../cache/safetensors.js';
import type { PreprocessSpec } from '../../teacher/types.js';
import { downloadVariables, type tf } from '../tf.js';
import { buildFromSpec, loadWeights, saveWeights, type ModelSpec, type WeightRecord } from '../zoo/index.js';
import { dirIdentity, readableDir, readJson, runOfCheckpoint, writeDirAtomic } from './run-dir.js';
import { writeJsonAtomic } from '../../util/atomic.js';

const CHECKPOINT_FORMAT = 'tfkd-checkpoint/1';

/** Optimizer state as stored: JSON-able scalars plus named float32 slot tensors. */
export interface StoredOptimizerState {
  scalars: unknown;
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
}

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  /** Epochs completed (an epoch-N / last checkpoint taken at the end of epoch N has epoch = N). */
  epoch: number;
  /** Optimisation steps completed. */
  step: number;
  /**
   * --checkpoint-every: a last/ taken inside epoch `epoch + 1`, after this many of its batches;
   * absent at an epoch's end. --resume continues at the next batch.
   */
  batch?: number;
  /** With `batch`: the epoch's running training loss sum, correct count and samples so far. */
  epoch_totals?: { loss_sum: number; correct: number; seen: number };
  /** Test accuracy / loss of these weights (null when not evaluated). */
  test_acc: number | null;
  test_loss: number | null;
  /** --ema: test accuracy / loss of the average in ema.safetensors (absent without --ema). */
  ema_test_acc?: number | null;
  ema_test_loss?: number | null;
  /** Best test accuracy so far in the run and its epoch (for resume). */
  best_test_acc: number | null;
  best_epoch: number | null;
  /** What the model expects: input = pixel · scale, NHWC. Export records it in the ONNX metadata. */
  preprocess: PreprocessSpec;
  classNames?: readonly string[];
  /** The optimizer's scalar state (step counts …); its tensors are in optimizer.safetensors. */
  optimizer: unknown;
  /** Data set and loss this model was trained with (informational). */
  data: string;
  loss: string;
  /**
   * sha256 of the checkpoint's other files (weights.safetensors, model.json, optimizer.safetensors),
   * written with them in one atomic directory swap: readCheckpoint refuses a checkpoint whose files
   * changed afterwards. Absent in checkpoints of tfkd 0.1.0 (read without the check).
   */
  files?: Record<string, string>;
  /** sha256 of the canonical JSON of every other field of state.json (absent in tfkd 0.1.0's). */
  checksum?: string;
}

/** sha256 of the canonical JSON of a checkpoint state without its `checksum`. */
function stateChecksum(state: CheckpointState): string {
  const { checksum: _c, ...rest } = state;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

const F = {
  weights: 'weights.safetensors',
  model: 'model.json',
  optimizer: 'optimizer.safetensors',
  ema: 'ema.safetensors',
  state: 'state.json',
};

export async function saveCheckpoint(
  dir: string,
  model: tf.LayersModel,
  spec: ModelSpec,
  state: Omit<CheckpointState, 'format' | 'optimizer'>,
  optimizer: StoredOptimizerState | null,
  ema: WeightRecord | null = null,
): Promise<void> {
  await downloadVariables(); // webgpu: saveWeights reads synchronously (tf.ts)
  const weights = saveWeights(model);
  await writeDirAtomic(dir, (tmp) => {
    const files: Record<string, string> = {};
    files[F.weights] = writeSafetensors(path.join(tmp, F.weights), weights as Record<string, TensorIn>, { format: CHECKPOINT_FORMAT, model: spec.name });
    writeJsonAtomic(path.join(tmp, F.model), spec);
    files[F.model] = sha256File(path.join(tmp, F.model));
    if (optimizer) {
      const tensors: Record<string, TensorIn> = {};
      for (const [k, t] of Object.entries(optimizer.tensors)) tensors[k] = { dtype: 'F32', shape: t.shape, data: t.data };
      files[F.optimizer] = writeSafetensors(path.join(tmp, F.optimizer), tensors, { format: CHECKPOINT_FORMAT });
    }
    if (ema) files[F.ema] = writeSafetensors(path.join(tmp, F.ema), ema as Record<string, TensorIn>, { format: CHECKPOINT_FORMAT, model: spec.name, average: 'ema' });
    const full: CheckpointState = { format: CHECKPOINT_FORMAT, ...state, optimizer: optimizer?.scalars ?? null, files };
    writeJsonAtomic(path.join(tmp, F.state), { ...full, checksum: stateChecksum(full) });
  });
}

/**
 * The checkpoint's files against the sha256 its state.json recorded when it was written: WorkError
 * (exit 1) naming the file and both hashes on a mismatch or a missing file.
 */
function checkCheckpointFiles(dir: string, state: CheckpointState): void {
  if (state.checksum !== undefined && stateChecksum(state) !== state.checksum) {
    throw new WorkError(`${path.join(dir, F.state)} was edited after it was written: its checksum ${state.checksum.slice(0, 16)}… ≠ ${stateChecksum(state).slice(0, 16)}… of its fields`, 'the checkpoint cannot be trusted: restore it or train again');
  }
  for (const [name, sha] of Object.entries(state.files ?? {})) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) throw new WorkError(`${file} is missing (the checkpoint's state.json lists it)`, 'the checkpoint cannot be trusted: restore it or train again');
    const now = sha256File(file);
    if (now !== sha) {
      throw new WorkError(
        `${file} changed after it was written: sha256 ${now.slice(0, 16)}…, ${path.join(dir, F.state)} recorded ${sha.slice(0, 16)}… (one of the two files was changed or replaced)`,
        'the checkpoint cannot be trusted: restore it or train again',
      );
    }
  }
}

export interface LoadedCheckpoint {
  dir: string;
  spec: ModelSpec;
  state: CheckpointState;
  /** The model's weights — the average's with `{ ema: true }`. */
  weights: WeightRecord;
  optimizer: StoredOptimizerState | null;
  /** ema.safetensors (--ema runs), else null. */
  ema: WeightRecord | null;
}

function readRecord(file: string): Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> {
  const st = openSafetensors(file);
  try {
    const rec: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const [name, e] of Object.entries(st.tensors)) {
      if (e.dtype !== 'F32') throw new UsageError(`${file}: tensor ${name} is ${e.dtype}, expected F32`);
      rec[name] = { dtype: 'F32', shape: e.shape, data: st.readTensor(name) as Float32Array };
    }
    return rec;
  } finally {
    st.close();
  }
}

/** Reads of a checkpoint that a concurrent swap may spoil before one is taken as it is (see readCheckpoint). */
const READ_TRIES = 5;

/**
 * Reads a checkpoint directory; UsageError when it is missing or not a tfkd checkpoint. With
 * `ema`, `weights` are the average's (eval / export --ema): UsageError when the run kept none.
 *
 * Read-only: `eval` and `export` read runs that a trainer may be writing (they take no lock), or
 * that they cannot write at all, so nothing here renames or removes. Where the trainer is between
 * the two renames of its swap (or was killed there), `dir` is missing and its `.old-` copy is the
 * complete previous checkpoint: that is read (run-dir.ts readableDir; the trainer, under its
 * lock, restores it). A swap during the read (the files would be two checkpoints', or vanish) is
 * seen by the directory's identity changing: the read is done again, on what is there then.
 * `dir` in the result is the checkpoint's own name (`…/best`), not the `.old-` it was read from.
 */
export function readCheckpoint(dir: string, o: { ema?: boolean } = {}): LoadedCheckpoint {
  for (let attempt = 1; ; attempt++) {
    const src = readableDir(dir);
    const before = src === null ? null : dirIdentity(src);
    // The same directory, unchanged, from before the read to after it (null: there was none, or it went).
    const stable = (): boolean => src !== null && before !== null && dirIdentity(src) === before;
    let ck: LoadedCheckpoint;
    try {
      ck = readCheckpointAt(src ?? dir, o);
    } catch (e) {
      // Damage (or no checkpoint at all) stays the same when read again; a swap meanwhile does not.
      if (attempt >= READ_TRIES || src === null || stable()) throw e;
      continue;
    }
    if (stable()) return { ...ck, dir };
    if (attempt >= READ_TRIES) throw new WorkError(`${dir}: the checkpoint was replaced ${READ_TRIES} times while it was read`, 'run the command again (or once the training run writing it has stopped)');
  }
}

function readCheckpointAt(dir: string, o: { ema?: boolean }): LoadedCheckpoint {
  const stateFile = path.join(dir, F.state);
  if (!fs.existsSync(stateFile)) {
    // A directory with the other files of a checkpoint lost its state.json: damage, not bad usage.
    if ([F.weights, F.model, F.optimizer].some((f) => fs.existsSync(path.join(dir, f)))) throw new WorkError(`${stateFile} is missing: the checkpoint is damaged`, 'restore it or train again');
    throw new UsageError(`${dir} is not a tfkd checkpoint (no ${F.state})`);
  }
  let state: CheckpointState;
  try {
    state = readJson<CheckpointState>(stateFile);
  } catch (e) {
    throw new WorkError(`${stateFile}: corrupt — not valid JSON (${(e as Error).message})`, 'the checkpoint cannot be trusted: restore it or train again');
  }
  if (!state || typeof state !== 'object') throw new WorkError(`${stateFile}: corrupt — not a checkpoint state`);
  checkCheckpointFiles(dir, state);
  if (state.format !== CHECKPOINT_FORMAT) throw new UsageError(`${stateFile}: checkpoint format ${String(state.format)}, expected ${CHECKPOINT_FORMAT}`);
  const spec = readJson<ModelSpec>(path.join(dir, F.model));
  const optFile = path.join(dir, F.optimizer);
  const optimizer = fs.existsSync(optFile)
    ? { scalars: state.optimizer, tensors: Object.fromEntries(Object.entries(readRecord(optFile)).map(([k, v]) => [k, { shape: v.shape, data: v.data }])) }
    : null;
  const emaFile = path.join(dir, F.ema);
  const ema = fs.existsSync(emaFile) ? readRecord(emaFile) : null;
  if (o.ema && !ema) throw new UsageError(`${optionName('ema')}: ${dir} holds no average of the weights`, `the run was trained without ${optionName('ema')} DECAY`);
  // With `ema` the trained weights are not read at all (their sha256 was checked above).
  return { dir, spec, state, weights: o.ema ? ema! : readRecord(path.join(dir, F.weights)), optimizer, ema };
}

/** Builds the model of a checkpoint and loads its weights. */
export function loadCheckpointModel(ck: LoadedCheckpoint): tf.LayersModel {
  const model = buildFromSpec(ck.spec);
  loadWeights(model, ck.weights);
  return model;
}

/**
 * Resolves `--checkpoint best|best-ema|last|epoch-N|step-N` (or a checkpoint directory) inside a run
 * directory (unnamed: best, or best-ema for `--ema`); UsageError listing what exists when it is not there.
 * A checkpoint directory is itself: `asked` then names no other (UsageError unless it is its own name).
 */
export function resolveCheckpointDir(run: string, asked?: string, o: { ema?: boolean } = {}): string {
  // A checkpoint directory given itself (`RUN/checkpoints/best`), also while a swap has it as `.old-best`.
  const self = fs.existsSync(path.join(run, F.state)) || (runOfCheckpoint(path.resolve(run)) !== null && checkpointState(run) === 'ok');
  if (self) {
    if (asked !== undefined && asked !== path.basename(path.resolve(run))) {
      const owner = runOfCheckpoint(run) ?? runOfCheckpoint(path.resolve(run));
      throw new UsageError(
        `${optionName('checkpoint')} picks a checkpoint of a run directory; ${run} is already one`,
        owner ? `leave out ${optionName('checkpoint')}, or give the run directory ${owner} with ${optionName('checkpoint')} ${asked}` : `leave out ${optionName('checkpoint')}`,
      );
    }
    return run;
  }
  const root = path.join(run, 'checkpoints');
  if (!fs.existsSync(root)) throw new UsageError(`${run} is not a tfkd run directory (no checkpoints/)`);
  // Unnamed: best/; asking for the average, the epoch whose average tested best (best-ema/, which
  // runs trained before tfkd kept it lack: their best/ then, as before).
  const which = asked ?? (o.ema && readableDir(path.join(root, 'best-ema')) !== null ? 'best-ema' : 'best');
  if (!/^(best|best-ema|last|epoch-\d+|step-\d+)$/.test(which)) throw new UsageError(`${optionName('checkpoint')}: expected best, best-ema, last, epoch-N or step-N, got '${which}'`);
  const dir = path.join(root, which);
  // Read-only (readCheckpoint): mid-swap, `.old-NAME` stands for NAME. Nothing is renamed here.
  const state = checkpointState(dir);
  if (state === 'damaged') throw new WorkError(`${path.join(dir, F.state)} is missing: the checkpoint is damaged`, 'restore it or train again');
  if (state === null) {
    const have = [
      ...new Set(
        fs
          .readdirSync(root)
          .map((d) => (d.startsWith('.old-') ? d.slice('.old-'.length) : d))
          .filter((d) => !d.startsWith('.') && checkpointState(path.join(root, d)) === 'ok'),
      ),
    ].sort();
    throw new UsageError(`${run}: no checkpoint '${which}'`, have.length ? `available: ${have.join(', ')}` : 'the run has no checkpoints yet');
  }
  return dir;
}

/**
 * Whether the checkpoint `dir` is there to read (in `dir`, or mid-swap in its `.old-` copy): 'ok';
 * a directory without state.json: 'damaged'; none: null. A swap that removes the `.old-` copy
 * while it is looked at is looked at again, once it has made `dir`.
 */
function checkpointState(dir: string): 'ok' | 'damaged' | null {
  for (let attempt = 1; ; attempt++) {
    const src = readableDir(dir);
    if (src === null) return null;
    const before = dirIdentity(src);
    if (fs.existsSync(path.join(src, F.state))) return 'ok';
    if (attempt >= READ_TRIES || (before !== null && dirIdentity(src) === before)) return 'damaged';
  }
}
