import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { Split } from './dataset.js';
import { ImageFilesDataset, type FilesOptions } from './files.js';

/**
 * `list:FILE`: a text file of `path<sep>label` lines, paths relative to the file's directory — how
 * ImageNet's validation labels and many data sets ship.
 *   - separator: a tab when the first line has one, else a comma when it has one, else white space
 *     (ImageNet's `val.txt`: `ILSVRC2012_val_00000001.JPEG 65`); with commas, fields may be
 *     double-quoted ("a, b.jpg") with "" for a quote;
 *   - a first line whose first field is `path`, `file`, `filename`, `image` or `image_path` (any
 *     case) is a header and skipped; blank lines and lines starting with '#' are skipped;
 *   - labels: when every label is a non-negative integer, it is the class index (K = largest + 1,
 *     class names "0", "1", …); otherwise labels are class names, indexed in sorted order (as
 *     ImageFolder indexes its folder names). Mixed → error.
 * The list file is one split (`split` is recorded, not used to choose). Its sha256 goes into the
 * data fingerprint along with every listed file's name, label and size.
 */

const HEADER_FIELDS = new Set(['path', 'file', 'filename', 'image', 'image_path']);
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function splitCsv(line: string, where: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new UsageError(`${where}: unterminated quoted field`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new UsageError(`${where}: text after a quoted field`);
      out.push(v);
      i++;
    } else {
      const j = line.indexOf(',', i);
      const end = j < 0 ? line.length : j;
      out.push(line.slice(i, end).trim());
      i = end + 1;
    }
  }
  return out;
}

export function parseList(text: string, file: string): { paths: string[]; rawLabels: string[] } {
  // A UTF-8 byte-order mark (Excel's "CSV UTF-8") is no part of the first field, quoted or not.
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const first = lines.find((l) => l.trim() !== '' && !l.startsWith('#')) ?? '';
  const sep: 'tab' | 'comma' | 'space' = first.includes('\t') ? 'tab' : first.includes(',') ? 'comma' : 'space';
  const paths: string[] = [];
  const rawLabels: string[] = [];
  let seenFirst = false;
  lines.forEach((line, n) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const where = `${file} line ${n + 1}`;
    let fields: string[];
    if (sep === 'tab') fields = line.split('\t').map((f) => f.trim());
    else if (sep === 'comma') fields = splitCsv(line, where);
    else {
      const m = /^(.*\S)\s+(\S+)\s*$/.exec(line.trim());
      fields = m ? [m[1], m[2]] : [line.trim()];
    }
    if (!seenFirst) {
      seenFirst = true;
      if (HEADER_FIELDS.has(fields[0].toLowerCase())) return;
    }
    if (fields.length !== 2 || fields[0] === '' || fields[1] === '') {
      throw new UsageError(`${where}: expected "path${sep === 'tab' ? '<TAB>' : sep === 'comma' ? ',' : ' '}label", got ${JSON.stringify(line.slice(0, 120))}`);
    }
    paths.push(fields[0]);
    rawLabels.push(fields[1]);
  });
  if (paths.length === 0) throw new UsageError(`list data file ${file} lists no images`);
  return { paths, rawLabels };
}

export async function openList(file: string, split: Split, spec: string, opts: FilesOptions = {}): Promise<ImageFilesDataset> {
  let bytes: Buffer;
  try {
    if (!statSync(file).isFile()) throw new UsageError(`list data path is not a file: ${file}`);
    bytes = readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read list data file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { paths, rawLabels } = parseList(bytes.toString('utf8'), file);
  const root = dirname(file);
  const files = paths.map((p) => {
    const rel = isAbsolute(p) ? relative(root, p) : relative(root, resolve(root, p));
    return rel.split('\\').join('/');
  });
  const numeric = rawLabels.map((l) => /^\d+$/.test(l));
  let classNames: string[];
  let labels: Int32Array;
  if (numeric.every(Boolean)) {
    labels = Int32Array.from(rawLabels, Number);
    // A loop, not Math.max(...labels): a spread passes every label on the stack, which overflows
    // past ~120 000 arguments (ImageNet's training list has 1.28 M lines).
    let top = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] > top) top = labels[i];
    const K = top + 1;
    classNames = Array.from({ length: K }, (_, i) => String(i));
  } else if (numeric.some(Boolean)) {
    const i = numeric.indexOf(true);
    throw new UsageError(`list data file ${file}: labels mix class indices (e.g. "${rawLabels[i]}") and class names (e.g. "${rawLabels[numeric.indexOf(false)]}")`);
  } else {
    classNames = [...new Set(rawLabels)].sort(byCodeUnit);
    const index = new Map(classNames.map((c, i) => [c, i]));
    labels = Int32Array.from(rawLabels, (l) => index.get(l)!);
  }
  const fingerprintExtra = `list-sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return ImageFilesDataset.open({ kind: 'list', spec, split, root, files, labels, classNames, fingerprintExtra }, opts);
}
