/**
 * The cache manifest (CACHE/manifest.json, written last: it is the commit record) and the cache key.
 * Its `schema` names the shards' row format: `tfkd-cache/2` (written today) or `tfkd-cache/1` (still
 * read, verified and merged; docs/CACHE.md "Formats", shard-check.ts shardSpec).
 *
 * Row order is sample-major: global row `g = sample · V + view` (V = views, view 0 un-augmented).
 * A partial cache (`--shard I/N`) covers the contiguous samples [sampleStart, sampleEnd) and so the
 * rows [sampleStart·V, sampleEnd·V); its shard files number from 0 and carry their global rowStart.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { readSmallFile } from '../util/regular-file.js';
import * as path from 'node:path';
import { z } from 'zod';
import { CACHE_DTYPES, type CacheDtype } from '../catalog.js';
import { formatZodError, optionName, UsageError, WorkError } from '../errors.js';
import { writeFileAtomic, type AtomicWriteHooks } from '../util/atomic.js';
import { TAIL_TEMPERATURES } from './topk.js';
import { canonicalJson } from '../util/canonical-json.js';

/** The first row format: explicit `sample`/`view` columns, I32 top-k classes, a `logsumexp` column. */
export const SCHEMA_V1 = 'tfkd-cache/1';
/** Today's row format, the one precompute starts: rows are implicit by position, U16 top-k classes. */
export const SCHEMA = 'tfkd-cache/2';
/** Every row format this version reads; a cache's format is part of its key. */
export const CACHE_SCHEMAS = Object.freeze([SCHEMA_V1, SCHEMA] as const);
export type CacheSchema = (typeof CACHE_SCHEMAS)[number];
export const MANIFEST = 'manifest.json';
export const DEFAULT_SHARD_ROWS = 8192;


export const shardFileName = (i: number): string => `shard-${String(i).padStart(5, '0')}.safetensors`;
export const SHARD_RE = /^shard-(\d{5,})\.safetensors$/;

const hwSchema = z.tuple([z.number().int().positive(), z.number().int().positive()]);
/** The resolved teacher preprocessing (teacher/types.ts PreprocessSpec). */
const preprocessSchema = z.strictObject({
  layout: z.enum(['NCHW', 'NHWC']),
  size: hwSchema,
  resize: z.union([z.number().int().positive(), hwSchema]).nullable(),
  crop: hwSchema.nullable(),
  cropRounding: z.enum(['round', 'floor']),
  interpolation: z.enum(['nearest', 'bilinear', 'bicubic', 'lanczos', 'box', 'hamming']),
  channels: z.enum(['RGB', 'BGR', 'L', 'as-is']),
  scale: z.number(),
  mean: z.array(z.number()),
  std: z.array(z.number()),
  source: z.string().optional(),
});

/** `--class-map`: the teacher outputs kept, in data-class order (teacher/class-map.ts). */
const classMapSchema = z.strictObject({
  teacherK: z.number().int().min(1),
  indices: z.array(z.number().int().min(0)),
  names: z.array(z.string()).optional(),
});

/** `--skip-bad`: samples that could not be decoded; their rows hold zero logits. */
const skippedSchema = z.array(z.strictObject({ sample: z.number().int().min(0), file: z.string(), reason: z.string() }));

const partSchema = z.strictObject({
  index: z.number().int().min(0),
  count: z.number().int().min(1),
  sampleStart: z.number().int().min(0),
  sampleEnd: z.number().int().min(0),
});

const runtimeSchema = z.strictObject({
  onnxruntime: z.string(),
  provider: z.string(),
  providerNotes: z.array(z.string()),
  threads: z.number().int(),
  /** The WebGPU adapter the teacher ran on (webgpu provider only): says whether it was a software one. */
  adapter: z
    .strictObject({ vendor: z.string(), architecture: z.string(), device: z.string(), description: z.string(), software: z.boolean(), source: z.enum(['dawn', 'icd']) })
    .nullable()
    .optional(),
});

