/**
 * A whole precompute from names — a teacher file and a data spec in, a cache directory and its
 * summary out: what `tfkd precompute` does and what the library's `precompute()` does. Below the
 * CLI so that both share one wiring (open data → cheap checks → open teacher → checks that need K
 * → fingerprint → precompute.ts), and the CLI only parses flags and prints.
 */
import { checkIntegerOptions, optionName, UsageError } from '../errors.js';
import { parseAugmentSpec } from '../data/augment.js';
import { fingerprint } from '../data/fingerprint.js';
import { openDataset } from '../data/open.js';
import { DATA_KINDS, DATA_SOURCES, parseDataSpec } from '../data/spec.js';
import { openTeacher } from '../teacher/session.js';
import { ORT_VERSION } from '../teacher/ort.js';
import type { Layout, PreprocessSpec } from '../teacher/types.js';
import type { TeacherDevice as Device } from '../catalog.js';
import type { PartialPreprocess } from '../teacher/preprocess.js';
import { CACHE_DTYPES, type CacheDtype } from '../catalog.js';
import { checkPrecomputeOptions, precompute, type PartSpec } from './precompute.js';
import type { SkippedSample } from './skip-journal.js';

/** Options of a precompute run; every field but teacher, data and out has a default. */
export interface PrecomputeRunOptions {
  /** The teacher: an ONNX image classifier's path. */
  teacher: string;
  /** Data spec: `fashion-mnist[:DIR]`, `folder:DIR`, `list:FILE`, `cifar10:DIR`, `synthetic:N:K:HxWxC[:seed]`, … */
  data: string;
  /** Split of the data. Default: 'train'. */
  split?: 'train' | 'test';
  /** Cache directory to create, or to resume when it holds an unfinished cache of the same key. */
  out: string;
  /** Execution device; 'auto' (default) tries cuda, webgpu, cpu in that order. */
  device?: Device;
  /** onnxruntime intra-op threads. Default: all cores. Not part of the cache key. */
  threads?: number;
  /**
   * onnxruntime sessions run side by side on the CPU, sharing `threads` (teacher/lanes.ts): 1
   * (default: on a quiet machine N sessions measured no faster, docs/PERFORMANCE.md), N, or 'auto'
   * (one per thread, at most 4 and 1 GiB of model copies). Not part of the cache key.
   */
  sessions?: number | 'auto';
  /** Rows per inference batch. Default: 256. */
  batch?: number;
  /** Stored logits: 'f32' (default) or 'f16'. */
  dtype?: CacheDtype;
  /** Store only the top k logits per row (+ the tail's log-mass) instead of all K. Default: all. */
  topk?: number | null;
  /** Rows per sample: view 0 un-augmented, views 1… augmented. Default: 1. */
  views?: number;
  /** Augmentation of views ≥ 1 (`crop:4,flip`, `rrc:0.08-1,flip`, …); needed when views > 1. */
  augment?: string;
  /** Seed of the view augmentation. Default: 0. */
  augmentSeed?: number;
  /** Compute only part I of N (contiguous samples): 'I/N', or 'auto' (from SLURM_ARRAY_TASK_ID/COUNT). */
  shard?: string;
  /** N parts, this process's I from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID. */
  shards?: number;
  /** Rows per shard file. Default: 8192. */
  shardRows?: number;
  /** The model's preprocessing when it does not record it: 'imagenet', 'timm:FILE', 'hf:FILE', a JSON string or file, or a spec object. */
  preprocess?: PreprocessSpec | PartialPreprocess | string;
  /** Teacher output (index or name) of each data class, for teachers with more classes than the data (JSON, a file, or `names`). */
  classMap?: string;
  /** Class names of the teacher's outputs (a file), for a class map by name. */
  teacherLabels?: string;
  /** Images that cannot be decoded get zero logits and are listed in the manifest, instead of stopping the run. Default: false. */
  skipBad?: boolean;
  /** Images decoded at once (folder:/list: data). Default: 8. */
  decoders?: number;
  /** Worker threads decoding and rendering image files beside inference (0: the main thread). Default: cores − 1, at most 4. */
  renderWorkers?: number;
  /** Refuse images with more pixels (decompression bombs). Default: PIL's limit, 178956970. */
  maxPixels?: number;
  /** Name of the logits output when the model has several 2-D outputs. */
  output?: string;
  /** Force the model's input layout. */
  layout?: Layout;
  /** Replace a cache of another key at `out`. Default: false. */
  force?: boolean;
  /**
   * The options the caller set on purpose (the CLI: the flags typed). One that would do nothing
   * with the rest is refused: `augmentSeed` without `augment`, `teacherLabels` without `classMap`,
   * `skipBad`, `decoders`, `renderWorkers`, `maxPixels` on data that is not image files (folder:,
   * list:, tar:). Default: the ones given with a value other than their default.
   */
  explicit?: ReadonlySet<string>;
  /** Told, once the teacher is open, what ran otherwise than asked (`sessions` beyond the threads, or on a GPU). */
  onInfo?: (line: string) => void;
  /** Called once the writer knows where it starts (state 'complete': nothing to do). */
  onStart?: (info: { state: string; startRow: number; rows: number }) => void;
  /** Called after each committed batch with (rows done, rows total). */
  onProgress?: (done: number, total: number) => void;
}

