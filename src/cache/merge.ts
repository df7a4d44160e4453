/**
 * `tfkd merge`: joins partial caches (`--shard I/N` runs of one base key) into one cache equal to a
 * single-process run. Rows are copied bit for bit (no float conversion) and re-sharded into the
 * standard shard size by the same writer a single run uses, so the shard files are byte-identical
 * to a single run's; the manifest differs only in `runtime`/`mergedFrom`.
 */
import { UsageError, optionName } from '../errors.js';
import { readManifest, type Manifest } from './manifest.js';
import { openCache } from './reader.js';
import { verifyStructure } from './verify.js';
import { CacheWriter, type CacheLayout } from './writer.js';

export interface MergeResult {
  manifest: Manifest;
  state: 'fresh' | 'resumed' | 'complete';
  parts: number;
}

/** Rows copied per read/append step (bounded memory whatever the cache size). */
const CHUNK_ROWS = 4096;

export function mergeCaches(inputs: string[], out: string, opts: { force?: boolean; onRows?: (n: number) => void } = {}): MergeResult {
  if (!inputs.length) throw new UsageError('merge needs at least one partial cache');
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
  // Every part must be intact before we copy from it.
  for (const { dir } of ordered) verifyStructure(dir, { throwOnFailure: true });

  const layout: CacheLayout = {
    key: first.baseKey,
    K: first.K,
    dtype: first.dtype,
    topk: first.topk,
    views: first.views,
    rowStart: 0,
    rows: first.N * first.views,
    shardRows: first.shardRows,
  };
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
  const { shards: _s, mergedFrom: _mf, ...rest } = first;
  const manifest = w.finish({
    ...rest,
    key: first.baseKey,
    rows: layout.rows,
    part: null,
    mergedFrom: ordered.map(({ m }) => ({ key: m.key, part: m.part!, runtime: m.runtime })),
  });
  return { manifest, state, parts: count };
}