export const manifestSchema = z.strictObject({
  schema: z.enum(CACHE_SCHEMAS),
  /** Key of this cache (includes `part` for partial caches) and of the whole cache it belongs to. */
  key: z.string().regex(/^[0-9a-f]{64}$/),
  baseKey: z.string().regex(/^[0-9a-f]{64}$/),
  /** Samples in the data set split (all of them, also for a partial cache). */
  N: z.number().int().min(0),
  K: z.number().int().min(1),
  /** Rows held by this cache: (sampleEnd − sampleStart) · views. */
  rows: z.number().int().min(0),
  dtype: z.enum(CACHE_DTYPES),
  /** null: full `logits` stored; k: only top-k indices/values + tail statistics (no `logits` tensor; shard-check.ts shardSpec). */
  topk: z.number().int().min(1).nullable(),
  /**
   * Top-k caches only: the temperatures of the stored tail statistics (src/cache/topk.ts). Absent
   * in top-k caches of the first layout (tfkd 0.1.0), which readers refuse.
   */
  tail: z.strictObject({ temperatures: z.array(z.number().positive()) }).optional(),
  views: z.number().int().min(1),
  augment: z.strictObject({ spec: z.string(), seed: z.number().int() }).nullable(),
  teacher: z.strictObject({
    file: z.string(),
    sha256: z.string(),
    inputName: z.string(),
    outputName: z.string(),
    inputDtype: z.string(),
    layout: z.enum(['NCHW', 'NHWC']),
    opset: z.number().int(),
  }),
  preprocess: preprocessSchema,
  classMap: classMapSchema.optional(),
  data: z.strictObject({ kind: z.string(), spec: z.string(), split: z.enum(['train', 'test']), fingerprint: z.string(), N: z.number().int() }),
  runtime: runtimeSchema,
  part: partSchema.nullable(),
  shardRows: z.number().int().min(1),
  /**
   * `file` is relative to the cache directory. `fromPart` only in a linked merge (`tfkd merge
   * --link`, src/cache/layout.ts): the file is that part's (its position in `mergedFrom`), in place.
   */
  shards: z.array(
    z.strictObject({
      file: z.string().min(1),
      rows: z.number().int().min(0),
      rowStart: z.number().int().min(0),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      fromPart: z.number().int().min(0).optional(),
    }),
  ),
  /** Set by `tfkd merge`: the parts it joined (their keys and runtimes). */
  skipped: skippedSchema.optional(),
  mergedFrom: z.array(z.strictObject({ key: z.string(), part: partSchema, runtime: runtimeSchema })).optional(),
  created_by: z.strictObject({ tfkd: z.string(), git: z.string().nullable() }),
  /**
   * sha256 of the canonical JSON of every other field (manifestChecksum): an edit to any field —
   * also those outside the key, like teacher.file or data.spec — is detected. Absent in caches
   * written by tfkd 0.1.0 (still read; verify warns).
   */
  checksum: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** Everything that determines the stored numbers — and nothing else (not provider, threads, batch). */
export interface KeyInput {
  teacher: { sha256: string; outputName: string };
  /** Classes (implied by the teacher; kept so that a key never collides across K). */
  K: number;
  preprocess: Manifest['preprocess'];
  /** The class map's teacher indices, when there is one (absent otherwise: older keys unchanged). */
  classMap?: number[];
  data: { fingerprint: string; split: string; N: number };
  views: number;
  augment: Manifest['augment'];
  dtype: CacheDtype;
  topk: number | null;
  shardRows: number;
}


export const sha256Hex = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('hex');

/**
 * The cache key: sha256 of the canonical JSON of what determines the logits and their layout on
 * disk. shardRows is included because it determines the shard files' bytes (a resume with a
 * different shard size must not mix layouts). `part` makes partial caches distinct; the base key
 * (part = null) is what `merge` output and a single run share.
 */
export function cacheKey(input: KeyInput, part: { index: number; count: number } | null, opts: { firstLayout?: boolean; schema?: CacheSchema } = {}): string {
  // Top-k caches of the current layout also store the tail statistics at TAIL_TEMPERATURES: part of
  // what is on disk, so part of the key (a top-k cache of the first layout, `firstLayout`, has the
  // key without them).
  const tail = input.topk !== null && !opts.firstLayout ? { tail: { temperatures: [...TAIL_TEMPERATURES] } } : {};
  // The row format too: the same numbers in another format are other bytes (and a resume must not
  // mix formats); a tfkd-cache/1 key is what that version computed.
  return sha256Hex(canonicalJson({ schema: opts.schema ?? SCHEMA, ...input, ...tail, part: part ? { index: part.index, count: part.count } : null }));
}

/** Contiguous sample range of part I of N: [floor(I·N_s/N), floor((I+1)·N_s/N)). */
export function partRange(index: number, count: number, N: number): { sampleStart: number; sampleEnd: number } {
  return { sampleStart: Math.floor((index * N) / count), sampleEnd: Math.floor(((index + 1) * N) / count) };
}

/**
 * Reads and validates CACHE/manifest.json. No manifest (or no directory): UsageError (exit 2, the
 * path is not a complete cache), as is a cache of a row format this version does not know (a newer
 * tfkd's). A manifest that is not JSON or not a tfkd-cache manifest: WorkError (exit 1, a corrupt
 * file), naming it and the problem.
 */
export function readManifest(dir: string): Manifest {
  const raw = readRawManifest(dir);
  const schema = schemaOf(raw);
  // Another program's manifest.json (or a tfkd run's) is the wrong directory, not a corrupt cache:
  // one short line, instead of every field the schema misses.
  if (!isCacheSchema(schema)) {
    const what = schema === 'tfkd-run/1' ? 'a tfkd training run' : typeof schema === 'string' ? `schema ${JSON.stringify(schema.slice(0, 40))}` : 'no "schema" field';
    throw new UsageError(`${dir} is not a tfkd cache: its ${MANIFEST} is not a ${SCHEMA} manifest (${what})`, 'pass a directory written by tfkd precompute or tfkd merge');
  }
  return validateManifest(dir, raw, schema);
}

/**
 * The cache manifest of `dir` when its manifest.json names a tfkd-cache schema (validated as
 * readManifest does); null when it has none, or one that is not JSON or names another schema (a
 * run's): for callers that accept several kinds of directory (tfkd eval).
 */
export function cacheManifestIn(dir: string): Manifest | null {
  let raw: unknown;
  try {
    raw = readRawManifest(dir);
  } catch {
    return null;
  }
  const schema = schemaOf(raw);
  return isCacheSchema(schema) ? validateManifest(dir, raw, schema) : null;
}

/** CACHE/manifest.json parsed as JSON; its errors as readManifest documents them. */
function readRawManifest(dir: string): unknown {
  const f = path.join(dir, MANIFEST);
  try {
    return JSON.parse(readSmallFile(f).toString('utf8')); // a regular file of sane size, or an error
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw new UsageError(`${dir} is not a complete tfkd cache (no ${MANIFEST})`, 'run tfkd precompute (again) to finish it');
    if (err.code === 'EISDIR' || (err.code === 'ENOTREG' && fs.statSync(f).isDirectory())) throw new UsageError(`${f} is a directory, not a tfkd manifest`);
    if (err.code === 'ENOTREG' || err.code === 'EFBIG') throw new WorkError(err.message);
    if (err.code) throw new WorkError(`${f}: cannot read (${err.code})`);
    throw new WorkError(`${f}: corrupt — not valid JSON (${err.message})`, 'run tfkd verify on the cache; re-run the precompute (--force) to rebuild it');
  }
}

const schemaOf = (raw: unknown): unknown => (raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as { schema?: unknown }).schema : undefined);

const isCacheSchema = (schema: unknown): schema is string => typeof schema === 'string' && schema.startsWith('tfkd-cache/');

/** A parsed tfkd-cache manifest: a row format this version reads, every field as the schema says. */
function validateManifest(dir: string, raw: unknown, schema: string): Manifest {
  const f = path.join(dir, MANIFEST);
  if (!(CACHE_SCHEMAS as readonly string[]).includes(schema)) {
    throw new UsageError(`${dir} is a ${JSON.stringify(schema.slice(0, 40))} cache: this tfkd reads ${CACHE_SCHEMAS.join(' and ')}`, 'read it with the tfkd that wrote it (a newer version), or precompute it again');
  }
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const issues = formatZodError(r.error).split('; ');
    const shown = issues.length > 3 ? `${issues.slice(0, 3).join('; ')}; … (${issues.length} problems)` : issues.join('; ');
    throw new WorkError(`${f}: corrupt or not a ${schema} manifest: ${shown}`, 'run tfkd verify on the cache; re-run the precompute (--force) to rebuild it');
  }
  return r.data;
}