/** What a precompute run did (the CLI's `--json` output). */
export interface PrecomputeSummary {
  cache: string;
  state: 'fresh' | 'resumed' | 'complete';
  key: string;
  rows: number;
  computedRows: number;
  shards: number;
  K: number;
  dtype: CacheDtype;
  topk: number | null;
  views: number;
  part: PartSpec | null;
  skipped: SkippedSample[];
  classMap: unknown;
  provider: string;
  /** Why the preferred providers did not run (auto tries cuda, then webgpu, then cpu). */
  providerNotes: string[];
  threads: number | null;
  /** onnxruntime sessions that ran side by side, sharing the threads. */
  sessions: number;
  seconds: number;
  inferSeconds: number;
  rowsPerSecond: number | null;
  /** Peak resident memory of this process so far (MiB): flat in the data set's size (docs/PERFORMANCE.md). */
  peakRssMiB: number;
}

const envInt = (env: NodeJS.ProcessEnv, name: string): number | undefined => {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${name}=${JSON.stringify(v)} is not a non-negative integer`);
  return Number(v);
};

/**
 * Which part of the data this process covers:
 *   shard 'I/N'            explicit;
 *   shards N               I from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or
 *                          SLURM_ARRAY_TASK_ID (Slurm array): the index *is* the part, so one
 *                          index resubmitted alone (`sbatch --array=3 …`) computes part 3 of N;
 *   shard 'auto'           I and N from SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN and
 *                          SLURM_ARRAY_TASK_COUNT (a whole array, submitted at once).
 * Environment variables alone never shard a run: one of the options must ask for it.
 */
export function resolvePart(o: { shard?: string; shards?: number }, env: NodeJS.ProcessEnv = process.env): PartSpec | null {
  if (o.shard !== undefined && o.shards !== undefined) throw new UsageError(`give ${optionName('shard')} I/N or ${optionName('shards')} N, not both`);
  let part: PartSpec;
  if (o.shards !== undefined) {
    const k8s = envInt(env, 'JOB_COMPLETION_INDEX');
    const index = k8s ?? envInt(env, 'SLURM_ARRAY_TASK_ID');
    if (index === undefined) throw new UsageError(`${optionName('shards')} N needs JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array) in the environment`, `or pass ${optionName('shard')} I/N`);
    if (k8s === undefined && index >= o.shards) {
      throw new UsageError(`${optionName('shards')} ${o.shards} but SLURM_ARRAY_TASK_ID=${index}: the array indices are the parts 0…${o.shards - 1}`, `submit --array=0-${o.shards - 1} (or only the indices to run again)`);
    }
    part = { index, count: o.shards };
  } else if (o.shard === 'auto') {
    const id = envInt(env, 'SLURM_ARRAY_TASK_ID');
    const index = id === undefined ? undefined : id - (envInt(env, 'SLURM_ARRAY_TASK_MIN') ?? 0);
    const count = envInt(env, 'SLURM_ARRAY_TASK_COUNT');
    if (index === undefined || count === undefined) throw new UsageError(`${optionName('shard')} auto needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT`, `for Kubernetes use ${optionName('shards')} N (JOB_COMPLETION_INDEX)`);
    part = { index, count };
  } else if (o.shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(o.shard.trim());
    if (!m) throw new UsageError(`${optionName('shard')} ${JSON.stringify(o.shard)}: expected I/N (e.g. 0/4) or auto`);
    part = { index: Number(m[1]), count: Number(m[2]) };
  } else return null;
  if (!(part.count >= 1 && part.index >= 0 && part.index < part.count)) throw new UsageError(`shard ${part.index}/${part.count}: need 0 ≤ I < N`);
  return part;
}

/** Options that only image files read, with their defaults (undefined: none, or one that depends on the machine). */
const FILE_OPTIONS: Readonly<Record<string, unknown>> = { skipBad: false, decoders: 8, renderWorkers: undefined, maxPixels: undefined };

/** Which of `options` the caller set: named in `o.explicit`, else given with a value other than the default. */
function setOptions(o: PrecomputeRunOptions, options: Readonly<Record<string, unknown>>): string[] {
  const values = o as unknown as Record<string, unknown>;
  return Object.keys(options).filter((k) => (o.explicit ? o.explicit.has(k) : values[k] !== undefined && values[k] !== options[k]));
}

/**
 * Options that would do nothing with the others (exit 2, before anything is read or written): the
 * seed of views that are not drawn, teacher class names no class map reads, and the decoding
 * options of sources that have no image files to decode.
 */
function checkUnusedOptions(o: PrecomputeRunOptions): void {
  if (o.augment === undefined && setOptions(o, { augmentSeed: 0 }).length) {
    throw new UsageError(
      `${optionName('augmentSeed')} needs ${optionName('augment')} SPEC: it seeds the augmented views, and without ${optionName('augment')} there are none`,
      `e.g. ${optionName('views')} 4 ${optionName('augment')} crop:4,flip ${optionName('augmentSeed')} ${o.augmentSeed ?? 0}, or leave ${optionName('augmentSeed')} out`,
    );
  }
  if (o.classMap === undefined && setOptions(o, { teacherLabels: undefined }).length) {
    throw new UsageError(
      `${optionName('teacherLabels')} needs ${optionName('classMap')}: the teacher's class names are read only to map data classes to teacher outputs by name`,
      `e.g. ${optionName('classMap')} names, or leave ${optionName('teacherLabels')} out`,
    );
  }
  const fileOptions = setOptions(o, FILE_OPTIONS);
  if (fileOptions.length) {
    const kind = parseDataSpec(o.data).kind;
    if (DATA_SOURCES[kind].capabilities.size === 'fixed') {
      const files = DATA_KINDS.filter((k) => DATA_SOURCES[k].capabilities.size === 'variable').map((k) => `${k}:`).join('/');
      throw new UsageError(
        `${fileOptions.map(optionName).join(', ')} appl${fileOptions.length > 1 ? 'y' : 'ies'} to ${files} data (image files to decode); ${kind} data has none`,
        `leave ${fileOptions.length > 1 ? 'them' : 'it'} out`,
      );
    }
  }
}

