/**
 * Writes a cache directory shard by shard, resumably, in the layout's row format (today's
 * `tfkd-cache/2`; `tfkd-cache/1` when merging or finishing a cache begun in that format).
 *
 * Commit protocol (see docs/CACHE.md):
 *  1. rows are buffered until a shard holds `shardRows` rows (the last one fewer);
 *  2. the shard is written to `.tmp-shard-…`, fsynced, renamed to `shard-NNNNN.safetensors`, and
 *     the directory fsynced;
 *  3. a line {shard, rows, rowStart, sha256} is appended (and fsynced) to `progress.jsonl`, the
 *     journal, whose first line names the cache key;
 *  4. after the last shard, `manifest.json` is written atomically and the journal removed.
 *
 * On restart `CacheWriter.open` keeps the longest valid prefix of shards (header names this key,
 * shard index, row range and row count as expected; sha256 equal to the journal's where the
 * journal has it), deletes temp files and everything after the prefix, and continues at the next
 * row. Shard bytes depend only on the key and the rows, never on time or batch size, so a resumed
 * run ends byte-identical to an uninterrupted one.
 */
import { faultPoint } from '../util/fault.js';
import { sha256File } from '../util/hash.js';
import { acquireLock, type Lock, type LockInfo } from '../util/lock.js';
import { ioFailure, prepareOutDir } from '../util/out-dir.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, optionName } from '../errors.js';
import { CACHE_SCHEMAS, MANIFEST, SCHEMA, SCHEMA_V1, SHARD_RE, assertManifestIntegrity, manifestExists, manifestKeys, readManifest, shardFileName, writeManifest, type CacheSchema, type Manifest } from './manifest.js';
import { TAIL_J, TAIL_TEMPERATURES } from './topk.js';
import { openSafetensors, writeSafetensors } from './safetensors.js';
import { fsyncDir, writeFileAtomic } from '../util/atomic.js';
import { shardMetadata, shardTensors, sliceBlock, withSchema, type CacheLayout, type RowBlock } from './rows.js';

export const JOURNAL = 'progress.jsonl';

export type ManifestBase = Omit<Manifest, 'shards'>;

interface ShardRecord {
  file: string;
  rows: number;
  rowStart: number;
  sha256: string;
}

/** Files the writer owns in a cache directory (and may delete on --force or resume). */
function ownedFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f === MANIFEST || f === JOURNAL || SHARD_RE.test(f) || /^\.tmp-(shard-\d+\.safetensors|manifest\.json|progress\.jsonl)-/.test(f));
}

/** The cache key a shard file records (null: a safetensors file without one), undefined when unreadable. */
function shardKey(file: string): string | null | undefined {
  try {
    const st = openSafetensors(file);
    const key = st.metadata.key;
    st.close();
    return key ?? null;
  } catch {
    return undefined;
  }
}

export type OpenState = 'fresh' | 'resumed' | 'complete';

export class CacheWriter {
  private shards: ShardRecord[] = [];
  private buf: RowBlock | null = null;
  private bufRows = 0;
  private journalFd: number | null = null;
  private lock: Lock | null = null;
  /** Set when open() took over the stale lock of a writer that died (who it was). */
  tookOverLock: LockInfo | null = null;
  /** Rows of this cache committed or buffered (local index: 0 … layout.rows). */
  nextRow = 0;

  private constructor(
    readonly dir: string,
    readonly layout: CacheLayout,
    public state: OpenState,
    readonly existing: Manifest | null,
  ) {}

