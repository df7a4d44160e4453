/**
 * Which shard files a manifest must list, and where each global row lives — one definition for the
 * reader, `tfkd verify` and `tfkd merge --link`.
 *
 * A cache written by precompute or a copying merge lists `shard-00000.safetensors` … in its own
 * directory, `shardRows` rows each (the last fewer). A *linked* merge (`tfkd merge --link`) lists
 * the parts' own shard files in place, by paths relative to the merged cache's directory: each
 * entry carries `fromPart` (its part's position in `mergedFrom`), and the file's header names that
 * part's key and its index inside the part, exactly as the part wrote it. So its shards are the
 * parts' runs of `shardRows` rows, each part's last one shorter.
 */
import * as path from 'node:path';
import { shardFileName, type Manifest } from './manifest.js';

/** What shard `i` of a manifest must be: its file's name (in its directory), header key and index, rows. */
export interface ShardSlot {
  /** The file's base name: `shard-NNNNN.safetensors` with the index inside its own cache. */
  name: string;
  /** The key its header carries (the cache's own, or the part's for a linked merge). */
  key: string;
  /** Its index inside the cache that wrote it. */
  index: number;
  rowStart: number;
  rows: number;
  /** Linked merges: the part (position in `mergedFrom`) the file belongs to. */
  fromPart?: number;
}

export type LayoutInput = Pick<Manifest, 'key' | 'N' | 'views' | 'shardRows' | 'part' | 'mergedFrom'> & { shards: ReadonlyArray<{ fromPart?: number }> };

/** True when the manifest lists the parts' shard files in place (written by `tfkd merge --link`). */
export function isLinked(m: LayoutInput): boolean {
  return m.shards.some((s) => s.fromPart !== undefined);
}

/**
 * The shard slots the manifest's own fields call for, in row order. A linked manifest's slots come
 * from `mergedFrom` (every part's rows in runs of `shardRows`); any other manifest's from its row
 * range. Null when a linked manifest has no `mergedFrom` to derive them from.
 */
export function shardSlots(m: LayoutInput): ShardSlot[] | null {
  const V = m.views;
  const R = m.shardRows;
  const runs: Array<{ key: string; start: number; end: number; fromPart?: number }> = [];
  if (isLinked(m)) {
    if (!m.mergedFrom?.length) return null;
    for (const [p, from] of m.mergedFrom.entries()) runs.push({ key: from.key, start: from.part.sampleStart * V, end: from.part.sampleEnd * V, fromPart: p });
  } else {
    const s0 = m.part ? m.part.sampleStart : 0;
    const s1 = m.part ? m.part.sampleEnd : m.N;
    runs.push({ key: m.key, start: s0 * V, end: s1 * V });
  }
  const slots: ShardSlot[] = [];
  for (const run of runs) {
    for (let j = 0; run.start + j * R < run.end; j++) {
      const rowStart = run.start + j * R;
      slots.push({ name: shardFileName(j), key: run.key, index: j, rowStart, rows: Math.min(R, run.end - rowStart), ...(run.fromPart !== undefined ? { fromPart: run.fromPart } : {}) });
    }
  }
  return slots;
}

/**
 * What is wrong with a linked manifest's parts (one phrase), or null: `mergedFrom` must list the
 * parts 0 … n−1 of one count in order, covering the samples [0, N) contiguously, and the manifest
 * must carry its checksum (a linked cache is never of the first layout).
 */
export function linkedProblem(m: LayoutInput & Pick<Manifest, 'checksum'>): string | null {
  if (!isLinked(m)) return null;
  if (m.part) return 'a part cannot be a linked merge (shards with fromPart)';
  if (!m.mergedFrom?.length) return 'shards linked from parts (fromPart) but no mergedFrom lists the parts';
  if (m.checksum === undefined) return 'a linked merge without its checksum';
  let next = 0;
  for (const [i, p] of m.mergedFrom.entries()) {
    if (p.part.index !== i || p.part.count !== m.mergedFrom.length || p.part.sampleStart !== next) {
      return `mergedFrom[${i}] is part ${p.part.index}/${p.part.count} of samples [${p.part.sampleStart}, ${p.part.sampleEnd}), expected part ${i}/${m.mergedFrom.length} from sample ${next}`;
    }
    next = p.part.sampleEnd;
  }
  return next === m.N ? null : `mergedFrom covers samples [0, ${next}) of ${m.N}`;
}

/**
 * Why shard entry `i` of a manifest does not fit its slot (one phrase), or null when it does: a
 * plain cache's file is exactly `shard-NNNNN.safetensors`; a linked one's is a relative path (no
 * drive, no leading `/`) whose last component is the slot's name, from the part the slot says.
 */
export function slotProblem(s: Manifest['shards'][number], slot: ShardSlot, i: number, linked: boolean): string | null {
  if (!linked) return s.file === slot.name ? null : `shard ${i} is named ${JSON.stringify(s.file)}, expected ${slot.name}`;
  if (path.isAbsolute(s.file) || s.file.includes('\\')) return `shard ${i} is linked as ${JSON.stringify(s.file)}: a linked shard's path must be relative, with / separators`;
  if (s.fromPart !== slot.fromPart) return `shard ${i} is from part ${s.fromPart ?? '(none)'}, expected ${slot.fromPart} (mergedFrom order)`;
  if (path.posix.basename(s.file) !== slot.name) return `shard ${i} is linked as ${JSON.stringify(s.file)}, expected a file named ${slot.name}`;
  return null;
}

/** Index of the shard holding global row `g` (shards sorted by rowStart, contiguous). */
export function shardOfRow(shards: ReadonlyArray<{ rowStart: number }>, g: number): number {
  let lo = 0;
  let hi = shards.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (shards[mid].rowStart <= g) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
