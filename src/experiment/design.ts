/**
 * The experiment design file (`tfkd experiment FILE.(json|yaml)`): its loader (JSON or YAML, with
 * `--set` overrides) and the resolution of each run's options; the schema is in design-schema.ts,
 * the checks that need more than one field in design-checks.ts (import each from its owner). Every problem is reported as `FILE: path.in[2].file: message`
 * and becomes a UsageError (exit 2), so a typo in a design never starts an hour of training.
 *
 * Layering of values, lowest first (the same for `train` and `loss`):
 *   built-in per-kind loss defaults (docs/PAPER.md)  <  top-level `train` / `loss`  <  the run's (or teacher's) own
 * Top-level loss options are defaults and silently skip kinds that do not use them; an option
 * written on a run that its kind does not use is an error (it would otherwise be ignored).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { UsageError, optionName } from '../errors.js';
import { checkDesign } from './design-checks.js';
import { designSchema, type Design } from './design-schema.js';


/** A loaded, validated design, with where it came from (relative ONNX paths resolve against `dir`). */
export interface LoadedDesign {
  file: string;
  dir: string;
  design: Design;
  /** `--set PATH=VALUE` overrides applied to the file before validation (recorded in plan.json). */
  overrides?: string[];
}

/** `runs[2].kind` — the path as the user sees it in the file. */
function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let s = '';
  for (const k of p) {
    if (typeof k === 'number') s += `[${k}]`;
    else s += s ? `.${String(k)}` : String(k);
  }
  return s || '(top level)';
}

function formatIssues(file: string, err: z.ZodError): string[] {
  const out: string[] = [];
  for (const i of err.issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) out.push(`${file}: ${formatPath([...i.path, k])}: unknown key`);
    } else {
      out.push(`${file}: ${formatPath(i.path)}: ${i.message}`);
    }
  }
  return out;
}

/** Throws one UsageError listing every problem (one per line). */
function fail(problems: string[]): never {
  const [first, ...rest] = problems;
  throw new UsageError(rest.length ? `${first}\n${rest.map((r) => `  ${r}`).join('\n')}` : first, 'see docs/EXPERIMENTS.md for the design file format');
}

/** Parses and validates a design from text (`name` is used in messages and picks JSON vs YAML). */
export function parseDesign(text: string, name: string, overrides: readonly string[] = []): Design {
  let raw: unknown;
  try {
    raw = name.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`${name}: not valid ${name.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UsageError(`${name}: a design must be a mapping with "data" and "runs"`);
  for (const o of overrides) applyOverride(raw as Record<string, unknown>, o, name);
  const r = designSchema.safeParse(raw);
  if (!r.success) fail(formatIssues(name, r.error));
  const problems = checkDesign(r.data).map((p) => `${name}: ${p}`);
  if (problems.length) fail(problems);
  return r.data;
}

export function loadDesign(file: string, overrides: readonly string[] = []): LoadedDesign {
  if (!/\.(json|ya?ml)$/.test(file)) throw new UsageError(`${file}: a design file ends in .json, .yaml or .yml`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const design = parseDesign(text, file, overrides);
  return { file, dir: path.dirname(path.resolve(file)), design, ...(overrides.length ? { overrides: [...overrides] } : {}) };
}

/**
 * `--set PATH=VALUE`: sets one value of the parsed file before it is validated. PATH is written as
 * in error messages (`train.epochs`, `teachers.r20.train.epochs`, `runs[3].sweep`); VALUE is YAML
 * (`2`, `[1, 2]`, `false`, `{ alpha: [0.3] }`); `null` removes the key. Missing mappings on the
 * way are created; list indices must exist. The result is validated like the file itself.
 */
function applyOverride(raw: Record<string, unknown>, set: string, file: string): void {
  const eq = set.indexOf('=');
  const bad = (why: string): never => {
    throw new UsageError(`${optionName('set')} ${set}: ${why}`, `write ${optionName('set')} PATH=VALUE, e.g. ${optionName('set')} train.epochs=2 or ${optionName('set')} "runs[1].seeds=[1, 2]"`);
  };
  if (eq <= 0) bad('expected PATH=VALUE');
  const pathText = set.slice(0, eq).trim();
  const parts: Array<string | number> = [];
  for (const seg of pathText.split('.')) {
    const m = /^([A-Za-z0-9_.-]*)((?:\[\d+\])*)$/.exec(seg);
    if (!m || (m[1] === '' && m[2] === '')) bad(`bad path "${pathText}"`);
    if (m![1]) parts.push(m![1]);
    for (const i of m![2].matchAll(/\[(\d+)\]/g)) parts.push(Number(i[1]));
  }
  let value: unknown;
  try {
    value = parseYaml(set.slice(eq + 1));
  } catch (e) {
    bad(`value is not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  let node: unknown = raw;
  for (let i = 0; i < parts.length - 1; i++) {
    const k = parts[i];
    const container = node as Record<string | number, unknown>;
    if (typeof k === 'number') {
      if (!Array.isArray(node) || k >= node.length) bad(`${formatPath(parts.slice(0, i + 1))} does not exist in ${file}`);
    } else if (node === null || typeof node !== 'object' || Array.isArray(node)) {
      bad(`${formatPath(parts.slice(0, i))} is not a mapping in ${file}`);
    } else if (container[k] === undefined || container[k] === null) {
      container[k] = typeof parts[i + 1] === 'number' ? bad(`${formatPath(parts.slice(0, i + 1))} does not exist in ${file}`) : {};
    }
    node = container[k];
  }
  const last = parts[parts.length - 1];
  if (typeof last === 'number') {
    if (!Array.isArray(node) || last >= node.length) bad(`${formatPath(parts)} does not exist in ${file}`);
  } else if (node === null || typeof node !== 'object' || Array.isArray(node)) {
    bad(`${formatPath(parts.slice(0, -1))} is not a mapping in ${file}`);
  }
  const target = node as Record<string | number, unknown>;
  if (value === null && typeof last === 'string') delete target[last];
  else target[last] = value;
}

