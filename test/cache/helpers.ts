/** Synthetic caches for the cache tests: rows are a pure function of (global row, class). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { cacheKey, partRange, readManifest, SCHEMA, type CacheSchema, type KeyInput, type Manifest } from '../../src/cache/manifest.js';
import { type CacheDtype } from '../../src/catalog.js';
import { CacheWriter, type ManifestBase } from '../../src/cache/writer.js';
import { encodeRows, type CacheLayout } from '../../src/cache/rows.js';

export interface SynthOpts {
  N: number;
  K: number;
  V?: number;
  dtype?: CacheDtype;
  topk?: number | null;
  shardRows?: number;
  part?: { index: number; count: number } | null;
  /** Stop (without finishing) after appending this many rows: an "interrupted" run. */
  stopAfterRows?: number;
  batch?: number;
  force?: boolean;
  fingerprint?: string;
  /** The row format (default: today's). */
  schema?: CacheSchema;
}

export const synthLogit = (g: number, k: number): number => Math.sin(g * 0.731 + k * 1.37) * 6 + (k === g % 7 ? 3 : 0);

export function synthLogits(g0: number, n: number, K: number): Float32Array {
  const a = new Float32Array(n * K);
  for (let r = 0; r < n; r++) for (let k = 0; k < K; k++) a[r * K + k] = synthLogit(g0 + r, k);
  return a;
}

export function synthSetup(o: SynthOpts): { layout: CacheLayout; base: ManifestBase } {
  const V = o.V ?? 1;
  const dtype = o.dtype ?? 'f32';
  const topk = o.topk ?? null;
  const shardRows = o.shardRows ?? 16;
  const keyIn: KeyInput = {
    teacher: { sha256: 'a'.repeat(64), outputName: 'logits' },
    K: o.K,
    preprocess: { layout: 'NCHW', size: [4, 4], resize: null, crop: null, cropRounding: 'round', interpolation: 'bilinear', channels: 'L', scale: 1 / 255, mean: [0], std: [1] },
    data: { fingerprint: o.fingerprint ?? 'fp-synthetic', split: 'train', N: o.N },
    views: V,
    augment: V > 1 ? { spec: 'flip', seed: 1 } : null,
    dtype,
    topk,
    shardRows,
  };
  const part = o.part ? { ...o.part, ...partRange(o.part.index, o.part.count, o.N) } : null;
  const schema = o.schema ?? SCHEMA;
  const key = cacheKey(keyIn, part, { schema });
  const baseKey = cacheKey(keyIn, null, { schema });
  const s0 = part ? part.sampleStart : 0;
  const s1 = part ? part.sampleEnd : o.N;
  const layout: CacheLayout = { schema, key, K: o.K, dtype, topk, views: V, rowStart: s0 * V, rows: (s1 - s0) * V, shardRows };
  const base: ManifestBase = {
    schema,
    key,
    baseKey,
    N: o.N,
    K: o.K,
    rows: layout.rows,
    dtype,
    topk,
    views: V,
    augment: keyIn.augment,
    teacher: { file: 't.onnx', sha256: keyIn.teacher.sha256, inputName: 'x', outputName: 'logits', inputDtype: 'float32', layout: 'NCHW', opset: 13 },
    preprocess: keyIn.preprocess,
    data: { kind: 'synthetic', spec: 'synthetic:x', split: 'train', fingerprint: keyIn.data.fingerprint, N: o.N },
    runtime: { onnxruntime: 'test', provider: 'cpu', providerNotes: [], threads: 1 },
    part,
    shardRows,
    created_by: { tfkd: '0.0.0', git: null },
  };
  return { layout, base };
}

/** Writes (or resumes) a synthetic cache; returns the writer's open state and the manifest if finished. */
export function writeSynth(dir: string, o: SynthOpts): { state: string; manifest: Manifest | null; startRow: number } {
  const { layout, base } = synthSetup(o);
  const w = CacheWriter.open(dir, layout, { force: o.force });
  const state = w.state;
  const startRow = w.nextRow;
  if (state === 'complete') return { state, manifest: w.existing, startRow };
  const batch = o.batch ?? 5;
  const stop = o.stopAfterRows ?? layout.rows;
  while (w.nextRow < Math.min(stop, layout.rows)) {
    const n = Math.min(batch, layout.rows - w.nextRow, stop - w.nextRow);
    const g = layout.rowStart + w.nextRow;
    w.append(encodeRows(synthLogits(g, n, o.K), n, o.K, layout.dtype, layout.topk, g, layout.views));
  }
  if (w.nextRow < layout.rows) {
    w.closeJournal();
    return { state, manifest: null, startRow };
  }
  return { state, manifest: w.finish(base), startRow };
}

/** All files of a directory → their bytes (sorted names). */
export function snapshot(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const f of fs.readdirSync(dir).sort()) m.set(f, fs.readFileSync(path.join(dir, f)));
  return m;
}

export function expectSameBytes(a: Map<string, Buffer>, b: Map<string, Buffer>): void {
  const an = [...a.keys()].join(',');
  const bn = [...b.keys()].join(',');
  if (an !== bn) throw new Error(`file lists differ:\n  ${an}\n  ${bn}`);
  for (const [f, buf] of a) if (!buf.equals(b.get(f)!)) throw new Error(`${f} differs`);
}

/**
 * The directory's bytes, with the manifest's `created_by.git` (and so its checksum) pinned: other
 * work committed to this checkout while the test runs must not make two runs of one version differ.
 */
export function pinned(dir: string): Map<string, Buffer> {
  const snap = snapshot(dir);
  const m = snap.get('manifest.json');
  if (m) snap.set('manifest.json', Buffer.from(m.toString('utf8').replace(/"git": "[0-9a-f]{40}"/, '"git": "<pinned>"').replace(/"checksum": "[0-9a-f]{64}"/, '"checksum": "<derived>"')));
  return snap;
}

/**
 * A cache merged from parts (DIR) equals the unsharded run of the same command (REF): the same
 * shard list, every shard file byte for byte, the manifests equal but for runtime, mergedFrom and
 * checksum.
 */
export function expectSameAsUnsharded(dir: string, ref: string): void {
  const want = readManifest(ref);
  const got = readManifest(dir);
  expect(got.shards).to.deep.equal(want.shards);
  for (const s of want.shards) expect(fs.readFileSync(path.join(dir, s.file)).equals(fs.readFileSync(path.join(ref, s.file))), s.file).to.equal(true);
  const strip = ({ runtime: _r, mergedFrom: _mf, checksum: _c, ...rest }: Manifest) => rest;
  expect(strip(got)).to.deep.equal(strip(want));
}
