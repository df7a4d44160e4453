import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { SourceCapabilities } from './dataset.js';

/**
 * Data SPEC strings (docs/ARCHITECTURE.md §2):
 *   fashion-mnist[:DIR]  (default DIR /usr/share/datasets/fashion-mnist)   mnist:DIR
 *   cifar10:DIR   cifar100:DIR   folder:DIR   list:FILE   tar:DIR   synthetic:N:K:HxWxC[:seed]
 * Everything after the first `:` of a directory kind is the directory, so a DIR may itself
 * contain colons. Parsing is purely syntactic; readers check that directories and files exist.
 */
export const DATA_KINDS = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100', 'folder', 'list', 'tar', 'synthetic'] as const;
export type DataKind = (typeof DATA_KINDS)[number];

export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export type DirSpec = { kind: 'fashion-mnist' | 'mnist' | 'cifar10' | 'cifar100' | 'folder' | 'tar'; dir: string };
/** `list:FILE`: a CSV/TSV of image paths and labels (list.ts). */
type ListSpec = { kind: 'list'; file: string };
export type SyntheticSpec = {
  kind: 'synthetic';
  n: number;
  k: number;
  height: number;
  width: number;
  channels: number;
  seed: number;
};
export type DataSpec = DirSpec | ListSpec | SyntheticSpec;

/**
 * The data sources' registry: each kind's spec form, what it reads and what it can do
 * (SourceCapabilities, dataset.ts: the readers take theirs from here). Every `--data` help text
 * and every spec error's list of valid forms is generated from it (a Record over DATA_KINDS, so a
 * new kind cannot be left out of the help). Precompute and train ask these capabilities, never a
 * reader's class.
 */
export interface DataSource {
  form: string;
  about: string;
  capabilities: SourceCapabilities;
}
const PACKED: SourceCapabilities = { access: 'random', size: 'fixed', renderPool: false };
export const DATA_SOURCES: Readonly<Record<DataKind, DataSource>> = {
  'fashion-mnist': { form: 'fashion-mnist[:DIR]', about: `IDX files (default DIR ${DEFAULT_FASHION_MNIST_DIR})`, capabilities: PACKED },
  mnist: { form: 'mnist:DIR', about: 'IDX files', capabilities: PACKED },
  cifar10: { form: 'cifar10:DIR', about: 'the binary version', capabilities: PACKED },
  cifar100: { form: 'cifar100:DIR', about: 'the binary version', capabilities: PACKED },
  folder: { form: 'folder:DIR', about: 'one sub-folder per class (optional train/ + test/)', capabilities: { access: 'random', size: 'variable', renderPool: true } },
  list: { form: 'list:FILE', about: 'a CSV/TSV of path,label lines', capabilities: { access: 'random', size: 'variable', renderPool: true } },
  tar: { form: 'tar:DIR', about: 'WebDataset .tar shards of cls + jpg members (optional train/ + test/)', capabilities: { access: 'sequential', size: 'variable', renderPool: true } },
  synthetic: { form: 'synthetic:N:K:HxWxC[:seed]', about: 'seeded generated images', capabilities: PACKED },
};

/** The valid spec forms, in DATA_KINDS order, joined by `sep`. */
const dataSpecForms = (sep = ' | '): string => DATA_KINDS.map((k) => DATA_SOURCES[k].form).join(sep);

/** The help text of a `--data` option (or a `<spec>` argument): `lead` then every form. */
export const dataSpecHelp = (lead = 'data SPEC'): string => `${lead}: ${dataSpecForms()}`;

// Spec errors are one self-contained line (no separate hint): they name what was wrong and the valid form.
const FORMS = dataSpecForms(', ');
const SYN_FORM = '(expected synthetic:N:K:HxWxC[:seed])';

/** Limits for synthetic data: large enough for any experiment, small enough to refuse typos. */
const SYN_MAX_N = 10_000_000;
const SYN_MAX_SIDE = 1024;

function positiveInt(s: string, what: string, spec: string, max: number, min = 1): number {
  if (!/^\d+$/.test(s)) throw new UsageError(`bad data spec "${spec}": ${what} must be an integer, got "${s}" ${SYN_FORM}`);
  const v = Number(s);
  if (v < min || v > max) throw new UsageError(`bad data spec "${spec}": ${what} must be in [${min}, ${max}], got ${v} ${SYN_FORM}`);
  return v;
}

export function parseDataSpec(spec: string): DataSpec {
  if (typeof spec !== 'string' || spec.trim() === '') throw new UsageError(`empty data spec (valid: ${FORMS})`);
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? undefined : spec.slice(colon + 1);
  switch (kind) {
    case 'fashion-mnist':
    case 'mnist':
    case 'cifar10':
    case 'cifar100':
    case 'folder':
    case 'tar': {
      let dir = rest;
      if (dir === undefined || dir === '') {
        if (kind !== 'fashion-mnist') throw new UsageError(`bad data spec "${spec}": ${kind} needs a directory (${kind}:DIR)`);
        dir = DEFAULT_FASHION_MNIST_DIR;
      }
      return { kind, dir: resolve(dir) };
    }
    case 'list': {
      if (rest === undefined || rest === '') throw new UsageError(`bad data spec "${spec}": list needs a file (list:FILE, a CSV/TSV of path,label lines)`);
      return { kind, file: resolve(rest) };
    }
    case 'synthetic': {
      const parts = rest === undefined ? [] : rest.split(':');
      if (parts.length < 3 || parts.length > 4) {
        throw new UsageError(`bad data spec "${spec}" ${SYN_FORM}`);
      }
      const n = positiveInt(parts[0], 'N', spec, SYN_MAX_N);
      const k = positiveInt(parts[1], 'K', spec, 1000, 2);
      const m = /^(\d+)x(\d+)x(\d+)$/.exec(parts[2]);
      if (!m) throw new UsageError(`bad data spec "${spec}": shape must be HxWxC, got "${parts[2]}" ${SYN_FORM}`);
      const height = positiveInt(m[1], 'H', spec, SYN_MAX_SIDE);
      const width = positiveInt(m[2], 'W', spec, SYN_MAX_SIDE);
      const channels = positiveInt(m[3], 'C', spec, 4);
      const seed = parts.length === 4 ? positiveInt(parts[3], 'seed', spec, 0xffffffff, 0) : 0;
      return { kind: 'synthetic', n, k, height, width, channels, seed };
    }
    default:
      throw new UsageError(`unknown data set kind "${kind}" in spec "${spec}" (valid: ${FORMS})`);
  }
}

/** The canonical string of a parsed spec (absolute directory; synthetic always with its seed). */
export function formatDataSpec(s: DataSpec): string {
  if (s.kind === 'synthetic') return `synthetic:${s.n}:${s.k}:${s.height}x${s.width}x${s.channels}:${s.seed}`;
  if (s.kind === 'list') return `list:${s.file}`;
  return `${s.kind}:${s.dir}`;
}
