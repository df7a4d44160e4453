/**
 * `tfkd verify`: structural checks of a cache (every shard's sha256, header and tensors against the
 * manifest, every (sample, view) exactly once, finite values) and, given the teacher and the data,
 * a seeded spot check that recomputes rows and compares them with what is stored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkError, UsageError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { subset } from '../data/rng.js';
import type { Teacher } from '../teacher/types.js';
import { isLinked, linkedProblem, shardSlots, slotProblem } from './layout.js';
import { MANIFEST, manifestProblems, readManifest, SHARD_RE, type Manifest } from './manifest.js';
import { NOT_HASHED, scanShard } from './shard-check.js';
import type { PrecomputeOptions } from './precompute.js';
import { renderRows, rendersImages, rowPixels, teacherSide } from './render-rows.js';
import type { CacheReader } from './reader.js';

export interface StructureReport {
  ok: boolean;
  dir: string;
  key: string;
  rows: number;
  shards: number;
  /** Each names the file and, where it can, the row/sample/view. */
  problems: string[];
  /** Not failures: stray files next to the cache. */
  warnings: string[];
}

/** Structural verification; with `throwOnFailure` a WorkError names the first problems. */
export function verifyStructure(dir: string, opts: { throwOnFailure?: boolean } = {}): StructureReport {
  const m = readManifest(dir);
  const problems: string[] = manifestProblems(m).map((p) => `${MANIFEST}: ${p}`);
  const warnings: string[] = [];
  if (m.checksum === undefined) warnings.push(`${MANIFEST}: no checksum (written by tfkd 0.1.0): edits to fields outside the key (teacher.file, data.spec, runtime …) cannot be detected`);
  const V = m.views;
  const s0 = m.part ? m.part.sampleStart : 0;
  const s1 = m.part ? m.part.sampleEnd : m.N;
  if (m.rows !== (s1 - s0) * V) problems.push(`manifest: rows ${m.rows} ≠ samples [${s0}, ${s1}) × ${V} views`);
  if (m.data.N !== m.N) problems.push(`manifest: data.N ${m.data.N} ≠ N ${m.N}`);
  if (m.part && (m.part.sampleStart !== Math.floor((m.part.index * m.N) / m.part.count) || m.part.sampleEnd !== Math.floor(((m.part.index + 1) * m.N) / m.part.count))) {
    problems.push(`manifest: part ${m.part.index}/${m.part.count} should cover other samples than [${s0}, ${s1})`);
  }
  if (m.topk !== null && m.topk >= m.K) problems.push(`manifest: topk ${m.topk} ≥ K ${m.K}`);
  if (m.topk !== null && !m.tail) problems.push('manifest: a top-k cache of the first layout (no tail statistics): readers refuse it; precompute it again');
  const linked = isLinked(m);
  const linkBad = linkedProblem(m);
  if (linkBad) problems.push(`manifest: ${linkBad}`);
  const slots = shardSlots(m) ?? [];
  if (m.shards.length !== slots.length) problems.push(`manifest: ${m.shards.length} shards listed, ${m.rows} rows at ${m.shardRows} per shard need ${slots.length}`);
  for (const [i, s] of m.shards.entries()) {
    const slot = slots[i];
    if (!slot) break;
    const n = slot.rows;
    const g = slot.rowStart;
    const where = `${s.file} (rows ${g}–${g + n - 1})`;
    const bad = slotProblem(s, slot, i, linked);
    if (bad) problems.push(`manifest: ${bad}`);
    if (s.rowStart !== g || s.rows !== n) problems.push(`manifest: ${s.file} starts at row ${s.rowStart} with ${s.rows} rows, expected ${g} with ${n}`);
    const full = path.join(dir, s.file);
    if (!fs.existsSync(full)) {
      problems.push(`${where}: missing — samples ${Math.floor(g / V)}–${Math.floor((g + n - 1) / V)} have no rows`);
      continue;
    }
    const scan = scanShard(full, { ...m, key: slot.key }, slot.index, g, n);
    if (scan.sha256 !== s.sha256 && scan.sha256 !== NOT_HASHED) problems.push(`${where}: sha256 ${scan.sha256.slice(0, 16)}… ≠ manifest ${s.sha256.slice(0, 16)}… (file changed or corrupt)`);
    for (const p of scan.problems) problems.push(`${where}: ${p}`);
  }
  const listed = new Set(m.shards.map((s) => s.file));
  for (const f of fs.readdirSync(dir)) {
    if (SHARD_RE.test(f) && !listed.has(f)) warnings.push(`${f}: shard file not listed in the manifest (ignored)`);
    if (f.startsWith('.tmp-') || f === 'progress.jsonl') warnings.push(`${f}: leftover of an interrupted write (ignored)`);
  }
  const report: StructureReport = { ok: problems.length === 0, dir, key: m.key, rows: m.rows, shards: m.shards.length, problems, warnings };
  if (!report.ok && opts.throwOnFailure) {
    throw new WorkError(`cache ${dir} failed verification: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; … (${problems.length} problems)` : ''}`, 'run tfkd verify on it; re-run the precompute (--force) to rebuild it');
  }
  return report;
}

export interface RecomputeReport {
  ok: boolean;
  rowsChecked: number;
  maxAbsDiff: number;
  /** Largest diff relative to the tolerance (> 1 fails). */
  worstRatio: number;
  worst: { sample: number; view: number; class: number; cached: number; recomputed: number } | null;
  /** Mean KL(softmax(recomputed) ‖ softmax(cached)) in nats, τ = 1. */
  meanKL: number;
  tolerance: string;
}

/** Tolerance on a stored logit z: f32 1e-4 absolute; f16 its rounding (2^-10·|z|) plus 1e-4. */
function logitTolerance(dtype: 'f16' | 'f32', z: number): number {
  return dtype === 'f32' ? 1e-4 : 2 ** -10 * Math.abs(z) + 1e-4;
}

type RecomputeOptions = { sample: number; seed: number; fingerprint: string; augment: PrecomputeOptions['augment']; batch?: number };

/**
 * Recomputes `sample` rows chosen by a seeded draw (data/rng `subset`) and compares them with the
 * cache. The teacher must be the manifest's (sha256) with the manifest's preprocessing, and the data
 * must have its fingerprint — else UsageError, since the comparison would be meaningless.
 */
export async function verifyRecompute(reader: CacheReader, teacher: Teacher, dataset: Dataset, opts: RecomputeOptions): Promise<RecomputeReport> {
  const m = reader.manifest;
  refuseOtherSources(m, teacher, dataset, opts.fingerprint);
  const rows = pickRows(reader, opts.sample, opts.seed);
  const batch = opts.batch ?? 64;
  const cmp = new RowComparison(m);
  for (let b = 0; b < rows.length; b += batch) {
    const batchRows = rows.slice(b, b + batch);
    const fresh = await recomputeRows(teacher, dataset, batchRows, m.views, opts.augment);
    const samples = batchRows.map((g) => Math.floor(g / m.views));
    const views = batchRows.map((g) => g % m.views);
    const cached = reader.readLogits(samples, views);
    for (let i = 0; i < batchRows.length; i++) {
      cmp.compareRow(fresh.subarray(i * m.K, (i + 1) * m.K), cached.subarray(i * m.K, (i + 1) * m.K), samples[i], views[i]);
    }
  }
  return cmp.report(rows.length);
}

/** A different teacher or data set would make the comparison meaningless: exit 2. */
function refuseOtherSources(m: Manifest, teacher: Teacher, dataset: Dataset, fingerprint: string): void {
  if (teacher.info.sha256 !== m.teacher.sha256) throw new UsageError(`teacher ${teacher.info.file} (sha256 ${teacher.info.sha256.slice(0, 12)}…) is not the cache's (${m.teacher.file}, ${m.teacher.sha256.slice(0, 12)}…)`);
  if (fingerprint !== m.data.fingerprint || dataset.split !== m.data.split) {
    throw new UsageError(`data ${dataset.spec} (${dataset.split}) is not the cache's (${m.data.spec}, ${m.data.split}): fingerprints differ`);
  }
}

/** The global rows to check: a seeded draw of `sample` among the cache's rows, in row order. */
function pickRows(reader: CacheReader, sample: number, seed: number): number[] {
  const m = reader.manifest;
  const V = m.views;
  const r0 = reader.sampleStart * V;
  // Rows of samples precompute skipped (--skip-bad: zero logits) cannot be recomputed: left out.
  const skipped = new Set((m.skipped ?? []).map((e) => e.sample));
  const candidates = Int32Array.from({ length: m.rows }, (_, i) => i).filter((i) => !skipped.has(Math.floor((r0 + i) / V)));
  const count = Math.min(sample, candidates.length);
  return Array.from(subset(candidates.length, count, seed), (i) => r0 + candidates[i]);
}

/** The teacher's logits (n·K) for these rows, rendered as precompute rendered them. */
async function recomputeRows(teacher: Teacher, dataset: Dataset, rows: number[], V: number, augment: PrecomputeOptions['augment']): Promise<Float32Array> {
  const n = rows.length;
  if (rendersImages(dataset, augment)) {
    // Images of their own size, rendered for the teacher as precompute did (views.ts).
    const side = teacherSide(teacher);
    const [H, W] = side.size;
    const sb = H * W * (side.eval.mode === 'L' ? 1 : 3);
    const packed = augment?.spec.mix ? new Float32Array(n * sb) : new Uint8Array(n * sb);
    for (let i = 0; i < n; i++) packed.set(await renderRows(dataset, rows[i], 1, V, augment, side), i * sb);
    return teacher.runRendered(packed, n);
  }
  const sb = dataset.shape.height * dataset.shape.width * dataset.shape.channels;
  const pixels = new Uint8Array(n * sb);
  for (let i = 0; i < n; i++) pixels.set(await rowPixels(dataset, rows[i], 1, V, augment), i * sb);
  return teacher.run(pixels, n);
}

/** Row by row: the largest logit difference against its tolerance, the worst row, the summed KL. */
class RowComparison {
  private maxAbs = 0;
  private worstRatio = 0;
  private worst: RecomputeReport['worst'] = null;
  private klSum = 0;
  private readonly K: number;

  constructor(private readonly m: Pick<Manifest, 'K' | 'topk' | 'dtype'>) {
    this.K = m.K;
  }

  /** z: the recomputed row, c: the cached one (rebuilt for a top-k cache). */
  compareRow(z: Float32Array, c: Float32Array, sample: number, view: number): void {
    const kept = this.keptClasses(c);
    for (const j of kept) {
      const d = Math.abs(z[j] - c[j]);
      if (d > this.maxAbs) this.maxAbs = d;
      this.note(d / logitTolerance(this.m.dtype, z[j]), sample, view, j, c[j], z[j]);
    }
    if (this.m.topk !== null) this.checkTopkSet(z, c, kept, sample, view);
    this.klSum += Math.max(0, this.kl(z, c));
  }

  report(count: number): RecomputeReport {
    const tolerance = this.m.dtype === 'f32' ? '|Δ| ≤ 1e-4' : '|Δ| ≤ 2^-10·|z| + 1e-4';
    return { ok: this.worstRatio <= 1, rowsChecked: count, maxAbsDiff: this.maxAbs, worstRatio: this.worstRatio, worst: this.worst, meanKL: count ? this.klSum / count : 0, tolerance };
  }

  /** Which classes are stored: all, or the top-k (whose stored values must match). */
  private keptClasses(c: Float32Array): number[] {
    const kept: number[] = [];
    if (this.m.topk === null) for (let j = 0; j < this.K; j++) kept.push(j);
    else {
      const order = Array.from(c, (v, j) => [v, j]).sort((a, b2) => b2[0] - a[0] || a[1] - b2[1]);
      for (let j = 0; j < this.m.topk; j++) kept.push(order[j][1]);
    }
    return kept;
  }

  /** The kept set must really be the top k of the recomputed row: no other class above its least. */
  private checkTopkSet(z: Float32Array, c: Float32Array, kept: number[], sample: number, view: number): void {
    const keptSet = new Set(kept);
    const minKept = kept.reduce((a, j) => Math.min(a, z[j]), Infinity); // no spread: k can be large
    for (let j = 0; j < this.K; j++) {
      if (keptSet.has(j)) continue;
      const over = z[j] - minKept;
      this.note(over > 0 ? over / logitTolerance(this.m.dtype, z[j]) : 0, sample, view, j, c[j], z[j]);
    }
  }

  private note(ratio: number, sample: number, view: number, cls: number, cached: number, recomputed: number): void {
    if (!(ratio > this.worstRatio)) return; // a NaN ratio never counts as the worst
    this.worstRatio = ratio;
    this.worst = { sample, view, class: cls, cached, recomputed };
  }

  /** KL(p ‖ q) in float64, p = softmax(recomputed), q = softmax(cached or rebuilt top-k row). */
  private kl(z: Float32Array, c: Float32Array): number {
    const lp = this.logSoftmax(z);
    const lq = this.logSoftmax(c);
    let kl = 0;
    for (let j = 0; j < this.K; j++) {
      const p = Math.exp(lp[j]);
      if (p > 0) kl += p * (lp[j] - Math.max(lq[j], -1e4));
    }
    return kl;
  }

  private logSoftmax(a: ArrayLike<number>): Float64Array {
    const K = this.K;
    let mx = -Infinity;
    for (let j = 0; j < K; j++) mx = Math.max(mx, a[j]);
    let s = 0;
    for (let j = 0; j < K; j++) s += Math.exp(a[j] - mx);
    const ls = Math.log(s) + mx;
    return Float64Array.from({ length: K }, (_, j) => a[j] - ls);
  }
}