/** What `sessions` became when fewer run side by side than asked (null: as asked, or 'auto'). */
function sessionsNote(asked: number | 'auto' | undefined, info: { provider: string; threads: number; sessions?: number }): string | null {
  const ran = info.sessions ?? 1;
  if (typeof asked !== 'number' || ran >= asked) return null;
  const runs = `${ran} session${ran > 1 ? 's run' : ' runs'}`;
  if (info.provider !== 'cpu') return `${optionName('sessions')} ${asked} on the ${info.provider} provider: ${runs} (sessions side by side are for the CPU)`;
  return `${optionName('sessions')} ${asked} with ${info.threads} thread${info.threads > 1 ? 's' : ''}: ${runs} (each session needs a thread of its own; raise ${optionName('threads')} for more)`;
}

/** Opens the teacher and the data, precomputes (or resumes, or finds complete) the cache at `o.out`. */
export async function runPrecompute(o: PrecomputeRunOptions, env: NodeJS.ProcessEnv = process.env): Promise<PrecomputeSummary> {
  // The library's edge (the CLI's schema checks the same flags before it gets here).
  checkIntegerOptions(o, { batch: 1, views: 1, augmentSeed: 0, shards: 1, shardRows: 1, threads: 1, decoders: 1, renderWorkers: 0, maxPixels: 1 });
  if (typeof o.sessions === 'number') checkIntegerOptions(o, { sessions: 1 });
  if (o.dtype !== undefined && !(CACHE_DTYPES as readonly string[]).includes(o.dtype)) throw new UsageError(`${optionName('dtype')} ${String(o.dtype)}: must be one of ${CACHE_DTYPES.join(', ')}`);
  checkUnusedOptions(o);
  const part = resolvePart(o, env);
  const augSpec = o.augment !== undefined ? parseAugmentSpec(o.augment) : null;
  const batch = o.batch ?? 256;
  const views = o.views ?? 1;
  const dataset = await openDataset(o.data, { split: o.split ?? 'train', concurrency: o.decoders, maxPixels: o.maxPixels });
  // Cheap option checks that do not need K, before the (slower) teacher session and fingerprint.
  checkPrecomputeOptions({ K: Infinity, N: dataset.size, topk: null, views, augment: augSpec, part, batch, data: dataset.spec });
  const teacher = await openTeacher(o.teacher, {
    device: o.device ?? 'auto',
    threads: o.threads,
    sessions: o.sessions ?? 1,
    output: o.output,
    layout: o.layout,
    preprocess: o.preprocess,
    classMap: o.classMap,
    teacherLabels: o.teacherLabels,
    data: { shape: dataset.shape, numClasses: dataset.numClasses, classNames: dataset.classNames, variableSize: dataset.variableSize },
  });
  try {
    const note = sessionsNote(o.sessions, teacher.info);
    if (note) o.onInfo?.(note);
    checkPrecomputeOptions({ K: teacher.info.numClasses, N: dataset.size, topk: o.topk ?? null, views, augment: augSpec, part, batch, data: dataset.spec });
    const res = await precompute({
      teacher,
      dataset,
      fingerprint: await fingerprint(dataset),
      out: o.out,
      dtype: o.dtype ?? 'f32',
      topk: o.topk ?? null,
      views,
      augment: augSpec ? { spec: augSpec, seed: o.augmentSeed ?? 0 } : null,
      part,
      batch,
      shardRows: o.shardRows ?? 8192,
      force: o.force,
      skipBad: o.skipBad,
      renderWorkers: o.renderWorkers,
      ortVersion: ORT_VERSION,
      onStart: o.onStart,
      onProgress: o.onProgress,
    });
    const m = res.manifest;
    return {
      cache: o.out,
      state: res.state,
      key: m.key,
      rows: m.rows,
      computedRows: res.computedRows,
      shards: m.shards.length,
      K: m.K,
      dtype: m.dtype,
      topk: m.topk,
      views: m.views,
      part: m.part,
      skipped: m.skipped ?? [],
      classMap: m.classMap ?? null,
      provider: teacher.info.provider,
      providerNotes: teacher.info.providerNotes,
      threads: teacher.info.threads,
      sessions: teacher.info.sessions ?? 1,
      seconds: Math.round(res.seconds * 1000) / 1000,
      inferSeconds: Math.round(res.inferSeconds * 1000) / 1000,
      rowsPerSecond: res.computedRows && res.seconds ? Math.round(res.computedRows / res.seconds) : null,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    await teacher.close();
  }
}
