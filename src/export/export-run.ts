/**
 * A run's checkpoint → an ONNX file, by names: what `tfkd export` and the library's `exportOnnx()`
 * do. The model records the student's preprocessing (pixel · 1/255, its eval transform when it was
 * trained on rendered images) and its layout, so precompute and eval use it with no options: a
 * student becomes a teacher. Written atomically (an interruption leaves neither the file nor a temp
 * copy); the result carries the file's sha256.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { optionName, UsageError } from '../errors.js';
import { writeFileAtomicAsync } from '../util/atomic.js';
import { faultPointAsync } from '../util/fault.js';
import { createdBy } from '../cache/manifest.js';
import { prepareOutDir } from '../util/out-dir.js';
import { selectBackend } from '../student/backend.js';
import { readCheckpoint, resolveCheckpointDir } from '../student/trainer/checkpoint.js';
import { checkCheckpointAgainstRun } from '../student/trainer/integrity.js';
import { readableDir, runOfCheckpoint } from '../student/trainer/run-dir.js';
import type { ModelSpec } from '../student/zoo/index.js';
import { readOnnxGraph } from '../student/zoo/onnx-graph.js';
import { prepareModelSpec } from '../student/zoo/index.js';
import type { PreprocessSpec } from '../teacher/types.js';
import { exportCheckpoint, MAX_OPSET, MIN_OPSET } from './index.js';
import { exportOnnxStudent } from './onnx-student.js';

export interface ExportRunOptions {
  /** The .onnx file to write. */
  out: string;
  /** best | best-ema | last | epoch-N | step-N. Default: 'best' ('best-ema' with `ema`, where the run has one). */
  checkpoint?: string;
  /** Export the checkpoint's average of the weights (runs trained with --ema). */
  ema?: boolean;
  /** Input layout of the ONNX model: 'NHWC' (as trained, default) or 'NCHW'. */
  layout?: 'NHWC' | 'NCHW';
  /** ONNX opset, MIN_OPSET–MAX_OPSET (13–17). Default: 13. */
  opset?: number;
}

export interface ExportRunResult {
  out: string;
  /** The checkpoint directory exported. */
  checkpoint: string;
  model: ModelSpec;
  epoch: number;
  test_acc: number | null;
  layout: 'NHWC' | 'NCHW';
  opset: number;
  /** The preprocessing recorded in the model. */
  preprocess: PreprocessSpec;
  bytes: number;
  sha256: string;
}

/** Exports the `checkpoint` of the run (or checkpoint directory) `run` to `o.out`. */
export async function exportRun(run: string, o: ExportRunOptions): Promise<ExportRunResult> {
  let layout = o.layout ?? 'NHWC';
  let opset = o.opset ?? MIN_OPSET;
  if (!o.out.endsWith('.onnx')) throw new UsageError(`${optionName('out')} ${o.out}: must end in .onnx`);
  if (!(Number.isInteger(opset) && opset >= MIN_OPSET && opset <= MAX_OPSET)) throw new UsageError(`${optionName('opset')} ${opset}: must be an integer in [${MIN_OPSET}, ${MAX_OPSET}]`);
  // A checkpoint directory given itself may be mid-swap (its `.old-` copy is read: checkpoint.ts).
  if (!fs.existsSync(run) && !(runOfCheckpoint(path.resolve(run)) !== null && readableDir(run) !== null)) throw new UsageError(`${run}: no such run directory`);
  const dir = resolveCheckpointDir(run, o.checkpoint, { ema: o.ema });
  const ck = readCheckpoint(dir, { ema: o.ema });
  checkCheckpointAgainstRun(dir);
  const { scale, mean, std, resize, crop, cropRounding, interpolation, channels } = ck.state.preprocess;
  // Students of images rendered to their size carry that eval transform (precompute and eval
  // of the exported model then render the same pixels).
  const render = resize !== null && resize !== undefined ? { resize, crop, cropRounding, interpolation, channels } : crop ? { resize: null, crop, cropRounding, interpolation, channels } : undefined;
  let bytes: Uint8Array;
  let pre: PreprocessSpec = ck.state.preprocess;
  if (ck.spec.onnx) {
    // An ONNX student goes back into its own graph: its layout (NCHW), opset and normalisation
    // (--layout / --opset apply to zoo students only: another value would be printed and not applied).
    const own = { layout: 'NCHW' as const, opset: readOnnxGraph(ck.spec.onnx.file).opset };
    for (const k of ['layout', 'opset'] as const) {
      if (o[k] !== undefined && o[k] !== own[k]) {
        throw new UsageError(`${optionName(k)} ${o[k]}: ${dir} is an ONNX student, exported into its own graph (${own.layout}, opset ${own.opset})`, `leave out ${optionName(k)}: it applies to the built-in models`);
      }
    }
    bytes = exportOnnxStudent(ck.spec, ck.weights, { render, producerVersion: createdBy().tfkd });
    ({ layout, opset } = own);
    const n = ck.spec.onnx.normalize;
    pre = { ...pre, scale: n.scale, mean: n.mean, std: n.std, ...(n.bgr ? { channels: 'BGR' as const } : {}) };
  } else {
    // Rebuilding the model needs a tfjs backend; the plain-JS one is enough to read weights out.
    await selectBackend('cpu');
    await prepareModelSpec(ck.spec);
    bytes = exportCheckpoint(ck.spec, ck.weights, { layout, preprocess: { scale, mean, std }, render, opset, producerVersion: createdBy().tfkd });
  }
  prepareOutDir(path.dirname(path.resolve(o.out)), `${optionName('out')} (its directory)`);
  if (fs.statSync(o.out, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${optionName('out')} ${o.out} is a directory, not an .onnx file path`);
  // Off the main thread: a signal during a large model's write and fsync is handled at once, and
  // its handler (src/cli/main.ts) removes the temp file, so an interrupted export leaves nothing.
  const sha256 = await writeFileAtomicAsync(o.out, [bytes], { beforeRename: () => faultPointAsync('export-tmp') });
  return {
    out: o.out,
    checkpoint: dir,
    model: ck.spec,
    epoch: ck.state.epoch,
    test_acc: o.ema ? (ck.state.ema_test_acc ?? null) : ck.state.test_acc,
    layout,
    opset,
    preprocess: { ...pre, layout },
    bytes: bytes.byteLength,
    sha256,
  };
}