  /**
   * Opens `dir` for writing `layout`. Returns a writer whose `state` is 'complete' (a finished cache
   * with this key is there: nothing to do, `existing` holds its manifest), 'resumed' (valid shards
   * kept, `nextRow` > 0) or 'fresh'. A cache or journal for another key is refused (UsageError)
   * unless `force`, which removes it first.
   */
  static open(dir: string, layout: CacheLayout, opts: { force?: boolean } = {}): CacheWriter {
    // One writer per directory (util/lock.ts), taken before anything is inspected or removed: a
    // --force run cannot clean a cache another process is writing.
    prepareOutDir(dir);
    const lock = acquireLock(dir, 'cache writer');
    try {
      const w = CacheWriter.openLocked(dir, layout, opts);
      if (w.state === 'complete') lock.release(); // nothing more will be written
      else w.lock = lock;
      if (lock.tookOver) w.tookOverLock = lock.tookOver;
      return w;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  private static openLocked(dir: string, layout: CacheLayout, opts: { force?: boolean }): CacheWriter {
    const refuse = (what: string): never => {
      throw new UsageError(`${dir} already holds ${what} for a different cache key`, `choose another ${optionName('out')}, or pass ${optionName('force')} to replace it`);
    };
    // --force means "start over": whatever the writer owns there goes, whatever its key.
    if (opts.force) CacheWriter.clean(dir);
    else if (manifestExists(dir)) {
      const m = readManifest(dir);
      if (m.key !== layout.key) refuse('a complete cache');
      assertManifestIntegrity(dir, m);
      const missing = m.shards.filter((s) => !fs.existsSync(path.join(dir, s.file)));
      if (missing.length) throw new UsageError(`${dir}: manifest lists ${missing.map((s) => s.file).join(', ')} but the file(s) are gone`, 'run tfkd verify; pass --force to rebuild');
      // A kill after the manifest's rename but before the journal's removal: the manifest is the
      // commit record, so finish the commit (the journal and temp files are obsolete).
      const leftovers = ownedFiles(dir).filter((f) => f === JOURNAL || f.startsWith('.tmp-'));
      for (const f of leftovers) fs.rmSync(path.join(dir, f), { force: true });
      if (leftovers.length) fsyncDir(dir);
      return new CacheWriter(dir, layout, 'complete', m);
    }
    fs.mkdirSync(dir, { recursive: true });
    const w = new CacheWriter(dir, layout, 'fresh', null);
    const journal = w.readJournal();
    if (journal.key !== null && journal.key !== layout.key) refuse('a partial cache (progress.jsonl)');
    w.adoptShards(journal.entries, refuse);
    if (w.nextRow > 0) w.state = 'resumed';
    return w;
  }

  /**
   * The row format of the cache (complete, or begun: its journal) at `dir` whose key is
   * `keyOf(format)` for one of the formats this version writes — so a run begun by a version that
   * wrote tfkd-cache/1 resumes in that format — else today's (SCHEMA). Reads only the recorded key.
   */
  static formatAt(dir: string, keyOf: (schema: CacheSchema) => string): CacheSchema {
    let key: unknown;
    try {
      if (manifestExists(dir)) key = (JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as { key?: unknown }).key;
      else if (fs.existsSync(path.join(dir, JOURNAL))) key = (JSON.parse(fs.readFileSync(path.join(dir, JOURNAL), 'utf8').split('\n')[0]) as { key?: unknown }).key;
    } catch {
      key = undefined; // unreadable: CacheWriter.open reports what is there
    }
    return CACHE_SCHEMAS.find((f) => f !== SCHEMA && key === keyOf(f)) ?? SCHEMA;
  }

  /** Removes every file the writer owns in `dir` (never anything else). */
  static clean(dir: string): void {
    for (const f of ownedFiles(dir)) fs.rmSync(path.join(dir, f), { force: true });
    if (fs.existsSync(dir)) fsyncDir(dir);
  }

  private readJournal(): { key: string | null; entries: Map<number, ShardRecord> } {
    const f = path.join(this.dir, JOURNAL);
    const entries = new Map<number, ShardRecord>();
    if (!fs.existsSync(f)) return { key: null, entries };
    const lines = fs.readFileSync(f, 'utf8').split('\n');
    let key: string | null = null;
    for (const [i, line] of lines.entries()) {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line);
      } catch {
        break; // a torn last line from a crash mid-append: ignore it and everything after
      }
      if (i === 0) {
        key = typeof o.key === 'string' ? o.key : null;
        continue;
      }
      if (typeof o.shard === 'number' && typeof o.sha256 === 'string') entries.set(o.shard, o as unknown as ShardRecord & { shard: number });
    }
    return { key, entries };
  }

