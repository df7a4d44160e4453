/**
 * `tfkd merge`: joins partial caches (`--shard I/N` runs of one base key) into one cache equal to a
 * single-process run. Rows are copied bit for bit (no float conversion) and re-sharded into the
 * standard shard size by the same writer a single run uses, so the shard files are byte-identical
 * to a single run's; the manifest differs only in `runtime`/`mergedFrom`. With `link`, nothing is
 * copied: the manifest references the parts' shard files in place (relative paths, their sha256),
 * and readers and verify treat it as any cache (src/cache/layout.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, WorkError, optionName } from '../errors.js';
import { isLinked } from './layout.js';
import { assertManifestIntegrity, manifestExists, readManifest, shardFileName, writeManifest, type Manifest } from './manifest.js';
import { openCache } from './reader.js';
import { openSafetensors } from './safetensors.js';
import { shardHeaderProblems } from './shard-check.js';
import { verifyStructure } from './verify.js';
import { CacheWriter, type ManifestBase } from './writer.js';
import { type CacheLayout } from './rows.js';

export interface MergeResult {
  manifest: Manifest;
  state: 'fresh' | 'resumed' | 'complete';
  parts: number;
}

/** Rows copied per read/append step (bounded memory whatever the cache size). */
const CHUNK_ROWS = 4096;

export function mergeCaches(inputs: string[], out: string, opts: { force?: boolean; link?: boolean; onRows?: (n: number) => void } = {}): MergeResult {
  if (!inputs.length) throw new UsageError('merge needs at least one partial cache');
  assertOutNotAPart(inputs, out);
  // Parts not complete yet (no manifest: still running, failed, cancelled) are named together.
  const incomplete = inputs.filter((dir) => !manifestExists(dir));
  if (incomplete.length) {
    throw new UsageError(`${incomplete.length === 1 ? `${incomplete[0]} is` : `${incomplete.join(', ')} are`} not complete (no manifest.json): the merge needs every part`, 'run (or resubmit) the precompute of those parts; it resumes where it stopped');
  }
  const parts = inputs.map((dir) => ({ dir, m: readManifest(dir) }));
  const first = parts[0].m;
  for (const { dir, m } of parts) {
    if (!m.part) throw new UsageError(`${dir} is a whole cache, not a ${optionName('shard')} I/N part`, `merge joins the outputs of precompute ${optionName('shard')} I/N`);
    if (m.baseKey !== first.baseKey) throw new UsageError(`${dir} belongs to another cache (base key ${m.baseKey.slice(0, 12)}… ≠ ${first.baseKey.slice(0, 12)}…)`, 'all parts must come from the same teacher, data, split and options');
    if (m.part.count !== first.part!.count) throw new UsageError(`${dir} is part ${m.part.index}/${m.part.count} but ${parts[0].dir} is of ${first.part!.count}`);
  }
  const count = first.part!.count;
  const byIndex = new Map<number, (typeof parts)[number]>();
  for (const p of parts) {
    const prev = byIndex.get(p.m.part!.index);
    if (prev) throw new UsageError(`part ${p.m.part!.index}/${count} given twice: ${prev.dir} and ${p.dir}`);
    byIndex.set(p.m.part!.index, p);
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length) throw new UsageError(`parts ${missing.map((i) => `${i}/${count}`).join(', ')} missing: the merged cache must cover every sample exactly once`);
  const ordered = Array.from({ length: count }, (_, i) => byIndex.get(i)!);
  let next = 0;
  for (const { dir, m } of ordered) {
    if (m.part!.sampleStart !== next) throw new UsageError(`${dir} starts at sample ${m.part!.sampleStart}, expected ${next}`);
    next = m.part!.sampleEnd;
  }
  if (next !== first.N) throw new UsageError(`the parts cover samples [0, ${next}) of ${first.N}`);

  const layout: CacheLayout = {
    // The parts' row format: parts begun in tfkd-cache/1 merge into a tfkd-cache/1 cache, equal to
    // a single run of that format.
    schema: first.schema,
    key: first.baseKey,
    K: first.K,
    dtype: first.dtype,
    topk: first.topk,
    views: first.views,
    rowStart: 0,
    rows: first.N * first.views,
    shardRows: first.shardRows,
  };
  const { shards: _s, mergedFrom: _mf, skipped: _sk, ...rest } = first;
  // --skip-bad: every part's skipped samples (a single run lists them all, in sample order).
  const skipped = ordered.flatMap(({ m }) => m.skipped ?? []).sort((a, b) => a.sample - b.sample);
  const base = { ...rest, ...(skipped.length ? { skipped } : {}), key: first.baseKey, rows: layout.rows, part: null, mergedFrom: ordered.map(({ m }) => ({ key: m.key, part: m.part!, runtime: m.runtime })) };
  // Merged already (a job array's tasks may each try): say so before reading every part again.
  const done = alreadyMerged(out, first.baseKey, opts.force);
  if (done && isLinked(done) && !opts.link) {
    throw new UsageError(`${out} is a linked merge of these parts (${optionName('link')}): it references their shard files`, `pass ${optionName('force')} to replace it with a copy`);
  }
  if (done) return { manifest: done, state: 'complete', parts: count };
  if (opts.link) return linkParts(ordered, out, layout, base, opts.force);
  // Every part must be intact before we copy from it.
  for (const { dir } of ordered) verifyStructure(dir, { throwOnFailure: true });

  const w = CacheWriter.open(out, layout, { force: opts.force });
  if (w.state === 'complete') return { manifest: w.existing!, state: 'complete', parts: count };
  const state = w.state;
  for (const { dir, m } of ordered) {
    const r = openCache(dir);
    try {
      const end = m.part!.sampleEnd * m.views;
      let g = Math.max(m.part!.sampleStart * m.views, w.nextRow);
      while (g < end) {
        const n = Math.min(CHUNK_ROWS, end - g);
        w.append(r.readBlock(g, n));
        opts.onRows?.(n);
        g += n;
      }
    } finally {
      r.close();
    }
  }
  const manifest = w.finish(base);
  return { manifest, state, parts: count };
}

