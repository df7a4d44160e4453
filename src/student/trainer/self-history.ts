/**
 * The student's own predictions from the previous epoch, for losses with `selfHistory` (PS-KD): kept
 * as an ordinary tfkd cache inside the run directory, so it is written atomically, checked on every
 * open like any cache (manifest key and checksum, shard sha256), and survives a kill:
 *
 *   during epoch e   the logits of every trained sample (the training forward pass, before the
 *                    step's update — what the official loop stores) are written at the sample's row
 *                    of RUN/history/.epoch-e.rows, a positioned scratch file (N × K float32, sparse)
 *   end of epoch e   the rows are streamed in order into the cache RUN/history/epoch-e/ (CacheWriter:
 *                    shards, then the manifest as commit record) — before the epoch's checkpoint, so a
 *                    run resumed after epoch e always finds it; the cache of epoch e − 1 is removed
 *   epoch e + 1      reads softmax(rows) back with the cache reader (positioned reads)
 *
 * Memory stays flat: rows go to disk batch by batch and come back shard by shard. The cache key
 * names the run's configuration and the epoch (the "teacher" is the run itself at that epoch);
 * samples a `--limit` run never trains keep zero rows, which are never read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkError } from '../../errors.js';
import { cacheKey, createdBy, SCHEMA, sha256Hex, type KeyInput } from '../../cache/manifest.js';
import { openCache, type CacheReader } from '../../cache/reader.js';
import { CacheWriter, type ManifestBase } from '../../cache/writer.js';
import { encodeRows, type CacheLayout } from '../../cache/rows.js';
import { canonicalJson } from '../../util/canonical-json.js';
import type { SampleShape } from '../../data/dataset.js';

const SHARD_ROWS = 8192;

export interface SelfHistoryInit {
  run: string;
  /** The run's resolved configuration (its canonical JSON names the cache). */
  config: unknown;
  N: number;
  K: number;
  fingerprint: string;
  dataSpec: string;
  dataKind: string;
  shape: SampleShape;
}

export class SelfHistory {
  private readonly dir: string;
  private fd: number | null = null;
  private reader: CacheReader | null = null;

  constructor(private readonly o: SelfHistoryInit) {
    this.dir = path.join(o.run, 'history');
  }

  private cacheDir(epoch: number): string {
    return path.join(this.dir, `epoch-${epoch}`);
  }

  private scratch(epoch: number): string {
    return path.join(this.dir, `.epoch-${epoch}.rows`);
  }

  /** What the cache of `epoch` is keyed by: the run's configuration and the epoch. */
  private keyed(epoch: number): { keyIn: KeyInput; teacher: ManifestBase['teacher']; preprocess: ManifestBase['preprocess'] } {
    const { shape, K, N, fingerprint } = this.o;
    const sha256 = sha256Hex(canonicalJson({ run: this.o.config, epoch }));
    const preprocess: ManifestBase['preprocess'] = {
      layout: 'NHWC',
      size: [shape.height, shape.width],
      resize: null,
      crop: null,
      cropRounding: 'round',
      interpolation: 'bilinear',
      channels: 'as-is',
      scale: 1 / 255,
      mean: [0],
      std: [1],
      source: 'the student\'s own input (pixels / 255)',
    };
    const keyIn: KeyInput = {
      teacher: { sha256, outputName: 'logits' },
      K,
      preprocess,
      data: { fingerprint, split: 'train', N },
      views: 1,
      augment: null,
      dtype: 'f32',
      topk: null,
      shardRows: SHARD_ROWS,
    };
    const teacher: ManifestBase['teacher'] = { file: `${this.o.run} (student, epoch ${epoch})`, sha256, inputName: 'input', outputName: 'logits', inputDtype: 'float32', layout: 'NHWC', opset: 0 };
    return { keyIn, teacher, preprocess };
  }

