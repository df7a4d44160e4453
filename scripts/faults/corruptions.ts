/**
 * Seeded corruptions of a soft-target cache, for the fault-injection suite (`npm run faults`) and
 * its slice in `npm test` (test/reliability/corruption.test.ts). Each corruption edits a copy of a
 * sound cache in place and says which file a consumer must name when it refuses it.
 *
 * Kinds: bytes flipped in a shard's data, header or length prefix; shards truncated, padded,
 * swapped, deleted or taken from another teacher's cache; every manifest field edited; a manifest
 * that is not JSON; and "resealed" corruptions, where the shard's sha256 in the manifest and the
 * manifest's checksum are recomputed so that only the content checks can see them — non-finite
 * logits, a tensor of the wrong dtype or shape in the same bytes, rows out of (sample, view) order
 * (tfkd-cache/1, whose rows name themselves), top-k classes out of range, a header naming another key.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MANIFEST, SCHEMA_V1, readManifest, writeManifest, type Manifest } from '../../src/cache/manifest.js';
import { openSafetensors, writeSafetensors, type TensorData, type TensorIn } from '../../src/cache/safetensors.js';
import { Rng } from '../../src/data/rng.js';

export interface Corruption {
  name: string;
  /** Corrupts the cache in `dir` (a copy of a sound one); `foreign` is another teacher's cache of the same layout. */
  apply(dir: string, foreign: string): void;
  /** The file a consumer must name when it refuses the corrupted cache. */
  file: string;
}

const shardName = (i: number): string => `shard-${String(i).padStart(5, '0')}.safetensors`;

function flip(file: string, at: number, bit: number): void {
  const b = fs.readFileSync(file);
  b[at] ^= 1 << bit;
  fs.writeFileSync(file, b);
}

function headerEnd(file: string): number {
  const b = fs.readFileSync(file);
  return 8 + Number(b.readBigUInt64LE(0));
}

/** Rewrites shard `i` with `edit` applied to its tensors (and metadata), then reseals the manifest. */
function reseal(dir: string, i: number, edit: (t: Record<string, TensorIn>, meta: Record<string, string>) => void): void {
  const file = path.join(dir, shardName(i));
  const st = openSafetensors(file);
  const tensors: Record<string, TensorIn> = {};
  for (const [name, e] of Object.entries(st.tensors)) tensors[name] = { dtype: e.dtype, shape: [...e.shape], data: st.readTensor(name) as TensorData };
  const meta = { ...st.metadata };
  st.close();
  edit(tensors, meta);
  const sha = writeSafetensors(file, tensors, meta);
  const m = readManifest(dir);
  m.shards[i].sha256 = sha;
  writeManifest(dir, m);
}

/** Edits manifest.json as a person would (JSON in, JSON out), without fixing any checksum. */
function editManifest(dir: string, edit: (m: Record<string, unknown> & Manifest) => void): void {
  const f = path.join(dir, MANIFEST);
  const m = JSON.parse(fs.readFileSync(f, 'utf8'));
  edit(m);
  fs.writeFileSync(f, `${JSON.stringify(m, null, 2)}\n`);
}

/**
 * `count` corruptions drawn with `seed` for a cache of `shards` shards (its manifest in `sample`
 * gives dtype, top-k and sizes): every deterministic kind once, then random flips, truncations
 * and resealed edits until `count`.
 */