  /** Keeps the longest valid prefix of existing shards; deletes temp files and the rest. */
  private adoptShards(journal: Map<number, ShardRecord>, refuse: (w: string) => never): void {
    const files = fs.readdirSync(this.dir);
    for (const f of files) if (f.startsWith('.tmp-') && ownedFiles(this.dir).includes(f)) fs.rmSync(path.join(this.dir, f), { force: true });
    const present = new Set(files.filter((f) => SHARD_RE.test(f)));
    // Every shard file that says whose it is must be this cache's before any is kept or removed: one
    // of another cache (another layout too: its row count would make it look torn) is refused, not
    // deleted. Unreadable files (torn by a copy, not by our atomic rename) carry no key: redone.
    for (const f of [...present].sort()) {
      const key = shardKey(path.join(this.dir, f));
      if (key !== undefined && key !== this.layout.key) refuse(`shard ${f}`);
    }
    const { rows, shardRows } = this.layout;
    let i = 0;
    for (; i * shardRows < rows; i++) {
      const file = shardFileName(i);
      if (!present.has(file)) break;
      const localStart = i * shardRows;
      const n = Math.min(shardRows, rows - localStart);
      const rec = this.checkShard(file, i, this.layout.rowStart + localStart, n, journal.get(i), refuse);
      if (!rec) break;
      this.shards.push(rec);
      this.nextRow = localStart + n;
    }
    // Everything after the valid prefix is stale: remove it so the directory holds only truth.
    for (const f of present) {
      const idx = Number(SHARD_RE.exec(f)![1]);
      if (idx >= this.shards.length) fs.rmSync(path.join(this.dir, f), { force: true });
    }
    // Rewrite the journal to exactly the kept shards (atomically), then append from there.
    const lines = [JSON.stringify({ key: this.layout.key, schema: withSchema(this.layout).schema }), ...this.shards.map((s, j) => JSON.stringify({ shard: j, ...s }))];
    writeFileAtomic(path.join(this.dir, JOURNAL), [Buffer.from(`${lines.join('\n')}\n`)]);
  }

  private checkShard(file: string, i: number, rowStart: number, n: number, journal: ShardRecord | undefined, refuse: (w: string) => never): ShardRecord | null {
    const full = path.join(this.dir, file);
    let meta: Record<string, string>;
    try {
      const st = openSafetensors(full);
      meta = st.metadata;
      const lead = this.layout.topk === null ? 'logits' : 'topk_values';
      const t = st.tensors[lead];
      st.close();
      if (!t || t.shape[0] !== n) return null;
    } catch {
      return null; // unreadable (torn by something other than our atomic rename): redo it
    }
    if (meta.key !== this.layout.key) refuse(`shard ${file}`);
    if (meta.shard !== String(i) || meta.row_start !== String(rowStart) || meta.rows !== String(n)) return null;
    const sha = sha256File(full);
    if (journal && journal.sha256 !== sha) return null;
    return { file, rows: n, rowStart, sha256: sha };
  }

  /** Appends rows (stored form) at `nextRow`; writes each shard as it fills. */
  append(block: RowBlock): void {
    const { K, topk, shardRows, rows } = this.layout;
    if (this.state === 'complete') throw new Error('CacheWriter.append on a complete cache');
    if (this.nextRow + block.n > rows) throw new Error(`CacheWriter.append: ${block.n} rows past the end (${this.nextRow}/${rows})`);
    let from = 0;
    while (from < block.n) {
      const shardIdx = Math.floor(this.nextRow / shardRows);
      const shardStart = shardIdx * shardRows;
      const shardN = Math.min(shardRows, rows - shardStart);
      if (!this.buf) this.buf = this.allocShardBuffer(shardN);
      const take = Math.min(block.n - from, shardN - this.bufRows);
      const src = sliceBlock(block, from, take, K, topk);
      const at = this.bufRows;
      if (topk === null) (this.buf.logits as Float32Array).set(src.logits as Float32Array, at * K);
      else {
        this.buf.topkIndices!.set(src.topkIndices!, at * topk);
        (this.buf.topkValues as Float32Array).set(src.topkValues as Float32Array, at * topk);
        if (this.buf.logsumexp) {
          if (!src.logsumexp) throw new Error('CacheWriter.append: a tfkd-cache/1 top-k block needs logsumexp');
          this.buf.logsumexp.set(src.logsumexp, at);
        }
        if (!src.tailLogsumexp || !src.tailMean) throw new Error('CacheWriter.append: a top-k block needs tailLogsumexp and tailMean (encodeRows computes them)');
        this.buf.tailLogsumexp!.set(src.tailLogsumexp, at * TAIL_J);
        this.buf.tailMean!.set(src.tailMean, at);
      }
      this.bufRows += take;
      this.nextRow += take;
      from += take;
      faultPoint('cache-append', this.layout.rowStart + this.nextRow);
      if (this.bufRows === shardN) this.flush(shardIdx, shardStart);
    }
  }

