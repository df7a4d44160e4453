/**
 * What a run directory recorded against what is on disk now: the caches a run trained on (key and
 * shard hashes in RUN/manifest.json) and its checkpoints (weights sha256 in `outputs`). Used by
 * `train --resume`, `eval`, `export` and `repro`; every mismatch is a WorkError (exit 1) naming
 * the file and what differs — never a silent fallback.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, WorkError } from '../../errors.js';
import type { CacheReader } from '../../cache/reader.js';
import { sha256File } from '../../util/hash.js';
import { readJson, runOfCheckpoint, runPaths } from './run-dir.js';

/** A cache as RUN/manifest.json records it (train.ts cacheRecord). */
export interface RunCacheRecord {
  dir: string;
  key: string;
  shards?: Array<{ file: string; sha256: string }>;
}

/** The parts of RUN/manifest.json these checks read. */
export interface RunRecord {
  schema?: string;
  caches?: RunCacheRecord[];
  /** --test-cache: the cache the fidelity figures were measured against. */
  testCache?: RunCacheRecord;
  loss?: { name?: string; source?: { kind: string; sha256?: string; spec?: string } };
  finished?: string | null;
  outputs?: Record<string, string>;
  /** The training data: its spec and the train split's fingerprint (data/fingerprint.ts). */
  data?: { spec?: string; fingerprint?: string };
}

/** One of a run's JSON files (config.json, manifest.json); WorkError naming it when it is not JSON. */
export function readRunJson<T>(file: string): T {
  try {
    return readJson<T>(file);
  } catch (e) {
    throw new WorkError(`${file}: corrupt — not valid JSON (${(e as Error).message})`);
  }
}

/** RUN/manifest.json, or null when the run has none (yet); WorkError when it is not JSON. */
export function readRunRecord(run: string): RunRecord | null {
  const f = runPaths(run).manifest;
  return fs.existsSync(f) ? readRunJson<RunRecord>(f) : null;
}

/**
 * A loss module's bytes against the sha256 the run recorded: a changed module would continue (or
 * reproduce) the run with another loss. Built-in losses are part of tfkd's version (recorded too).
 */
export function checkLossAgainstRecord(run: string, recorded: { kind: string; sha256?: string } | undefined, now: { source: { kind: string; sha256?: string } }): void {
  if (!recorded || recorded.kind !== 'module' || now.source.kind !== 'module') return;
  if (recorded.sha256 !== now.source.sha256) {
    throw new WorkError(`${runPaths(run).manifest} records loss module sha256 ${recorded.sha256}, the module now has ${now.source.sha256}`, 'restore the module the run was trained with');
  }
}

/**
 * The files and directories a run recorded (resolve.ts recordedPaths), before `--resume` or
 * `repro` opens them again. A run of a tfkd before paths were recorded absolute has them as they
 * were given, relative to the directory it was trained in (an `onnx:` student and a loss module
 * still are): from another directory such a path is not found, and is named as such (exit 2) —
 * not as, say, "not a complete tfkd cache". An absolute cache that is gone is missing input (exit 1).
 */
export function checkRecordedPaths(run: string, paths: ReadonlyArray<{ what: string; path: string }>, action: 'resume' | 'repro'): void {
  for (const { what, path: p } of paths) {
    if (fs.existsSync(p)) continue;
    if (!path.isAbsolute(p)) {
      throw new UsageError(`${run} records the ${what} ${p} relative to the directory it was trained in, and ${process.cwd()} has none`, `${action === 'resume' ? 'resume the run' : 'run tfkd repro'} from that directory`);
    }
    if (what === 'cache') throw new WorkError(`${p}, a cache ${run} records, is gone`, `restore it there to ${action === 'resume' ? 'resume' : 'reproduce'} the run`);
  }
}

/**
 * The caches opened now (in `--cache` order) against those the run recorded: same number, same
 * key, same shard files with the same sha256.
 */
export function checkCachesAgainstRecord(run: string, recorded: readonly RunCacheRecord[], caches: readonly CacheReader[], use = 'trained on'): void {
  const where = runPaths(run).manifest;
  if (recorded.length !== caches.length) {
    throw new WorkError(`${where} records ${recorded.length} cache(s), the run now has ${caches.length}`, `resume with the caches the run ${use}`);
  }
  recorded.forEach((r, i) => {
    const c = caches[i];
    if (c.key !== r.key) {
      throw new WorkError(
        `cache ${c.dir} is not the cache the run ${use}: its key is ${c.key.slice(0, 16)}…, ${where} records ${r.key.slice(0, 16)}… (teacher now ${c.manifest.teacher.file})`,
        'restore the original cache (or precompute it again with the same teacher, data and options)',
      );
    }
    const now = new Map(c.manifest.shards.map((s) => [s.file, s.sha256] as const));
    for (const s of r.shards ?? []) {
      const sha = now.get(s.file);
      if (sha !== s.sha256) {
        throw new WorkError(
          `cache ${c.dir}: ${s.file} ${sha === undefined ? 'is not in its manifest' : `has sha256 ${sha.slice(0, 16)}…`}, ${where} records ${s.sha256.slice(0, 16)}…`,
          'restore the original cache',
        );
      }
    }
  });
}

/**
 * A checkpoint of a finished session against the weights sha256 its run recorded (`outputs`).
 * Only a run whose last session ended (`finished` set) has outputs that describe its checkpoints
 * exactly; an interrupted one is checked by the checkpoint's own hashes (readCheckpoint) alone.
 */
export function checkCheckpointAgainstRun(checkpointDir: string): void {
  const run = runOfCheckpoint(checkpointDir);
  if (!run) return;
  const rec = readRunRecord(run);
  if (!rec || !rec.finished || !rec.outputs) return;
  const rel = `checkpoints/${path.basename(checkpointDir)}/weights.safetensors`;
  const want = rec.outputs[rel];
  const file = path.join(run, rel);
  if (want === undefined) {
    if (fs.existsSync(file)) throw new WorkError(`${file} is not among the outputs ${runPaths(run).manifest} records (added after the run finished)`);
    return;
  }
  if (!fs.existsSync(file)) throw new WorkError(`${file} is missing (${runPaths(run).manifest} records it)`);
  const now = sha256File(file);
  if (now !== want) throw new WorkError(`${file} changed after training: sha256 ${now.slice(0, 16)}…, ${runPaths(run).manifest} recorded ${want.slice(0, 16)}…`, 'restore the checkpoint or train again');
}
