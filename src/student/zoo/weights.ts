/**
 * Weights ↔ plain records keyed by layer-qualified names (`s2b1_conv1/kernel`,
 * `bn1/moving_mean`, …), including the non-trainable BN moving statistics. The trainer stores
 * these records in its checkpoints (safetensors); the names come from the zoo's explicit layer
 * names, so they are the same in every process.
 */
import { WorkError } from '../../errors.js';
import { tf } from '../tf.js';

interface WeightEntry {
  dtype: 'F32';
  shape: number[];
  data: Float32Array;
}
export type WeightRecord = Record<string, WeightEntry>;

type LayerVar = tf.LayersModel['weights'][number];

/** `layer/weight` for every weight of every layer, in layer order. */
export function namedWeights(model: tf.LayersModel): Array<[string, LayerVar]> {
  const out: Array<[string, LayerVar]> = [];
  const seen = new Set<string>();
  for (const layer of model.layers) {
    for (const w of layer.weights) {
      // originalName is `<layer>/<weight>` (e.g. `conv1/kernel`); keep only the weight's own part
      // and prefix the layer's name ourselves, so nested name scopes cannot leak in.
      const short = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
      const key = `${layer.name}/${short}`;
      if (seen.has(key)) throw new WorkError(`model ${model.name}: duplicate weight name ${key}`);
      seen.add(key);
      out.push([key, w]);
    }
  }
  return out;
}

/** Copies every weight (trainable and not) out of the model. */
export function saveWeights(model: tf.LayersModel): WeightRecord {
  const rec: WeightRecord = {};
  for (const [key, w] of namedWeights(model)) {
    const t = w.read();
    if (t.dtype !== 'float32') throw new WorkError(`weight ${key} has dtype ${t.dtype}; only float32 is supported`);
    rec[key] = { dtype: 'F32', shape: [...t.shape], data: Float32Array.from(t.dataSync() as Float32Array) };
  }
  return rec;
}

/**
 * How `record` fails to fit the named tensors (each must be there, F32, with its shape; nothing
 * else may be): one entry per problem, empty when it fits. loadWeights and the weight average's
 * load (student/ema.ts) both check with it.
 */
export function recordProblems(named: ReadonlyArray<readonly [string, { readonly shape: ReadonlyArray<number | null> }]>, record: WeightRecord): string[] {
  const problems: string[] = [];
  for (const [key, w] of named) {
    const e = record[key];
    if (!e) {
      problems.push(`missing ${key}`);
      continue;
    }
    const n = w.shape.reduce((a: number, d) => a * (d ?? 0), 1);
    if (e.dtype !== 'F32') problems.push(`${key}: dtype ${e.dtype}, expected F32`);
    else if (e.shape.length !== w.shape.length || e.shape.some((d, i) => d !== w.shape[i])) {
      problems.push(`${key}: shape [${e.shape}], expected [${w.shape}]`);
    } else if (e.data.length !== n) problems.push(`${key}: ${e.data.length} values, expected ${n}`);
  }
  const known = new Set(named.map(([k]) => k));
  for (const k of Object.keys(record)) if (!known.has(k)) problems.push(`unexpected ${k}`);
  return problems;
}

/**
 * Writes a record back into a model of the same architecture. Every model weight must be present
 * with the same shape and no record entry may be left over: a checkpoint that does not match its
 * model spec is refused as a whole (nothing is written).
 */
export function loadWeights(model: tf.LayersModel, record: WeightRecord): void {
  const named = namedWeights(model);
  const problems = recordProblems(named, record);
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; … ${problems.length - 5} more` : '');
    throw new WorkError(`weights do not match model ${model.name}: ${shown}`);
  }
  for (const [key, w] of named) {
    const e = record[key];
    const t = tf.tensor(e.data, e.shape, 'float32');
    w.write(t); // assign takes its own reference to t's data
    t.dispose();
  }
}
