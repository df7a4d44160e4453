/**
 * A whole verification from names — what `tfkd verify` and the library's `verifyCache()` do: the
 * structural checks (checksums, manifest, coverage: verify.ts), and, given the teacher and the
 * data, a seeded sample of rows recomputed and compared with the cache.
 */
import { checkIntegerOptions, optionName, UsageError } from '../errors.js';
import { parseAugmentSpec } from '../data/augment.js';
import { fingerprint } from '../data/fingerprint.js';
import { openDataset } from '../data/open.js';
import { openTeacher } from '../teacher/session.js';
import type { TeacherDevice as Device } from '../catalog.js';
import { openCache } from './reader.js';
import { verifyRecompute, verifyStructure, type RecomputeReport, type StructureReport } from './verify.js';

export interface VerifyOptions {
  /** The teacher the cache was made with (with `data`: recompute rows). */
  teacher?: string;
  /** The data spec the cache was made from (with `teacher`). */
  data?: string;
  /** Split to read. Default: the cache's. */
  split?: 'train' | 'test';
  /** Rows to recompute. Default: 64. */
  sample?: number;
  /** Seed of the row draw. Default: 0. */
  seed?: number;
  /** Device of the recompute. Default: 'cpu' (the cache is compared within a tolerance). */
  device?: Device;
  /** onnxruntime threads. Default: all cores. */
  threads?: number;
  /**
   * The options the caller set on purpose (the CLI: the flags typed). Without `teacher` and `data`
   * there is no recompute, and those of `split`, `sample`, `seed`, `device`, `threads` that were set
   * are refused (they would do nothing). Default: the ones given with a value other than their default.
   */
  explicit?: ReadonlySet<string>;
}

/** The options only the recompute check reads, with their defaults (undefined: none). */
const RECOMPUTE_OPTIONS: Readonly<Record<string, unknown>> = { split: undefined, sample: 64, seed: 0, device: 'cpu', threads: undefined };

/** Which of `options` the caller set: named in `o.explicit`, else given with a value other than the default. */
function setOptions(o: VerifyOptions, options: Readonly<Record<string, unknown>>): string[] {
  const values = o as Record<string, unknown>;
  return Object.keys(options).filter((k) => (o.explicit ? o.explicit.has(k) : values[k] !== undefined && values[k] !== options[k]));
}

export interface VerifyReport {
  /** Structure passed and, when rows were recomputed, they matched. */
  ok: boolean;
  structure: StructureReport;
  recompute: RecomputeReport | null;
}

/** Verifies the cache in `dir`; reports problems (never throws for a failed check, only for bad options). */
export async function runVerify(dir: string, o: VerifyOptions = {}): Promise<VerifyReport> {
  checkIntegerOptions(o, { sample: 1, seed: 0 });
  if ((o.teacher === undefined) !== (o.data === undefined)) throw new UsageError(`${optionName('teacher')} and ${optionName('data')} go together (both, to recompute rows; neither, for the structural checks)`);
  const unused = o.teacher === undefined ? setOptions(o, RECOMPUTE_OPTIONS) : [];
  if (unused.length) {
    const names = unused.map(optionName).join(', ');
    throw new UsageError(
      `${names} ${unused.length > 1 ? 'are' : 'is'} for the recompute check: give ${optionName('teacher')} and ${optionName('data')}`,
      `or leave ${unused.length > 1 ? 'them' : 'it'} out: without ${optionName('teacher')} and ${optionName('data')}, verify runs the structural checks only`,
    );
  }
  const structure = verifyStructure(dir);
  let recompute: RecomputeReport | null = null;
  if (structure.ok && o.teacher && o.data) {
    const reader = openCache(dir);
    const m = reader.manifest;
    const split = o.split ?? m.data.split;
    const dataset = await openDataset(o.data, { split });
    const teacher = await openTeacher(o.teacher, {
      device: o.device ?? 'cpu',
      threads: o.threads,
      output: m.teacher.outputName,
      layout: m.teacher.layout,
      preprocess: m.preprocess,
      ...(m.classMap ? { classMap: JSON.stringify(m.classMap.indices) } : {}),
      data: { shape: dataset.shape, numClasses: dataset.numClasses, classNames: dataset.classNames, variableSize: dataset.variableSize },
    });
    try {
      const aug = m.augment ? { spec: parseAugmentSpec(m.augment.spec), seed: m.augment.seed } : null;
      recompute = await verifyRecompute(reader, teacher, dataset, { sample: o.sample ?? 64, seed: o.seed ?? 0, fingerprint: await fingerprint(dataset), augment: aug });
    } finally {
      await teacher.close();
      reader.close();
    }
  }
  return { ok: structure.ok && (recompute?.ok ?? true), structure, recompute };
}
