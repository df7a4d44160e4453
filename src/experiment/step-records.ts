/**
 * What says an experiment step is done, and what proves its outputs are the ones it made. Each
 * step type has a *commit record*, written last, whose presence means finished:
 *   train       RUN/summary.json (written last by the trainer) + every wanted checkpoint dir
 *               (+ with test_cache: the fidelity figures, measured against that cache)
 *   export      teachers/X.onnx.json (written by execute.ts, last, after the ONNX file)
 *   precompute  caches/K/manifest.json (written last by precompute)
 *   data/select protocol.ts protocolFinished
 * and, once finished, a *step record* (`records/<type>-<key8>.json`: the sha256 of every output
 * file) that a reused step is checked against. A finished step without a step record (a kill
 * between its commit and the record) is checked as far as it can be — a cache by
 * `verifyStructure` and its teacher's sha256 — and then recorded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkError } from '../errors.js';
import { manifestSchema } from '../cache/manifest.js';
import { verifyStructure } from '../cache/verify.js';
import { sha256File } from '../util/hash.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { key8 } from './plan-keys.js';
import type { ExportStep, Step } from './plan-types.js';
import { protocolFinished } from './protocol.js';
import { readJsonFile } from './fsutil.js';

/** A step's output, relative to the experiment directory: an export's ONNX file, every other step's directory. */
export const stepPath = (s: Step): string => (s.type === 'export' ? s.out : s.dir);

/**
 * What `records/<type>-<key8>.json` holds: every output file of a finished step and its sha256.
 * One step (one key) may have been finished under several paths — the names in a design are not
 * part of keys, so renaming a run moves its output (adoptable) — and the record keeps the files of
 * each, so that every copy is checked when a design reuses it.
 */
interface StepRecord {
  schema: 'tfkd-experiment-step/1';
  key: string;
  type: Step['type'];
  /** The path recorded last. */
  path: string;
  /** Every path whose files `files` holds (absent in records written before: `[path]`). */
  paths?: string[];
  /** Path relative to the experiment directory → sha256. */
  files: Record<string, string>;
}

/** Whether the output file `f` (relative to the experiment directory) is part of the output at `p`. */
const under = (f: string, p: string): boolean => f === p || f === `${p}.json` || f.startsWith(`${p}/`);

/** The record's files that belong to the output at `p`. */
const filesAt = (rec: StepRecord, p: string): Array<[string, string]> => Object.entries(rec.files).filter(([f]) => under(f, p));

/** The step as it would be at another output path. */
const atPath = (s: Step, p: string): Step => (s.type === 'export' ? { ...s, out: p } : { ...s, dir: p });

/** The record of step `s` (of its key), or null. */
function readRecord(outDir: string, s: Step): StepRecord | null {
  const rec = readJsonFile<StepRecord>(recordPath(outDir, s));
  return rec && rec.key === s.key && typeof rec.files === 'object' && typeof rec.path === 'string' ? rec : null;
}

const pathsOf = (rec: StepRecord): string[] => rec.paths ?? [rec.path];

export const recordPath = (outDir: string, s: Step): string => path.join(outDir, 'records', `${s.type}-${key8(s.key)}.json`);

/** The output files of a step (relative to the experiment directory), sorted. */
function outputFiles(outDir: string, s: Step): string[] {
  if (s.type === 'export') return [s.out, `${s.out}.json`].filter((f) => fs.existsSync(path.join(outDir, f)));
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(outDir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.push(r);
    }
  };
  if (fs.existsSync(path.join(outDir, s.dir))) walk(s.dir);
  return out.sort();
}

/** Records the step's output at its path, keeping what the record holds of the same step at other paths. */
export function writeStepRecord(outDir: string, s: Step): void {
  const p = stepPath(s);
  const prev = readRecord(outDir, s);
  const files: Record<string, string> = {};
  if (prev) for (const [f, sha] of Object.entries(prev.files)) if (!under(f, p)) files[f] = sha;
  for (const f of outputFiles(outDir, s)) files[f] = sha256File(path.join(outDir, f));
  const paths = [...(prev ? pathsOf(prev).filter((x) => x !== p) : []), p];
  const rec: StepRecord = { schema: 'tfkd-experiment-step/1', key: s.key, type: s.type, path: p, ...(paths.length > 1 ? { paths } : {}), files };
  writeJsonAtomic(recordPath(outDir, s), rec);
}

