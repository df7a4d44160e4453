/**
 * Crafted safetensors files (a seeded generator, no dependencies): every case is written to disk and
 * opened with `openSafetensors`, every tensor it accepts is read, and the file is scanned as a
 * cache shard (`scanShard`). "Refused cleanly" means: the file is either accepted — and then every
 * read stays inside it — or refused with a SafetensorsError (a one-line reason); never another
 * exception, never a read outside the file, never an allocation larger than the file.
 *
 * Reads and allocations are observed by wrapping `fs.readSync` (no read starting past the end of the
 * file, none asking for more than one 1 MiB streaming chunk beyond it) and
 * `Buffer.alloc` / `Buffer.allocUnsafe` (size ≤ file size) while a case runs; the typed arrays the
 * reader allocates for tensor data are sized from offsets it has checked against the file, and the
 * harness checks that too (offset span ≤ data size for every accepted tensor).
 */
import * as fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { SCHEMA_V1 as SCHEMA, type Manifest } from '../../src/cache/manifest.js';
import { SafetensorsError, openSafetensors } from '../../src/cache/safetensors.js';
import { scanShard } from '../../src/cache/shard-check.js';
import { Rng } from '../../src/data/rng.js';

export interface HeaderFigures {
  cases: number;
  accepted: number;
  refused: number;
  /** Other exceptions, reads outside the file, allocations beyond its size: must be 0. */
  unclean: number;
  examples: string[];
}

const DTYPES = ['F16', 'F32', 'I32', 'I64', 'U8', 'BF16', 'F64', 'bool', '', 'f32'];

function jsonValueNoise(rng: Rng): unknown {
  const k = rng.below(12);
  return [null, true, -1, 0, 1.5, 2 ** 53, 1e308, 'x', [], {}, [1, 2, 3], { a: 1 }][k];
}

/** A valid shard-like header with n rows × K columns (F32 logits + I64 sample + I32 view: tfkd-cache/1, the format with the most tensors). */
function validParts(n: number, K: number): { header: Record<string, unknown>; dataBytes: number } {
  const header: Record<string, unknown> = { __metadata__: { schema: SCHEMA, key: 'a'.repeat(64), shard: '0', row_start: '0', rows: String(n), K: String(K), dtype: 'f32', topk: '', views: '1' } };
  let off = 0;
  for (const [name, dt, shape, b] of [['logits', 'F32', [n, K], 4], ['sample', 'I64', [n], 8], ['view', 'I32', [n], 4]] as const) {
    const bytes = shape.reduce((a, d) => a * d, 1) * b;
    header[name] = { dtype: dt, shape: [...shape], data_offsets: [off, off + bytes] };
    off += bytes;
  }
  return { header, dataBytes: off };
}

/** One crafted file's bytes (case i of the seeded stream). */
export function craftedFile(rng: Rng): Uint8Array {
  const n = 1 + rng.below(6);
  const K = 1 + rng.below(5);
  const { header, dataBytes } = validParts(n, K);
  const kind = rng.below(10);
  const names = ['logits', 'sample', 'view'];
  const pick = () => header[names[rng.below(3)]] as { dtype: unknown; shape: unknown; data_offsets: unknown };
  let json: string;
  let data = dataBytes;
  let lengthOverride: bigint | null = null;
  let tail: Uint8Array | null = null;
  switch (kind) {
    case 0: // field values replaced by noise
      for (let j = 0; j <= rng.below(3); j++) {
        const t = pick();
        const f = ['dtype', 'shape', 'data_offsets'][rng.below(3)] as 'dtype';
        t[f] = jsonValueNoise(rng) as string;
      }
      json = JSON.stringify(header);
      break;
    case 1: // dtypes, including unknown ones
      pick().dtype = DTYPES[rng.below(DTYPES.length)];
      json = JSON.stringify(header);
      break;
    case 2: {
      // shapes: huge, negative, fractional, empty, deep
      const t = pick();
      const choices: unknown[] = [[2 ** 31, 2 ** 31], [-1, K], [1.5], [], [0], [n, K, 2 ** 40], [2 ** 53, 2], [[n]], ['n']];
      t.shape = choices[rng.below(choices.length)];
      json = JSON.stringify(header);
      break;
    }
    case 3: {
      // offsets: past the end, reversed, overlapping, huge, negative, wrong arity
      const t = pick();
      const choices: unknown[] = [[0, dataBytes * 4], [8, 4], [0, 2 ** 62], [-8, 0], [0], [0, 1, 2], [2 ** 53 + 2, 2 ** 53 + 6], [0, 0], [1, 1 + rng.below(64)]];
      t.data_offsets = choices[rng.below(choices.length)];
      json = JSON.stringify(header);
      break;
    }
    case 4: // the length prefix lies
      json = JSON.stringify(header);
      lengthOverride = [0n, 1n, 7n, BigInt(json.length + 1 + rng.below(100)), 2n ** 63n, 2n ** 64n - 1n, 100n * 1024n * 1024n + 1n][rng.below(7)];
      break;
    case 5: {
      // the JSON itself damaged: truncated, a byte flipped, not an object
      json = JSON.stringify(header);
      const c = rng.below(4);
      if (c === 0) json = json.slice(0, rng.below(json.length));
      else if (c === 1) {
        const at = rng.below(json.length);
        json = json.slice(0, at) + String.fromCharCode(32 + rng.below(95)) + json.slice(at + 1);
      } else if (c === 2) json = ['[]', '"x"', '42', 'null', '{"__metadata__":[]}', '{"__metadata__":{"a":1}}'][rng.below(6)];
      else json = `${json}${'}'.repeat(1 + rng.below(3))}`;
      break;
    }
    case 6: // data block shorter or longer than the tensors
      json = JSON.stringify(header);
      data = Math.max(0, dataBytes + [-1, -dataBytes, 1, 64, -4][rng.below(5)]);
      break;
    case 7: {
      // tensors missing, extra, duplicated names, odd names
      const h: Record<string, unknown> = { ...header };
      const c = rng.below(4);
      if (c === 0) delete h[names[rng.below(3)]];
      else if (c === 1) h.extra = { dtype: 'F32', shape: [1], data_offsets: [dataBytes, dataBytes + 4] };
      else if (c === 2) h[''] = h.view;
      else h['__proto__x'] = { dtype: 'U8', shape: [0], data_offsets: [0, 0] };
      json = JSON.stringify(h);
      if (c === 1) data += 4 * rng.below(2);
      break;
    }
    case 8: // random bytes after a plausible length
      json = Array.from({ length: 1 + rng.below(200) }, () => String.fromCharCode(rng.below(256))).join('');
      break;
    default: {
      // metadata: non-strings, huge, nested
      const md = header.__metadata__ as Record<string, unknown>;
      md[['key', 'rows', 'x'][rng.below(3)]] = jsonValueNoise(rng);
      json = JSON.stringify(header);
    }
  }
  const body = Buffer.from(json, 'latin1');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(body.length));
  tail = new Uint8Array(data);
  for (let j = 0; j < tail.length; j++) tail[j] = rng.below(256);
  return Buffer.concat([len, body, tail]);
}