/** The complete cache with this key at `out` (through the writer, so its lock is respected), or null. */
/**
 * The output cannot be one of the parts: the writer (and --force) would clear the part's files
 * before they are read, and a --link manifest would reference files it replaces.
 */
function assertOutNotAPart(inputs: string[], out: string): void {
  const where = realPath(out);
  const same = inputs.find((dir) => realPath(dir) === where);
  if (same !== undefined) throw new UsageError(`${optionName('out')} ${out} is one of the parts being merged (${same})`, `merge into another directory; the parts stay as they are`);
}

/** The directory `dir` is (symbolic links resolved), or its absolute path when it does not exist yet. */
function realPath(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

function alreadyMerged(out: string, key: string, force?: boolean): Manifest | null {
  if (force || !manifestExists(out)) return null;
  let m: Manifest;
  try {
    m = readManifest(out);
  } catch {
    return null; // let the merge itself report (or --force replace) what is there
  }
  if (m.key !== key) return null;
  const shardRows = m.shardRows;
  const w = CacheWriter.open(out, { schema: m.schema, key, K: m.K, dtype: m.dtype, topk: m.topk, views: m.views, rowStart: 0, rows: m.rows, shardRows });
  if (w.state === 'complete') return w.existing;
  w.closeJournal();
  return null;
}

/**
 * `--link`: a manifest that lists every part's shard files in place, by paths relative to `out`
 * (src/cache/layout.ts), with the parts' sha256 unchanged — nothing is copied. Each part's manifest
 * and each shard's header are checked here (cheap); the shards' bytes are checked by their sha256
 * wherever they are read (the reader, before first use; `tfkd verify`), as in any cache, so a part
 * changed after the merge is caught there. Holds the writer's lock on `out` while it writes.
 */
function linkParts(ordered: Array<{ dir: string; m: Manifest }>, out: string, layout: CacheLayout, base: ManifestBase, force?: boolean): MergeResult {
  const shards: Manifest['shards'] = [];
  for (const [p, { dir, m }] of ordered.entries()) {
    assertManifestIntegrity(dir, m);
    for (const [j, s] of m.shards.entries()) {
      const file = path.join(dir, s.file);
      if (s.file !== shardFileName(j)) throw new UsageError(`${dir}: shard ${j} is ${s.file}: only parts written by precompute can be linked`);
      let problems: string[];
      try {
        const st = openSafetensors(file);
        try {
          problems = shardHeaderProblems(st, m, j, s.rowStart, s.rows);
        } finally {
          st.close();
        }
      } catch (e) {
        throw new WorkError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message}`, 'run tfkd verify on the part; re-run its precompute');
      }
      if (problems.length) throw new WorkError(`${file}: ${problems.slice(0, 3).join('; ')}`, 'run tfkd verify on the part; re-run its precompute');
      const rel = path.relative(path.resolve(out), path.resolve(file)).split(path.sep).join('/');
      shards.push({ file: rel, rows: s.rows, rowStart: s.rowStart, sha256: s.sha256, fromPart: p });
    }
  }
  const w = CacheWriter.open(out, layout, { force });
  if (w.state === 'complete') return { manifest: w.existing!, state: 'complete', parts: ordered.length };
  try {
    // What an interrupted copying merge left there is not part of a linked cache.
    CacheWriter.clean(out);
    const manifest = writeManifest(out, { ...base, shards } as Manifest);
    return { manifest, state: 'fresh', parts: ordered.length };
  } finally {
    w.closeJournal();
  }
}