  /**
   * Opens the predictions of epoch `epoch − 1` (1-based epochs) for reading; none before epoch 2.
   * `midEpoch`: a run resumed from a checkpoint inside the epoch keeps the rows its batches so far
   * wrote (flushed before that checkpoint); the batches after it write theirs again.
   */
  beginEpoch(epoch: number, midEpoch = false): void {
    this.closeReader();
    fs.mkdirSync(this.dir, { recursive: true });
    // Anything of this epoch or later is from an interrupted attempt: it is redone.
    for (const f of fs.readdirSync(this.dir)) {
      const m = /^(?:\.epoch-(\d+)\.rows|epoch-(\d+))$/.exec(f);
      if (midEpoch && m?.[1] !== undefined && Number(m[1]) === epoch) continue;
      if (m && Number(m[1] ?? m[2]) >= epoch) fs.rmSync(path.join(this.dir, f), { recursive: true, force: true });
    }
    if (epoch > 1) {
      const prev = this.cacheDir(epoch - 1);
      if (!fs.existsSync(path.join(prev, 'manifest.json'))) {
        throw new WorkError(`${prev} is missing: the student's predictions of epoch ${epoch - 1}, which this loss trains on in epoch ${epoch}`, 'restart the run without --resume');
      }
      // A run begun by a version that wrote tfkd-cache/1 resumes on its history in that format.
      const { keyIn } = this.keyed(epoch - 1);
      const schema = CacheWriter.formatAt(prev, (format) => cacheKey(keyIn, null, { schema: format }));
      this.reader = openCache(prev, { N: this.o.N, numClasses: this.o.K, fingerprint: this.o.fingerprint, key: cacheKey(keyIn, null, { schema }) });
    }
    const file = this.scratch(epoch);
    if (midEpoch && !fs.existsSync(file)) {
      throw new WorkError(`${file} is missing: the student's predictions so far in epoch ${epoch}, which the checkpoint inside it needs`, 'restart the run without --resume');
    }
    this.fd = fs.openSync(file, midEpoch ? 'r+' : 'w+');
    if (!midEpoch) fs.ftruncateSync(this.fd, this.o.N * this.o.K * 4);
  }

  /** Makes the rows written so far durable (before a checkpoint inside the epoch names them). */
  flush(): void {
    if (this.fd !== null) fs.fsyncSync(this.fd);
  }

  /** softmax of the previous epoch's logits of `samples` (n·K float32), or null in the first epoch. */
  previous(samples: ArrayLike<number>): Float32Array | null {
    if (!this.reader) return null;
    return this.reader.softTargets(samples, new Int32Array(samples.length), 1);
  }

  /** Records this epoch's logits of `samples` (row-major n·K) at their rows. */
  record(samples: ArrayLike<number>, logits: Float32Array): void {
    const K = this.o.K;
    for (let r = 0; r < samples.length; r++) {
      const row = logits.subarray(r * K, (r + 1) * K);
      fs.writeSync(this.fd!, row, 0, row.byteLength, samples[r] * K * 4);
    }
  }

  /**
   * Turns epoch `epoch`'s rows into the cache RUN/history/epoch-N (atomic). The one before stays
   * until the epoch's checkpoint is written (dropBefore): a run killed in between resumes at `epoch`
   * and needs it.
   */
  commitEpoch(epoch: number): void {
    const { N, K } = this.o;
    const { keyIn, teacher, preprocess } = this.keyed(epoch);
    const key = cacheKey(keyIn, null);
    const layout: CacheLayout = { key, K, dtype: 'f32', topk: null, views: 1, rowStart: 0, rows: N, shardRows: SHARD_ROWS };
    const w = CacheWriter.open(this.cacheDir(epoch), layout, { force: true });
    const buf = new Float32Array(SHARD_ROWS * K);
    for (let start = 0; start < N; start += SHARD_ROWS) {
      const n = Math.min(SHARD_ROWS, N - start);
      const bytes = new Uint8Array(buf.buffer, 0, n * K * 4);
      fs.readSync(this.fd!, bytes, 0, bytes.byteLength, start * K * 4);
      w.append(encodeRows(buf.slice(0, n * K), n, K, 'f32', null, start, 1));
    }
    const base: ManifestBase = {
      schema: SCHEMA,
      key,
      baseKey: key,
      N,
      K,
      rows: N,
      dtype: 'f32',
      topk: null,
      views: 1,
      augment: null,
      teacher,
      preprocess,
      data: { kind: this.o.dataKind, spec: this.o.dataSpec, split: 'train', fingerprint: this.o.fingerprint, N },
      runtime: { onnxruntime: 'none (the student, tfjs)', provider: 'tfjs', providerNotes: [], threads: 1 },
      part: null,
      shardRows: SHARD_ROWS,
      created_by: createdBy(),
    };
    w.finish(base);
    fs.closeSync(this.fd!);
    this.fd = null;
    fs.rmSync(this.scratch(epoch), { force: true });
    this.closeReader();
  }

  /** After the checkpoint of `epoch`: the predictions of earlier epochs are no longer needed. */
  dropBefore(epoch: number): void {
    for (const f of fs.existsSync(this.dir) ? fs.readdirSync(this.dir) : []) {
      const m = /^epoch-(\d+)$/.exec(f);
      if (m && Number(m[1]) < epoch) fs.rmSync(path.join(this.dir, f), { recursive: true, force: true });
    }
  }

  private closeReader(): void {
    this.reader?.close();
    this.reader = null;
  }

  close(): void {
    this.closeReader();
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}
