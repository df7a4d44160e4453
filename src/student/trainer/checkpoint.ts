/**
 * Checkpoints, format `tfkd-checkpoint/1`: a directory written atomically (see run-dir.ts).
 *
 *   weights.safetensors    every model weight by layer-qualified name, BN moving statistics included
 *   model.json             the zoo ModelSpec (name, inputShape, numClasses, seed, widthMultiplier)
 *   optimizer.safetensors  the optimizer's slot tensors (momentum buffers, Adam moments), if any
 *   state.json             format, epoch/step counters, the optimizer's scalar state, the
 *                          preprocessing the model expects, its test accuracy, best-so-far
 *
 * Only our own formats: safetensors (readable with numpy in five lines) and JSON. The trainer
 * has no RNG state to store: every random choice derives from (seed, epoch, sample).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../errors.js';
import { openSafetensors, writeSafetensors, type TensorIn } from '../../cache/safetensors.js';
import type { PreprocessSpec } from '../../teacher/types.js';
import type { tf } from '../tf.js';
import { buildFromSpec, loadWeights, saveWeights, type ModelSpec, type WeightRecord } from '../zoo/index.js';
import { readJson, recoverDir, writeDirAtomic, writeJsonAtomic } from './run-dir.js';

export const CHECKPOINT_FORMAT = 'tfkd-checkpoint/1';

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
  /** Test accuracy / loss of these weights (null when not evaluated). */
  test_acc: number | null;
  test_loss: number | null;
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
}

const F = {
  weights: 'weights.safetensors',
  model: 'model.json',
  optimizer: 'optimizer.safetensors',
  state: 'state.json',
};

export async function saveCheckpoint(
  dir: string,
  model: tf.LayersModel,
  spec: ModelSpec,
  state: Omit<CheckpointState, 'format' | 'optimizer'>,
  optimizer: StoredOptimizerState | null,
): Promise<void> {
  const weights = saveWeights(model);
  await writeDirAtomic(dir, (tmp) => {
    writeSafetensors(path.join(tmp, F.weights), weights as Record<string, TensorIn>, { format: CHECKPOINT_FORMAT, model: spec.name });
    writeJsonAtomic(path.join(tmp, F.model), spec);
    if (optimizer) {
      const tensors: Record<string, TensorIn> = {};
      for (const [k, t] of Object.entries(optimizer.tensors)) tensors[k] = { dtype: 'F32', shape: t.shape, data: t.data };
      writeSafetensors(path.join(tmp, F.optimizer), tensors, { format: CHECKPOINT_FORMAT });
    }
    const full: CheckpointState = { format: CHECKPOINT_FORMAT, ...state, optimizer: optimizer?.scalars ?? null };
    writeJsonAtomic(path.join(tmp, F.state), full);
  });
}

export interface LoadedCheckpoint {
  dir: string;
  spec: ModelSpec;
  state: CheckpointState;
  weights: WeightRecord;
  optimizer: StoredOptimizerState | null;
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

/** Reads a checkpoint directory; UsageError when it is missing or not a tfkd checkpoint. */
export function readCheckpoint(dir: string): LoadedCheckpoint {
  recoverDir(dir);
  const stateFile = path.join(dir, F.state);
  if (!fs.existsSync(stateFile)) throw new UsageError(`${dir} is not a tfkd checkpoint (no ${F.state})`);
  const state = readJson<CheckpointState>(stateFile);
  if (state.format !== CHECKPOINT_FORMAT) throw new UsageError(`${dir}: checkpoint format ${String(state.format)}, expected ${CHECKPOINT_FORMAT}`);
  const spec = readJson<ModelSpec>(path.join(dir, F.model));
  const weights = readRecord(path.join(dir, F.weights));
  const optFile = path.join(dir, F.optimizer);
  const optimizer = fs.existsSync(optFile)
    ? { scalars: state.optimizer, tensors: Object.fromEntries(Object.entries(readRecord(optFile)).map(([k, v]) => [k, { shape: v.shape, data: v.data }])) }
    : null;
  return { dir, spec, state, weights, optimizer };
}

/** Builds the model of a checkpoint and loads its weights. */
export function loadCheckpointModel(ck: LoadedCheckpoint): tf.LayersModel {
  const model = buildFromSpec(ck.spec);
  loadWeights(model, ck.weights);
  return model;
}

/**
 * Resolves `--checkpoint best|last|epoch-N|step-N` (or a checkpoint directory) inside a run
 * directory; UsageError listing what exists when it is not there.
 */
export function resolveCheckpointDir(run: string, which = 'best'): string {
  if (fs.existsSync(path.join(run, F.state))) return run; // a checkpoint directory itself
  const root = path.join(run, 'checkpoints');
  if (!fs.existsSync(root)) throw new UsageError(`${run} is not a tfkd run directory (no checkpoints/)`);
  if (!/^(best|last|epoch-\d+|step-\d+)$/.test(which)) throw new UsageError(`--checkpoint: expected best, last, epoch-N or step-N, got '${which}'`);
  const dir = path.join(root, which);
  recoverDir(dir);
  if (!fs.existsSync(path.join(dir, F.state))) {
    const have = fs
      .readdirSync(root)
      .filter((d) => !d.startsWith('.') && fs.existsSync(path.join(root, d, F.state)))
      .sort();
    throw new UsageError(`${run}: no checkpoint '${which}'`, have.length ? `available: ${have.join(', ')}` : 'the run has no checkpoints yet');
  }
  return dir;
}