export function manifestExists(dir: string): boolean {
  return fs.existsSync(path.join(dir, MANIFEST));
}

/**
 * Writes the manifest atomically (stable key order as constructed; 2-space JSON + newline), with its
 * `checksum` (re)computed last.
 */
export function writeManifest(dir: string, m: Manifest, hooks?: AtomicWriteHooks): Manifest {
  const { checksum: _old, ...rest } = m;
  const out: Manifest = { ...rest, checksum: manifestChecksum(rest) };
  manifestSchema.parse(out);
  writeFileAtomic(path.join(dir, MANIFEST), [Buffer.from(`${JSON.stringify(out, null, 2)}\n`)], hooks);
  return out;
}

/** tfkd version and git commit (null outside a git checkout) for `created_by`. */
export function createdBy(): Manifest['created_by'] {
  const root = new URL('../../', import.meta.url);
  let version = '0.0.0';
  try {
    version = (JSON.parse(fs.readFileSync(new URL('package.json', root), 'utf8')) as { version: string }).version;
  } catch {
    // keep the placeholder: the version is informative, never part of the key
  }
  return { tfkd: version, git: gitCommit(new URL('.git', root).pathname) };
}

/** Reads HEAD without spawning git (works in containers without git on PATH). */
function gitCommit(gitDir: string): string | null {
  try {
    const head = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const m = /^ref: (.+)$/.exec(head);
    if (!m) return null;
    const refFile = path.join(gitDir, m[1]);
    if (fs.existsSync(refFile)) return fs.readFileSync(refFile, 'utf8').trim();
    const packed = fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
    const line = packed.split('\n').find((l) => l.endsWith(` ${m[1]}`));
    return line ? line.split(' ')[0] : null;
  } catch {
    return null;
  }
}

