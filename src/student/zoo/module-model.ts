/**
 * tfjs students from code (issue 19): `--model ./my-model.mjs` (a module whose default export, or
 * `createModel` export, is a factory) and, through the API, `train({ config: { model: factory } })`.
 *
 *   factory(inputShape: [H, W, C], numClasses: K, tf) → tf.LayersModel   (input NHWC pixels/255, output [N, K] logits)
 *
 * `tf` is tfkd's own tfjs instance: a module that imports '@tensorflow/tfjs' itself may get a second
 * copy (another node_modules) whose layers tfkd's engine does not know.
 *
 * The ModelSpec records the module's absolute path and sha256 (API factories: the sha256 of their
 * source text, as `code:<hash>`), so checkpoints, --resume, eval and export rebuild the same
 * model and refuse a module whose bytes changed. Modules load asynchronously: `prepareModelSpec`
 * loads one before the synchronous `buildFromSpec` needs it. Layers the user left unnamed get
 * process-global names from tfjs (`dense_Dense3`); they are renamed by position (`l2_dense`) so
 * checkpoint keys are the same in every process.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from '../../errors.js';
import { tf } from '../tf.js';
import type { BuildOptions, ModelSpec } from './common.js';

export type ModelFactory = (inputShape: [number, number, number], numClasses: number, tfjs: typeof tf) => tf.LayersModel;

interface Loaded {
  factory: ModelFactory;
  sha256: string;
}

const loaded = new Map<string, Loaded>();

const CODE_PREFIX = 'code:';
/** A model name that is a module path (not a zoo name, not onnx:). */
export const isModuleModelName = (name: string): boolean => /\.(mjs|js|cjs)$/.test(name) && !name.startsWith('onnx:');
export const isCodeModelName = (name: string): boolean => name.startsWith(CODE_PREFIX);

/** Registers an API factory; returns its name (`code:<sha256 of its source>`, what config.json records). */
export function registerModelFactory(factory: ModelFactory): string {
  if (typeof factory !== 'function') throw new UsageError('model: expected a zoo name, onnx:FILE, a module path or a factory function');
  const sha256 = crypto.createHash('sha256').update(factory.toString()).digest('hex');
  const name = `${CODE_PREFIX}${sha256.slice(0, 16)}`;
  loaded.set(name, { factory, sha256 });
  return name;
}

/** Imports `--model FILE` once; UsageError when it cannot be read or exports no factory. */
async function loadModelModule(file: string): Promise<Loaded & { file: string }> {
  const abs = path.resolve(file);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(abs);
  } catch (e) {
    throw new UsageError(`--model ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  const hit = loaded.get(abs);
  if (hit && hit.sha256 === sha256) return { ...hit, file: abs };
  let mod: Record<string, unknown>;
  try {
    // The query keeps a changed module from being served from the import cache.
    mod = (await import(`${pathToFileURL(abs).href}?sha256=${sha256}`)) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`--model ${file}: the module failed to load: ${(e as Error).message.split('\n')[0]}`);
  }
  const factory = [mod.default, mod.createModel, mod.model].find((f) => typeof f === 'function') as ModelFactory | undefined;
  if (!factory) throw new UsageError(`--model ${file}: the module exports no model factory`, 'export default (inputShape, numClasses, tf) => tf.LayersModel (or export function createModel)');
  const l = { factory, sha256 };
  loaded.set(abs, l);
  return { ...l, file: abs };
}

/** The spec of a module / API-factory student (the module must be loaded). */
export async function moduleModelSpec(name: string, o: BuildOptions): Promise<ModelSpec> {
  const base = { name, inputShape: o.inputShape, numClasses: o.numClasses, seed: o.seed };
  if (isCodeModelName(name)) {
    const l = loaded.get(name);
    if (!l) throw new UsageError(`model ${name}: a factory given to train() in another process; pass the same function again`);
    return { ...base, code: { sha256: l.sha256 } };
  }
  const l = await loadModelModule(name);
  return { ...base, name: path.basename(name), module: { file: l.file, sha256: l.sha256 } };
}

/** Loads what `buildFromSpec` will need for `spec` (module students), checking the sha256. */
export async function prepareModelSpec(spec: ModelSpec): Promise<void> {
  if (spec.module) {
    const l = await loadModelModule(spec.module.file);
    if (l.sha256 !== spec.module.sha256) throw new UsageError(`model ${spec.module.file} changed since the run (sha256 ${l.sha256.slice(0, 12)}…, the run has ${spec.module.sha256.slice(0, 12)}…)`, 'put the original module back at that path');
  }
}

const AUTO_NAME = /^(.*)_([A-Z][A-Za-z0-9]*?)(\d+)$/;

/** Builds a module / API-factory student; UsageError when the factory's model does not fit. */
export function buildModuleModel(spec: ModelSpec): tf.LayersModel {
  const key = spec.module ? path.resolve(spec.module.file) : spec.name;
  const l = loaded.get(key);
  if (!l) throw new UsageError(`model ${spec.name}: its module is not loaded (prepareModelSpec first)`);
  if (spec.code && l.sha256 !== spec.code.sha256) throw new UsageError(`model ${spec.name}: the factory's source changed`);
  const [H, W, C] = spec.inputShape;
  let model: tf.LayersModel;
  try {
    model = l.factory([H, W, C], spec.numClasses, tf);
  } catch (e) {
    throw new UsageError(`model ${spec.name}: the factory failed for ${H}x${W}x${C} inputs and K = ${spec.numClasses}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!(model instanceof tf.LayersModel)) throw new UsageError(`model ${spec.name}: the factory returned ${model === null ? 'null' : typeof model}, not a tf.LayersModel (build it with the tf it is given as third argument)`);
  const ins = model.inputs.map((i) => i.shape);
  const outs = model.outputs.map((o) => o.shape);
  if (ins.length !== 1 || ins[0].length !== 4 || ins[0][1] !== H || ins[0][2] !== W || ins[0][3] !== C) {
    model.dispose();
    throw new UsageError(`model ${spec.name}: input ${JSON.stringify(ins)}, expected one [null, ${H}, ${W}, ${C}] (NHWC)`);
  }
  if (outs.length !== 1 || outs[0].length !== 2 || outs[0][1] !== spec.numClasses) {
    model.dispose();
    throw new UsageError(`model ${spec.name}: output ${JSON.stringify(outs)}, expected one [null, ${spec.numClasses}] (logits)`);
  }
  // Position-based names for layers tfjs named (counters differ between processes).
  model.layers.forEach((layer, i) => {
    const m = AUTO_NAME.exec(layer.name);
    if ((m && m[2] === layer.getClassName()) || /^input\d*$/.test(layer.name)) (layer as { name: string }).name = `l${i}_${layer.getClassName().toLowerCase()}`;
  });
  return model;
}
