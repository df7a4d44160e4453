/**
 * Teachers with more (or other) classes than the data set: `--class-map` says, for each data-set
 * class, which teacher output holds its logit — e.g. a 1000-class ImageNet teacher over a 10-class
 * ImageNet subset. The cache stores the selected logits (K = the data set's classes), in data-class
 * order, and the manifest records the map.
 *
 * Forms (a JSON string, or the path of a file holding it):
 *   [3, "tabby", 281, …]          one entry per data class, in data-class order;
 *   {"cat": 281, "dog": "beagle"}  keyed by the data set's class names (every class exactly once);
 *   "names"                        each data class maps to the teacher class of the same name.
 * An entry is a teacher output index, or a teacher class name. Teacher class names come from
 * `--teacher-labels FILE` (a JSON array, a JSON object {index: name} like HF's `id2label`, or a text
 * file with one name per line) or else from the model's metadata_props (`tfkd.classes`, `labels`,
 * `id2label`, `classes`, `class_names`: the same JSON forms).
 */
import { existsSync, readFileSync } from 'node:fs';
import { UsageError, optionName } from '../errors.js';

export interface ClassMap {
  /** Outputs of the teacher (before the map). */
  teacherK: number;
  /** indices[c] = the teacher output of data class c. */
  indices: number[];
  /** The teacher's names of those outputs, where known. */
  names?: string[];
}

const LABEL_METADATA_KEYS = ['tfkd.classes', 'labels', 'id2label', 'classes', 'class_names'] as const;

const hint = (): string => `give ${optionName('classMap')} as a JSON array (one teacher index or name per data class), a JSON object {"data class": teacher index or name}, "names", or a file holding one`;

/** Teacher class names from JSON text (array or {index: name}) or, with `lines`, one per line. */
function parseLabels(text: string, what: string, lines = false): string[] {
  const t = text.trim();
  if (t.startsWith('[') || t.startsWith('{')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (e) {
      throw new UsageError(`${what}: not valid JSON (${(e as Error).message})`);
    }
    if (Array.isArray(v)) {
      if (!v.every((x) => typeof x === 'string')) throw new UsageError(`${what}: a labels array must hold strings`);
      return v as string[];
    }
    const obj = v as Record<string, unknown>;
    const out: string[] = [];
    for (const [k, name] of Object.entries(obj)) {
      if (!/^\d+$/.test(k) || typeof name !== 'string') throw new UsageError(`${what}: a labels object maps class indices to names, got ${JSON.stringify(k)}: ${JSON.stringify(name)}`);
      out[Number(k)] = name;
    }
    for (let i = 0; i < out.length; i++) if (out[i] === undefined) throw new UsageError(`${what}: no name for class ${i}`);
    return out;
  }
  if (!lines) throw new UsageError(`${what}: expected a JSON array or object of class names`);
  return t.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}

/** The teacher's class names: the labels file if given, else the model's metadata, else none. */
export function teacherLabels(labelsFile: string | undefined, metadata: Record<string, string>, file: string): string[] | undefined {
  if (labelsFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(labelsFile, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read ${optionName('teacherLabels')} ${labelsFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return parseLabels(text, `--teacher-labels ${labelsFile}`, true);
  }
  for (const key of LABEL_METADATA_KEYS) {
    if (metadata[key] !== undefined) return parseLabels(metadata[key], `metadata ${key} of ${file}`);
  }
  return undefined;
}

/** Parses and resolves `--class-map` against the data's classes and the teacher's outputs. */
export function resolveClassMap(
  src: string,
  data: { numClasses: number; classNames?: readonly string[] },
  teacher: { K: number; labels?: string[]; file: string },
): ClassMap {
  let text = src.trim();
  let what = '--class-map';
  if (text !== 'names' && !text.startsWith('[') && !text.startsWith('{')) {
    if (!existsSync(src)) throw new UsageError(`${optionName('classMap')}: neither JSON, "names", nor an existing file: ${src}`, hint());
    text = readFileSync(src, 'utf8').trim();
    what = `--class-map file ${src}`;
  }
  const dataNames = data.classNames ?? Array.from({ length: data.numClasses }, (_, i) => String(i));
  let entries: unknown[];
  if (text === 'names') entries = [...dataNames];
  else {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`invalid ${what}: not valid JSON (${(e as Error).message})`, hint());
    }
    if (Array.isArray(v)) {
      if (v.length !== data.numClasses) throw new UsageError(`${what} has ${v.length} entries, the data set has ${data.numClasses} classes`, hint());
      entries = v;
    } else if (v && typeof v === 'object') {
      const obj = v as Record<string, unknown>;
      for (const k of Object.keys(obj)) if (!dataNames.includes(k)) throw new UsageError(`${what} names "${k}", which is not a class of the data set (${dataNames.slice(0, 5).join(', ')}${dataNames.length > 5 ? ', …' : ''})`);
      const missing = dataNames.filter((n) => !(n in obj));
      if (missing.length) throw new UsageError(`${what} does not map the data class(es) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`, hint());
      entries = dataNames.map((n) => obj[n]);
    } else throw new UsageError(`invalid ${what}: expected an array or object`, hint());
  }
  const byName = new Map<string, number>();
  const dup = new Set<string>();
  teacher.labels?.forEach((n, i) => (byName.has(n) ? dup.add(n) : byName.set(n, i)));
  const indices = entries.map((e, c) => {
    const cls = `data class ${c} (${dataNames[c]})`;
    if (typeof e === 'number') {
      if (!Number.isInteger(e) || e < 0 || e >= teacher.K) throw new UsageError(`${what}: ${cls} maps to output ${e}, but ${teacher.file} has outputs 0…${teacher.K - 1}`);
      return e;
    }
    if (typeof e !== 'string') throw new UsageError(`${what}: ${cls} maps to ${JSON.stringify(e)}; expected a teacher output index or class name`);
    if (!teacher.labels) {
      throw new UsageError(`${what}: ${cls} names the teacher class "${e}", but ${teacher.file} has no class names`, `pass ${optionName('teacherLabels')} FILE (JSON array or object, or one name per line) or map to output indices`);
    }
    if (dup.has(e)) throw new UsageError(`${what}: the teacher class name "${e}" is ambiguous (several outputs of ${teacher.file} carry it); map to an index`);
    const i = byName.get(e);
    if (i === undefined) throw new UsageError(`${what}: ${cls} names "${e}", which is not a class of ${teacher.file}`);
    if (i >= teacher.K) throw new UsageError(`${what}: "${e}" is label ${i} but ${teacher.file} has ${teacher.K} outputs`);
    return i;
  });
  const seen = new Map<number, number>();
  indices.forEach((t, c) => {
    if (seen.has(t)) throw new UsageError(`${what}: data classes ${seen.get(t)} and ${c} both map to teacher output ${t}`);
    seen.set(t, c);
  });
  return { teacherK: teacher.K, indices, ...(teacher.labels ? { names: indices.map((i) => teacher.labels![i]) } : {}) };
}