export function cacheCorruptions(sample: string, count: number, seed: number): Corruption[] {
  const m0 = readManifest(sample);
  const S = m0.shards.length;
  const rng = new Rng(seed, 0xc0de);
  const sh = () => rng.below(S);
  const out: Corruption[] = [];
  const fieldEdits: Array<[string, (m: Record<string, unknown> & Manifest) => void]> = [
    ['teacher.sha256', (m) => (m.teacher.sha256 = 'b'.repeat(64))],
    ['teacher.file', (m) => (m.teacher.file = 'other-teacher.onnx')],
    ['teacher.outputName', (m) => (m.teacher.outputName = 'probs')],
    ['teacher.opset', (m) => (m.teacher.opset += 1)],
    ['preprocess.scale', (m) => (m.preprocess.scale *= 2)],
    ['preprocess.mean', (m) => (m.preprocess.mean = m.preprocess.mean.map((x) => x + 0.5))],
    ['augment', (m) => (m.augment = { spec: 'flip', seed: 3 })],
    ['data.spec', (m) => (m.data.spec = 'fashion-mnist')],
    ['data.fingerprint', (m) => (m.data.fingerprint = `${m.data.fingerprint}x`)],
    ['data.split', (m) => (m.data.split = m.data.split === 'train' ? 'test' : 'train')],
    ['data.N', (m) => (m.data.N += 1)],
    ['N', (m) => (m.N += 1)],
    ['K', (m) => (m.K += 1)],
    ['rows', (m) => (m.rows -= 1)],
    ['views', (m) => (m.views += 1)],
    ['dtype', (m) => (m.dtype = m.dtype === 'f16' ? 'f32' : 'f16')],
    ['topk', (m) => (m.topk = m.topk === null ? 2 : null)],
    ['shardRows', (m) => (m.shardRows += 1)],
    ['key', (m) => (m.key = 'c'.repeat(64))],
    ['baseKey', (m) => (m.baseKey = 'd'.repeat(64))],
    ['runtime.provider', (m) => (m.runtime.provider = 'cuda')],
    ['created_by.git', (m) => (m.created_by.git = 'e'.repeat(40))],
    ['part', (m) => (m.part = { index: 0, count: 2, sampleStart: 0, sampleEnd: Math.floor(m.N / 2) })],
    ['shards[1].sha256', (m) => (m.shards[1 % S].sha256 = 'f'.repeat(64))],
    ['shards[0].rows', (m) => (m.shards[0].rows -= 1)],
    ['shards[0].file', (m) => (m.shards[0].file = '../shard-00000.safetensors')],
    ['shards reversed', (m) => m.shards.reverse()],
    ['shards: last one dropped', (m) => m.shards.pop()],
    ['an unknown field', (m) => ((m as Record<string, unknown>).comment = 'hand-edited')],
    ['checksum', (m) => (m.checksum = '0'.repeat(64))],
  ];
  for (const [field, edit] of fieldEdits) out.push({ name: `manifest: ${field} edited`, file: MANIFEST, apply: (d) => editManifest(d, edit) });
  out.push(
    { name: 'manifest: truncated (not JSON)', file: MANIFEST, apply: (d) => fs.truncateSync(path.join(d, MANIFEST), 40) },
    { name: 'manifest: empty', file: MANIFEST, apply: (d) => fs.writeFileSync(path.join(d, MANIFEST), '') },
    { name: 'manifest: a JSON array', file: MANIFEST, apply: (d) => fs.writeFileSync(path.join(d, MANIFEST), '[]') },
    { name: 'manifest: deleted', file: MANIFEST, apply: (d) => fs.rmSync(path.join(d, MANIFEST)) },
  );
  for (let i = 0; i < S; i++) {
    out.push({ name: `shard ${i} deleted`, file: shardName(i), apply: (d) => fs.rmSync(path.join(d, shardName(i))) });
    out.push({ name: `shard ${i} from another teacher's cache`, file: shardName(i), apply: (d, f) => fs.copyFileSync(path.join(f, shardName(i)), path.join(d, shardName(i))) });
    out.push({ name: `shard ${i} emptied`, file: shardName(i), apply: (d) => fs.writeFileSync(path.join(d, shardName(i)), '') });
  }
  if (S >= 2) {
    out.push({
      name: 'shards 0 and 1 swapped',
      file: shardName(0),
      apply: (d) => {
        const a = path.join(d, shardName(0));
        const b = path.join(d, shardName(1));
        fs.renameSync(a, `${a}.x`);
        fs.renameSync(b, a);
        fs.renameSync(`${a}.x`, b);
      },
    });
  }
  // Resealed: only the content checks can see these.
  const lead = m0.topk === null ? 'logits' : 'topk_values';
  const resealed: Array<[string, (i: number, r: number) => (t: Record<string, TensorIn>, meta: Record<string, string>) => void]> = [
    ['a NaN logit', (_i, r) => (t) => setValue(t[lead], r, NaN)],
    ['an infinite logit', (_i, r) => (t) => setValue(t[lead], r, Infinity)],
    [
      `${lead} reinterpreted: another dtype in the same bytes`,
      () => (t) => {
        const x = t[lead];
        const bytes = new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength).slice();
        t[lead] = x.dtype === 'F32' ? { dtype: 'F16', shape: [x.shape[0], x.shape[1] * 2], data: new Uint16Array(bytes.buffer) } : { dtype: 'F32', shape: [x.shape[0], x.shape[1] / 2], data: new Float32Array(bytes.buffer) };
      },
    ],
    [`${lead} transposed: another shape in the same bytes`, () => (t) => (t[lead] = { ...t[lead], shape: [t[lead].shape[1], t[lead].shape[0]] })],
    ['the header names another key', () => (_t, meta) => (meta.key = '9'.repeat(64))],
    ['the header names another row range', () => (_t, meta) => (meta.row_start = String(Number(meta.row_start) + 1))],
    ['a tensor dropped', () => (t) => delete t[Object.keys(t).at(-1)!]],
    ['an extra tensor', () => (t) => (t.extra = { dtype: 'F32', shape: [1], data: new Float32Array(1) })],
  ];
  if (m0.schema === SCHEMA_V1) {
    resealed.push(['rows out of (sample, view) order', (_i, r) => (t) => ((t.sample.data as BigInt64Array)[r] += 1n)], ['a view index changed', (_i, r) => (t) => ((t.view.data as Int32Array)[r] += 1)]);
  }
  if (m0.topk !== null) resealed.push(['a top-k class out of range', (_i, r) => (t) => ((t.topk_indices.data as Int32Array | Uint16Array)[r * m0.topk!] = m0.K + 3)]);
  for (const [what, mk] of resealed) {
    const i = sh();
    const r = rng.below(m0.shards[i].rows);
    out.push({ name: `shard ${i} resealed with ${what} (row ${m0.shards[i].rowStart + r})`, file: shardName(i), apply: (d) => reseal(d, i, mk(i, r)) });
  }
  // Random byte damage until `count`.
  while (out.length < count) {
    const i = sh();
    const kind = rng.below(5);
    const file = shardName(i);
    if (kind === 0) {
      const bit = rng.below(8);
      const u = rng.next();
      out.push({ name: `shard ${i}: bit ${bit} flipped in the data at ${u.toFixed(4)} of its length`, file, apply: (d) => {
        const f = path.join(d, file);
        const h = headerEnd(f);
        flip(f, h + Math.floor(u * (fs.statSync(f).size - h)), bit);
      } });
    } else if (kind === 1) {
      const bit = rng.below(7);
      const u = rng.next();
      out.push({ name: `shard ${i}: bit ${bit} flipped in the JSON header at ${u.toFixed(4)}`, file, apply: (d) => {
        const f = path.join(d, file);
        flip(f, 8 + Math.floor(u * (headerEnd(f) - 8)), bit);
      } });
    } else if (kind === 2) {
      const at = rng.below(8);
      const bit = rng.below(8);
      out.push({ name: `shard ${i}: bit ${bit} of length byte ${at} flipped`, file, apply: (d) => flip(path.join(d, file), at, bit) });
    } else if (kind === 3) {
      const u = rng.next();
      out.push({ name: `shard ${i}: truncated to ${u.toFixed(4)} of its length`, file, apply: (d) => {
        const f = path.join(d, file);
        fs.truncateSync(f, Math.floor(u * fs.statSync(f).size));
      } });
    } else {
      const k = 1 + rng.below(64);
      out.push({ name: `shard ${i}: ${k} bytes appended`, file, apply: (d) => fs.appendFileSync(path.join(d, file), Buffer.alloc(k, 0x20)) });
    }
  }
  return out.slice(0, Math.max(count, out.length));
}

function setValue(t: TensorIn, row: number, v: number): void {
  const w = t.shape.slice(1).reduce((a, d) => a * d, 1);
  if (t.dtype === 'F32') (t.data as Float32Array)[row * w] = v;
  else (t.data as Uint16Array)[row * w] = Number.isNaN(v) ? 0x7e00 : v > 0 ? 0x7c00 : 0xfc00;
}