// ---- integrity: the key and the checksum recomputed from a manifest's own fields ----------------

/** The fields of a manifest that the key covers (KeyInput), exactly as precompute keys them. */
export type KeyedFields = Pick<Manifest, 'teacher' | 'K' | 'preprocess' | 'classMap' | 'data' | 'views' | 'augment' | 'dtype' | 'topk' | 'shardRows'>;

/**
 * The key input of a manifest — the one derivation of "what determines the logits" from manifest
 * fields, used by the writer (to check what it commits), the reader and verify (to check what they
 * read).
 */
function keyInputOf(m: KeyedFields): KeyInput {
  return {
    teacher: { sha256: m.teacher.sha256, outputName: m.teacher.outputName },
    K: m.K,
    preprocess: m.preprocess,
    ...(m.classMap ? { classMap: m.classMap.indices } : {}),
    data: { fingerprint: m.data.fingerprint, split: m.data.split, N: m.data.N },
    views: m.views,
    augment: m.augment,
    dtype: m.dtype,
    topk: m.topk,
    shardRows: m.shardRows,
  };
}

/** The key and base key recomputed from a manifest's fields (`part` included in the key). */
export function manifestKeys(m: KeyedFields & Pick<Manifest, 'schema' | 'part' | 'tail'>): { key: string; baseKey: string } {
  const input = keyInputOf(m);
  const opts = { firstLayout: m.topk !== null && m.tail === undefined, schema: m.schema };
  return { key: cacheKey(input, m.part, opts), baseKey: cacheKey(input, null, opts) };
}

/** sha256 of the canonical JSON of a manifest without its `checksum` field. */
function manifestChecksum(m: Omit<Manifest, 'checksum'> | Manifest): string {
  const { checksum: _c, ...rest } = m as Manifest;
  return sha256Hex(canonicalJson(rest));
}

/**
 * What is inconsistent in a manifest, judged by its own fields: the recorded key and base key
 * against the ones recomputed from the keyed fields, and the checksum against the fields. Each
 * problem is one line naming what differs; [] when consistent.
 */
export function manifestProblems(m: Manifest): string[] {
  const problems: string[] = [];
  const { key, baseKey } = manifestKeys(m);
  const keyed = 'teacher.sha256/outputName, K, preprocess, classMap, data.fingerprint/split/N, views, augment, dtype, topk, shardRows, part';
  if (m.key !== key) problems.push(`key ${m.key.slice(0, 16)}… ≠ ${key.slice(0, 16)}… recomputed from its fields (one of ${keyed} was changed after the cache was written)`);
  if (m.baseKey !== baseKey) problems.push(`baseKey ${m.baseKey.slice(0, 16)}… ≠ ${baseKey.slice(0, 16)}… recomputed from its fields`);
  if (m.checksum !== undefined) {
    const c = manifestChecksum(m);
    if (c !== m.checksum) problems.push(`checksum ${m.checksum.slice(0, 16)}… ≠ ${c.slice(0, 16)}… of its fields (the manifest was edited after it was written)`);
  }
  return problems;
}

/** Throws WorkError (exit 1) naming CACHE/manifest.json and what differs when manifestProblems finds any. */
export function assertManifestIntegrity(dir: string, m: Manifest): void {
  const p = manifestProblems(m);
  if (p.length) {
    throw new WorkError(`${path.join(dir, MANIFEST)}: ${p.join('; ')}`, `the cache cannot be trusted: re-run the precompute (${optionName('force')}) to rebuild it, or restore the original manifest`);
  }
}