  private allocShardBuffer(n: number): RowBlock {
    const { K, topk, dtype, schema } = withSchema(this.layout);
    const F = dtype === 'f16' ? Uint16Array : Float32Array;
    if (topk === null) return { n, logits: new F(n * K) };
    const lse = schema === SCHEMA_V1 ? { logsumexp: new Float32Array(n) } : {};
    return { n, topkIndices: new Int32Array(n * topk), topkValues: new F(n * topk), ...lse, tailLogsumexp: new Float32Array(n * TAIL_J), tailMean: new Float32Array(n) };
  }

  private flush(shardIdx: number, localStart: number): void {
    const block = this.buf!;
    const rowStart = this.layout.rowStart + localStart;
    const file = shardFileName(shardIdx);
    const sha256 = writeSafetensors(path.join(this.dir, file), shardTensors(this.layout, rowStart, block), shardMetadata(this.layout, shardIdx, rowStart, block.n), {
      afterChunk: (c) => c === 0 && faultPoint('cache-shard-torn', shardIdx),
      beforeRename: () => faultPoint('cache-shard-tmp', shardIdx),
    });
    faultPoint('cache-shard-renamed', shardIdx);
    const rec = { file, rows: block.n, rowStart, sha256 };
    this.shards.push(rec);
    this.journalAppend({ shard: shardIdx, ...rec });
    faultPoint('cache-shard-journaled', shardIdx);
    this.buf = null;
    this.bufRows = 0;
  }

  private journalAppend(o: unknown): void {
    const file = path.join(this.dir, JOURNAL);
    try {
      if (this.journalFd === null) this.journalFd = fs.openSync(file, 'a');
      fs.writeSync(this.journalFd, `${JSON.stringify(o)}\n`);
      fs.fsyncSync(this.journalFd);
    } catch (e) {
      throw ioFailure(file, e);
    }
  }

  /** Commits: writes the manifest (the commit record) and removes the journal. */
  finish(base: ManifestBase): Manifest {
    if (this.state === 'complete') return this.existing!;
    if (this.nextRow !== this.layout.rows || this.bufRows !== 0) {
      throw new Error(`CacheWriter.finish: ${this.nextRow}/${this.layout.rows} rows written`);
    }
    this.closeJournal();
    const { tail: _tail, checksum: _checksum, ...rest } = base as Manifest;
    const tail = this.layout.topk !== null ? { tail: { temperatures: [...TAIL_TEMPERATURES] } } : {};
    // The key the shards were written under must be the key of the fields the manifest records
    // (manifest.ts keyInputOf: the one derivation readers and verify recompute).
    const keys = manifestKeys({ ...rest, ...tail });
    if (rest.key !== this.layout.key || keys.key !== this.layout.key || keys.baseKey !== rest.baseKey) {
      throw new Error(`CacheWriter.finish: the manifest's fields give key ${keys.key.slice(0, 12)}…/base ${keys.baseKey.slice(0, 12)}…, the shards were written for ${this.layout.key.slice(0, 12)}… (manifest says ${rest.key.slice(0, 12)}…/${rest.baseKey.slice(0, 12)}…)`);
    }
    const draft: Manifest = { ...rest, ...tail, shards: this.shards.map((s) => ({ file: s.file, rows: s.rows, rowStart: s.rowStart, sha256: s.sha256 })) };
    const m = writeManifest(this.dir, draft, { beforeRename: () => faultPoint('cache-manifest-tmp') });
    faultPoint('cache-manifest-renamed');
    fs.rmSync(path.join(this.dir, JOURNAL), { force: true });
    fsyncDir(this.dir);
    this.releaseLock();
    return m;
  }

  /** The writer is done with the directory for now: the journal is closed and the lock released. */
  closeJournal(): void {
    if (this.journalFd !== null) fs.closeSync(this.journalFd);
    this.journalFd = null;
    this.releaseLock();
  }

  private releaseLock(): void {
    this.lock?.release();
    this.lock = null;
  }
}
