/**
 * docs/CACHE.md's size table ("Size"), computed from the shard layout itself (shard-check.ts
 * shardSpec / rowBytes, safetensors.ts encodeHeader): bytes a row of each cache kind in both row
 * formats, and what an ImageNet-1k train cache with 500 views (1 281 167 images, 1 000 classes)
 * weighs, shard headers included. `test/cache/format.test.ts` checks that the docs show these lines.
 *
 *   npx tsx scripts/cache-size.ts [--images 1281167] [--views 500] [--classes 1000]
 */
import { pathToFileURL } from 'node:url';
import { DEFAULT_SHARD_ROWS, SCHEMA, SCHEMA_V1, type CacheSchema } from '../src/cache/manifest.js';
import type { CacheDtype } from '../src/catalog.js';
import { encodeHeader, type StDtype, type TensorIn } from '../src/cache/safetensors.js';
import { rowBytes, shardMetadataOf, shardSpec } from '../src/cache/shard-check.js';

export interface SizeOpts {
  images: number;
  views: number;
  classes: number;
}

export const IMAGENET_500: SizeOpts = { images: 1281167, views: 500, classes: 1000 };

/** The kinds the writer supports: all logits or top-k, in f16 or f32 (views multiply rows, not bytes a row). */
export const KINDS: Array<{ label: string; dtype: CacheDtype; topk: number | null; v2: string; v1: string }> = [
  { label: 'all logits, f16', dtype: 'f16', topk: null, v2: '2K', v1: '2K + 12' },
  { label: 'all logits, f32', dtype: 'f32', topk: null, v2: '4K', v1: '4K + 12' },
  { label: 'top-5, f16', dtype: 'f16', topk: 5, v2: '4k + 28', v1: '6k + 44' },
  { label: 'top-5, f32', dtype: 'f32', topk: 5, v2: '6k + 28', v1: '8k + 44' },
  { label: 'top-10, f16', dtype: 'f16', topk: 10, v2: '4k + 28', v1: '6k + 44' },
  { label: 'top-10, f32', dtype: 'f32', topk: 10, v2: '6k + 28', v1: '8k + 44' },
];

/** Bytes of a full shard's header (length word + JSON), with the largest index and row numbers of the cache. */
export function headerBytes(schema: CacheSchema, K: number, dtype: CacheDtype, topk: number | null, rows: number): number {
  const n = Math.min(DEFAULT_SHARD_ROWS, rows);
  const tensors: Record<string, TensorIn> = {};
  const arr = (dt: StDtype, len: number): TensorIn['data'] => (dt === 'F32' ? new Float32Array(len) : dt === 'I32' ? new Int32Array(len) : dt === 'I64' ? new BigInt64Array(len) : new Uint16Array(len));
  for (const [name, dt, shape] of shardSpec({ schema, K, dtype, topk }, n)) tensors[name] = { dtype: dt, shape, data: arr(dt, shape.reduce((a, d) => a * d, 1)) };
  const last = Math.ceil(rows / DEFAULT_SHARD_ROWS) - 1;
  const meta = shardMetadataOf({ schema, key: 'f'.repeat(64), K, dtype, topk, views: 500 }, last, last * DEFAULT_SHARD_ROWS, n);
  return encodeHeader(tensors, meta).header.length;
}

const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(1)} GB`;

/** The table's lines (markdown). */
export function sizeTable(o: SizeOpts = IMAGENET_500): string[] {
  const rows = o.images * o.views;
  const shards = Math.ceil(rows / DEFAULT_SHARD_ROWS);
  const lines = [
    `| stored | bytes a row, \`${SCHEMA}\` | K = ${o.classes} | bytes a row, \`${SCHEMA_V1}\` | K = ${o.classes} | ${o.images} images × ${o.views} views, \`${SCHEMA}\` | same, \`${SCHEMA_V1}\` |`,
    '|---|---|---|---|---|---|---|',
  ];
  for (const kind of KINDS) {
    const size = (schema: CacheSchema) => {
      const rb = rowBytes({ schema, K: o.classes, dtype: kind.dtype, topk: kind.topk });
      return { rb, total: rows * rb + shards * headerBytes(schema, o.classes, kind.dtype, kind.topk, rows) };
    };
    const a = size(SCHEMA);
    const b = size(SCHEMA_V1);
    lines.push(`| ${kind.label} | ${kind.v2} | ${a.rb} | ${kind.v1} | ${b.rb} | ${gb(a.total)} | ${gb(b.total)} |`);
  }
  return lines;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const o = { images: arg('images', IMAGENET_500.images), views: arg('views', IMAGENET_500.views), classes: arg('classes', IMAGENET_500.classes) };
  console.log(`${o.images} images × ${o.views} views = ${o.images * o.views} rows in ${Math.ceil((o.images * o.views) / DEFAULT_SHARD_ROWS)} shards of ${DEFAULT_SHARD_ROWS} rows`);
  for (const l of sizeTable(o)) console.log(l);
  for (const kind of KINDS) console.log(`${kind.label}: shard header ${headerBytes(SCHEMA, o.classes, kind.dtype, kind.topk, o.images * o.views)} bytes (${SCHEMA}), ${headerBytes(SCHEMA_V1, o.classes, kind.dtype, kind.topk, o.images * o.views)} (${SCHEMA_V1})`);
}