/** Removes what the step's record holds of its own path (the whole record when nothing else is left). */
export function forgetOutput(outDir: string, s: Step): void {
  const f = recordPath(outDir, s);
  const prev = readRecord(outDir, s);
  const p = stepPath(s);
  const paths = prev ? pathsOf(prev).filter((x) => x !== p) : [];
  if (paths.length === 0) {
    fs.rmSync(f, { force: true });
    return;
  }
  const files = Object.fromEntries(Object.entries(prev!.files).filter(([x]) => !under(x, p)));
  const rec: StepRecord = { schema: 'tfkd-experiment-step/1', key: s.key, type: s.type, path: paths[paths.length - 1], ...(paths.length > 1 ? { paths } : {}), files };
  writeJsonAtomic(f, rec);
}

/** Why the recorded files of the output at `p` are not what is on disk now, or null when they are. */
function recordedMismatch(outDir: string, rec: StepRecord, p: string, recFile: string): string | null {
  for (const [f, sha] of filesAt(rec, p)) {
    const full = path.join(outDir, f);
    if (!fs.existsSync(full)) return `output ${full} is missing (${path.relative(outDir, recFile)} records it)`;
    const now = sha256File(full);
    if (now !== sha) return `output ${full} changed since the step finished: sha256 ${now.slice(0, 16)}…, recorded ${sha.slice(0, 16)}…`;
  }
  return null;
}

/**
 * The finished output of the same step (same key) at another path — the run was renamed in the
 * design, or another design sharing the directory names it otherwise — intact against its record:
 * its path, or null. Names are not part of keys, so that output is this step's and is copied
 * (adoptOutput) instead of being made again.
 */
export function adoptableOutput(outDir: string, s: Step): string | null {
  const rec = readRecord(outDir, s);
  if (!rec) return null;
  const here = stepPath(s);
  for (const p of pathsOf(rec).filter((x) => x !== here).reverse()) {
    if (filesAt(rec, p).length === 0 || !isFinished(outDir, atPath(s, p))) continue;
    if (recordedMismatch(outDir, rec, p, recordPath(outDir, s)) === null) return p;
  }
  return null;
}

/**
 * Copies the finished output at `from` to the step's own path (whatever unfinished output was there
 * goes first, as a redo would remove it), commit record last, then records it.
 */
