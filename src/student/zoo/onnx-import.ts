/**
 * `--model onnx:FILE`: an ONNX classifier imported as a trainable student (issue 19).
 *
 *   graph  = readOnnxGraph(FILE)           ops checked, weights read (onnx-graph.ts)
 *   layer  = OnnxGraphLayer(graph, …)      every float initializer a weight (onnx-layer.ts)
 *   model  = tf.model(input [H, W, C] → layer → logits [N, K])
 *
 * then one probe forward pass at the run's input size, so a graph that cannot take that size (a
 * fixed Reshape, a kernel larger than the feature map) or does not give [N, K] logits is one
 * UsageError before anything trains. The ModelSpec records the file, its sha256, the
 * normalisation and the frozen patterns: checkpoints, --resume, export and repro rebuild from it
 * and refuse a file whose bytes changed.
 *
 * Preprocessing (what the graph's input expects) comes from, in order: --preprocess (the
 * teacher's specs: imagenet, timm:FILE, hf:FILE, JSON), the graph's `tfkd.preprocess` metadata
 * (tfkd's own exports), else pixel/255. Only its per-pixel part (scale, mean, std, channel order)
 * applies: the student's input size and eval transform are the trainer's (--input-size,
 * --eval-crop-pct).
 */
import * as path from 'node:path';
import { UsageError, optionName } from '../../errors.js';
import { parsePreprocess, preprocessFromMetadata, type PartialPreprocess } from '../../teacher/preprocess.js';
import { tf } from '../tf.js';
import type { BuildOptions, ModelSpec, OnnxSpec } from './common.js';
import { readOnnxGraph, type OnnxGraph } from './onnx-graph.js';
import { OnnxGraphLayer, type Normalize } from './onnx-layer.js';

const ONNX_PREFIX = 'onnx:';
export const isOnnxModelName = (name: string): boolean => name.startsWith(ONNX_PREFIX);
const onnxFileOf = (name: string): string => name.slice(ONNX_PREFIX.length);

export interface OnnxStudentOptions {
  /** --preprocess (a spec string or object), else the graph's metadata, else pixel/255. */
  preprocess?: string | null;
  /** --freeze: patterns of initializer names kept fixed. */
  freeze?: string[];
  /** --allow-folded: train a graph whose BatchNorms were folded into its convolutions. */
  allowFolded?: boolean;
  /** --drop-path R: stochastic depth on the residual branches (onnx-fold.ts). */
  dropPath?: number;
  /** --distill-token: train a DeiT-distilled graph's two heads separately (onnx-distill.ts). */
  distillToken?: boolean;
}

/** Glob (`*`, `?`) over a whole weight name, or a prefix of it ending at a '.' (a module). */
function weightMatcher(pattern: string): (name: string) => boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}(\\..*)?$`);
  return (name) => re.test(name);
}

/**
 * The `names` that `patterns` (weightMatcher's) match, for the option `option` (--freeze,
 * --skip-decay): a pattern that matches none of them is refused, naming what it looked in (`where`).
 */
export function namesMatching(option: string, patterns: readonly string[], names: readonly string[], where: string): Set<string> {
  const out = new Set<string>();
  for (const p of patterns) {
    const m = weightMatcher(p);
    const hits = names.filter((n) => m(n));
    if (hits.length === 0) throw new UsageError(`${optionName(option)} ${p}: matches no ${where}`, `its weights are named like ${names.slice(0, 3).join(', ')}, …`);
    for (const n of hits) out.add(n);
  }
  return out;
}

/** The initializers --freeze keeps fixed. */
export function frozenSet(graph: OnnxGraph, patterns: readonly string[]): Set<string> {
  return namesMatching('freeze', patterns, graph.weights.map((w) => w.name), `weight of ${graph.file}`);
}

function normalizeOf(graph: OnnxGraph, channels: number, given: string | null | undefined): Normalize {
  let p: PartialPreprocess | undefined;
  if (given) p = parsePreprocess(given, optionName('preprocess'));
  else p = preprocessFromMetadata(graph.metadata, graph.file);
  if (p?.layout && p.layout !== 'NCHW') throw new UsageError(`${optionName('preprocess')}: layout ${p.layout}; an ONNX student's input is NCHW`);
  const order = p?.channels ?? (channels === 1 ? 'L' : 'RGB');
  const mean = p?.mean ?? new Array<number>(channels).fill(0);
  const std = p?.std ?? new Array<number>(channels).fill(1);
  if (mean.length !== channels || std.length !== channels) throw new UsageError(`${optionName('preprocess')}: mean/std have ${mean.length}/${std.length} values; the student is fed ${channels} channel(s)`);
  return { scale: p?.scale ?? 1 / 255, mean: [...mean], std: [...std], bgr: order === 'BGR' };
}