/** Runs `count` crafted cases (seed `seed`) in `dir`. */
export function runCraftedHeaders(dir: string, count: number, seed: number): HeaderFigures {
  fs.mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed, 0x4ead);
  const fig: HeaderFigures = { cases: 0, accepted: 0, refused: 0, unclean: 0, examples: [] };
  const file = path.join(dir, 'shard-00000.safetensors');
  const manifest = { schema: SCHEMA, key: 'a'.repeat(64), K: 3, dtype: 'f32', topk: null, views: 1 } as unknown as Manifest;
  // The ESM namespace of node:fs is read-only; patch the CommonJS module and sync the namespaces.
  const cjsFs = createRequire(import.meta.url)('node:fs') as typeof fs;
  const origRead = cjsFs.readSync;
  const origAlloc = Buffer.alloc;
  const origUnsafe = Buffer.allocUnsafe;
  let size = 0;
  let violation: string | null = null;
  const fdSize = new Map<number, number>();
  cjsFs.readSync = ((fd: number, buf: NodeJS.ArrayBufferView, off?: number, len?: number, pos?: number | bigint | null) => {
    const s = fdSize.get(fd) ?? fs.fstatSync(fd).size;
    fdSize.set(fd, s);
    // A read may ask for more than is left (a streaming chunk stops at the end of the file), but it
    // never starts past the end, nor asks for more than one chunk (1 MiB) beyond it.
    if (typeof pos === 'number' && typeof len === 'number' && (pos > s || pos + len > s + (1 << 20)) && violation === null) violation = `read [${pos}, ${pos + len}) beyond the ${s}-byte file`;
    return origRead(fd, buf, off as number, len as number, pos as number);
  }) as typeof fs.readSync;
  syncBuiltinESMExports();
  Buffer.alloc = ((n: number, ...rest: unknown[]) => {
    if (n > Math.max(size, 1 << 20) && violation === null) violation = `Buffer.alloc(${n}) for a ${size}-byte file`;
    return (origAlloc as (...a: unknown[]) => Buffer)(n, ...rest);
  }) as typeof Buffer.alloc;
  Buffer.allocUnsafe = ((n: number) => {
    if (n > Math.max(size, 1 << 20) && violation === null) violation = `Buffer.allocUnsafe(${n}) for a ${size}-byte file`;
    return origUnsafe(n);
  }) as typeof Buffer.allocUnsafe;
  try {
    for (let i = 0; i < count; i++) {
      const bytes = craftedFile(rng);
      fs.writeFileSync(file, bytes);
      size = bytes.length;
      violation = null;
      fdSize.clear();
      fig.cases++;
      let outcome: 'accepted' | 'refused' | string;
      try {
        const st = openSafetensors(file);
        try {
          const dataSize = st.fileSize - st.dataStart;
          for (const [name, t] of Object.entries(st.tensors)) {
            if (t.data_offsets[1] - t.data_offsets[0] > dataSize) violation ??= `tensor ${name} spans more than the data`;
            st.readTensor(name);
          }
        } finally {
          st.close();
        }
        outcome = 'accepted';
      } catch (e) {
        outcome = e instanceof SafetensorsError ? 'refused' : `${(e as Error).name}: ${(e as Error).message}`;
      }
      // The reader's own path over the same file must report, never throw.
      try {
        const scan = scanShard(file, manifest, 0, 0, 2);
        if (outcome === 'accepted' && !scan.sha256) violation ??= 'scan without sha256';
      } catch (e) {
        violation ??= `scanShard threw ${(e as Error).name}: ${(e as Error).message}`;
      }
      if (violation !== null || (outcome !== 'accepted' && outcome !== 'refused')) {
        fig.unclean++;
        if (fig.examples.length < 10) fig.examples.push(`case ${i}: ${violation ?? outcome}`);
      } else if (outcome === 'accepted') fig.accepted++;
      else fig.refused++;
    }
  } finally {
    cjsFs.readSync = origRead;
    syncBuiltinESMExports();
    Buffer.alloc = origAlloc;
    Buffer.allocUnsafe = origUnsafe;
  }
  return fig;
}