export function adoptOutput(outDir: string, s: Step, from: string): void {
  const to = stepPath(s);
  const src = path.join(outDir, from);
  const dst = path.join(outDir, to);
  const tmp = path.join(path.dirname(dst), `.tmp-adopt-${process.pid}-${path.basename(dst)}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  if (s.type === 'export') {
    // The ONNX file, then `<out>.json` (the commit record), each renamed into place.
    for (const [a, b] of [[src, dst], [`${src}.json`, `${dst}.json`]]) {
      fs.copyFileSync(a, tmp, fs.constants.COPYFILE_FICLONE);
      fs.renameSync(tmp, b);
    }
  } else {
    fs.cpSync(src, tmp, { recursive: true, mode: fs.constants.COPYFILE_FICLONE });
    fs.rmSync(dst, { recursive: true, force: true });
    fs.renameSync(tmp, dst);
  }
  writeStepRecord(outDir, s);
}

/**
 * Checks a finished step's outputs before they are reused (see the module comment); throws
 * WorkError naming the file and what differs.
 */
export function verifyReused(outDir: string, s: Step, byKey: Map<string, Step>): void {
  const recFile = recordPath(outDir, s);
  const rec = readJsonFile<StepRecord>(recFile);
  // Its record stays: it may also hold the same step's output under another name.
  const redo = `delete ${stepPath(s)} to redo the step`;
  if (rec) {
    if (rec.key !== s.key) throw new WorkError(`${recFile} belongs to step ${rec.key.slice(0, 8)}…, not ${s.key.slice(0, 8)}…`, redo);
    // Only the files of this path: the record may also hold the same step's output under another name.
    if (filesAt(rec, stepPath(s)).length > 0) {
      const why = recordedMismatch(outDir, rec, stepPath(s), recFile);
      if (why) throw new WorkError(`reused ${s.type} ${why}`, redo);
      return;
    }
  }
  // No record: check what the outputs say about themselves, then record them.
  if (s.type === 'precompute') {
    const dir = path.join(outDir, s.dir);
    const raw = readJsonFile<unknown>(path.join(dir, 'manifest.json'));
    const m = manifestSchema.safeParse(raw);
    if (m.success) {
      verifyStructure(dir, { throwOnFailure: true });
      const want = 'step' in s.teacher ? sha256File(path.join(outDir, (byKey.get(s.teacher.step) as ExportStep).out)) : s.teacher.sha256;
      if (m.data.teacher.sha256 !== want) {
        throw new WorkError(`reused cache ${dir} was made by teacher ${m.data.teacher.file} (sha256 ${m.data.teacher.sha256.slice(0, 16)}…), not this step's (${want.slice(0, 16)}…)`, redo);
      }
    }
  }
  writeStepRecord(outDir, s);
}

/**
 * Why the files `names` (relative to the step's output) of a finished step are not the ones its
 * record holds, or null when they are or nothing recorded them (an experiment from before records,
 * a kill before the record): the report leaves such a run out instead of showing edited figures.
 */
export function reportedFilesChanged(outDir: string, s: Step, names: readonly string[]): string | null {
  const rec = readRecord(outDir, s);
  if (!rec) return null;
  const p = stepPath(s);
  const at = new Map(filesAt(rec, p));
  if (at.size === 0) return null;
  for (const n of names) {
    const f = path.join(p, n);
    const full = path.join(outDir, f);
    const sha = at.get(f);
    if (sha === undefined) {
      if (fs.existsSync(full)) return `${full} appeared after the step finished`;
      continue;
    }
    if (!fs.existsSync(full)) return `${full} is missing`;
    if (sha256File(full) !== sha) return `${full} changed since the step finished`;
  }
  return null;
}

/**
 * Whether the run at `runDir` measured its fidelity against the cache in `cacheDir` (relative to
 * the experiment directory): its manifest names that cache and its summary has the figures. A run
 * trained before the design asked for them (or against another teacher's cache) is not finished.
 * Compared by the cache's last two path components (`caches/<key8>`), so the experiment may move.
 */
function measuredAgainst(runDir: string, cacheDir: string): boolean {
  const m = readJsonFile<{ testCache?: { dir?: string } }>(path.join(runDir, 'manifest.json'));
  const sum = readJsonFile<{ final_test_agreement?: unknown }>(path.join(runDir, 'summary.json'));
  const tail = (p: string) => path.resolve(p).split(path.sep).slice(-2).join('/');
  return typeof m?.testCache?.dir === 'string' && tail(m.testCache.dir) === tail(cacheDir) && typeof sum?.final_test_agreement === 'number';
}

/** Whether the step's commit record is on disk. */
export function isFinished(outDir: string, s: Step): boolean {
  const p = path.join(outDir, stepPath(s));
  switch (s.type) {
    case 'train':
      return fs.existsSync(path.join(p, 'summary.json')) && s.save_at.every((c) => fs.existsSync(path.join(p, 'checkpoints', c))) && (!s.test_cache || measuredAgainst(p, s.test_cache.dir));
    case 'export':
      return fs.existsSync(p) && fs.existsSync(`${p}.json`);
    case 'precompute':
      return fs.existsSync(path.join(p, 'manifest.json'));
    case 'data':
    case 'select':
      return protocolFinished(outDir, s);
  }
}
