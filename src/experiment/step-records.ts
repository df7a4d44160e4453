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

/** What `records/<type>-<key8>.json` holds: every output file of a finished step and its sha256. */
interface StepRecord {
  schema: 'tfkd-experiment-step/1';
  key: string;
  type: Step['type'];
  path: string;
  /** Path relative to the experiment directory → sha256. */
  files: Record<string, string>;
}

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

export function writeStepRecord(outDir: string, s: Step): void {
  const files: Record<string, string> = {};
  for (const f of outputFiles(outDir, s)) files[f] = sha256File(path.join(outDir, f));
  const rec: StepRecord = { schema: 'tfkd-experiment-step/1', key: s.key, type: s.type, path: stepPath(s), files };
  writeJsonAtomic(recordPath(outDir, s), rec);
}

/**
 * Checks a finished step's outputs before they are reused (see the module comment); throws
 * WorkError naming the file and what differs.
 */
export function verifyReused(outDir: string, s: Step, byKey: Map<string, Step>): void {
  const recFile = recordPath(outDir, s);
  const rec = readJsonFile<StepRecord>(recFile);
  const redo = `delete ${stepPath(s)} (and ${path.relative(outDir, recFile)}) to redo the step`;
  if (rec) {
    if (rec.key !== s.key) throw new WorkError(`${recFile} belongs to step ${rec.key.slice(0, 8)}…, not ${s.key.slice(0, 8)}…`, redo);
    for (const [f, sha] of Object.entries(rec.files)) {
      const full = path.join(outDir, f);
      if (!fs.existsSync(full)) throw new WorkError(`reused ${s.type} output ${full} is missing (${path.relative(outDir, recFile)} records it)`, redo);
      const now = sha256File(full);
      if (now !== sha) throw new WorkError(`reused ${s.type} output ${full} changed since the step finished: sha256 ${now.slice(0, 16)}…, recorded ${sha.slice(0, 16)}…`, redo);
    }
    return;
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