/** The checks and the spec for `onnx:FILE` at the run's input shape (reads the file). */
export function onnxModelSpec(name: string, o: BuildOptions, opts: OnnxStudentOptions): { spec: ModelSpec; graph: OnnxGraph } {
  const file = onnxFileOf(name);
  const graph = readOnnxGraph(file);
  const [H, W, C] = o.inputShape;
  const [, gc, gh, gw] = graph.inputShape;
  if (gc !== null && gc !== C) throw new UsageError(`${name}: the graph takes ${gc}-channel images, the data has ${C}`);
  if (graph.folded && !opts.allowFolded) {
    throw new UsageError(
      `${name}: the graph has no BatchNormalization (folded into its convolutions by torch.onnx.export's default), so it cannot train as PyTorch would`,
      `re-export with torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False) (docs/TRAINING.md), or pass ${optionName('allowFolded')} to train it as is`,
    );
  }
  const oc = graph.outputShape[1];
  if (oc !== null && oc !== undefined && oc !== o.numClasses) throw new UsageError(`${name}: the graph gives ${oc} logits, the data has K = ${o.numClasses} classes`, 'export the model with a head of K outputs');
  const onnx: OnnxSpec = {
    // Absolute: eval, export and repro of the run may start in another directory (the sha256 guards the bytes).
    file: path.resolve(file),
    sha256: graph.sha256,
    declaredSize: gh !== null && gw !== null ? [gh, gw] : null,
    normalize: normalizeOf(graph, C, opts.preprocess),
    freeze: [...(opts.freeze ?? [])],
    allowFolded: opts.allowFolded === true,
    // Only when on: the specs of every run before the option existed stay byte-identical.
    ...(opts.dropPath ? { dropPath: opts.dropPath } : {}),
    ...(opts.distillToken ? { distillToken: true } : {}),
  };
  frozenSet(graph, onnx.freeze);
  if (H < 1 || W < 1) throw new UsageError(`${name}: bad input size ${H}x${W}`);
  return { spec: { name, inputShape: [H, W, C], numClasses: o.numClasses, seed: o.seed, onnx }, graph };
}

/** Builds the student of an `onnx:` spec; `graph` when the caller already read it. */
export function buildOnnxModel(spec: ModelSpec, graph?: OnnxGraph): tf.LayersModel {
  const o = spec.onnx;
  if (!o) throw new UsageError(`model ${spec.name}: the spec has no onnx section`);
  const g = graph ?? readOnnxGraph(o.file);
  if (g.sha256 !== o.sha256) {
    throw new UsageError(`${spec.name}: the file changed since the run started (sha256 ${g.sha256.slice(0, 12)}…, the run has ${o.sha256.slice(0, 12)}…)`, 'put the original file back at that path');
  }
  const [H, W, C] = spec.inputShape;
  const layer = new OnnxGraphLayer({ name: 'onnx', graph: g, numClasses: spec.numClasses, normalize: o.normalize, frozen: frozenSet(g, o.freeze), seed: spec.seed, dropPath: o.dropPath, distillToken: o.distillToken });
  const input = tf.input({ shape: [H, W, C], name: 'image' });
  const output = layer.apply(input) as ReturnType<typeof tf.input>;
  const model = tf.model({ inputs: input, outputs: output, name: path.basename(o.file).replace(/[^A-Za-z0-9_.-]/g, '_') || 'onnx' });
  // The probe: one inference pass at the run's size.
  try {
    tf.tidy(() => {
      const y = model.apply(tf.zeros([1, H, W, C]), { training: false }) as tf.Tensor;
      if (y.rank !== 2 || y.shape[1] !== spec.numClasses) throw new UsageError(`${spec.name} gives [${y.shape}], not [N, ${spec.numClasses}] logits`);
    });
  } catch (e) {
    model.dispose();
    const msg = (e as Error).message.split('\n')[0];
    if (e instanceof UsageError && /gives|needs \[N, K\]/.test(msg)) throw e;
    throw new UsageError(`${spec.name} cannot take ${H}x${W} inputs: ${msg}`, `choose another ${optionName('inputSize')}${o.declaredSize ? ` (the graph was exported at ${o.declaredSize[0]}x${o.declaredSize[1]})` : ''}`);
  }
  return model;
}

/** The layer of an imported student (export writes its weights back into the graph). */
export function onnxLayerOf(model: tf.LayersModel): OnnxGraphLayer | null {
  const l = model.layers.find((x) => x instanceof OnnxGraphLayer);
  return (l as OnnxGraphLayer | undefined) ?? null;
}
