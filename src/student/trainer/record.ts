/**
 * What a run's manifest.json records beyond its config: versions, the native add-on's threads, each
 * cache's identity (key, teacher, shard hashes), and the sha256 of every checkpoint (what `tfkd
 * repro` compares).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createdBy } from '../../cache/manifest.js';
import type { CacheReader } from '../../cache/reader.js';
import type { BackendInfo } from '../backend.js';
import { loadNative } from '../kernels/native.js';
import { sha256File } from '../../util/hash.js';
import { tf } from '../tf.js';
import { runPaths } from './run-dir.js';

export function versions(): Record<string, string | null> {
  const c = createdBy();
  return { tfkd: c.tfkd, git: c.git, tfjs: tf.version_core, node: process.version };
}

export function nativeThreads(backend: BackendInfo): number | null {
  return backend.kernels === 'wasm+native-blas' ? (loadNative().addon?.getThreads() ?? null) : null;
}

/** `checkpoints/NAME/weights.safetensors` → sha256, for every checkpoint in the run (sorted). */
export function hashCheckpoints(run: string): Record<string, string> {
  const dir = runPaths(run).checkpoints;
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const name of fs.readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue; // temp / trash copies of a directory swap, not checkpoints
    const file = path.join(dir, name, 'weights.safetensors');
    if (fs.existsSync(file)) out[`checkpoints/${name}/weights.safetensors`] = sha256File(file);
  }
  return out;
}

export function cacheRecord(c: CacheReader) {
  return {
    dir: c.dir,
    key: c.key,
    baseKey: c.manifest.baseKey,
    teacher: { file: c.manifest.teacher.file, sha256: c.manifest.teacher.sha256 },
    views: c.views,
    augment: c.manifest.augment,
    topk: c.topk,
    shards: c.manifest.shards.map((s) => ({ file: s.file, sha256: s.sha256 })),
  };
}
