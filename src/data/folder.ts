import { readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import type { Split } from './dataset.js';
import { ImageFilesDataset, type FilesOptions } from './files.js';
import { requireDir } from './paths.js';

/**
 * `folder:DIR`: one sub-folder per class, with torchvision's `ImageFolder` semantics:
 *   - classes: the sub-folders of DIR sorted by name, index = position;
 *   - images: the files with an image extension (case-insensitive) anywhere below a class folder,
 *     in ImageFolder's order: `sorted(os.walk(class_dir))` (directories by path, each one's files
 *     by name) — so `cat/z.png` comes before `cat/sub/a.png`;
 *   - a class folder without images is an error (ImageFolder's "Found no valid file" too);
 *   - symbolic links to directories are followed, as ImageFolder's `is_dir()` and
 *     `os.walk(followlinks=True)` do (a link back into its own path is not entered twice).
 *   Deviations, on purpose: hidden entries (names starting with '.') are ignored (ImageFolder would
 *   count `.ipynb_checkpoints` as a class), and names sort by UTF-16 code unit (Python: by code
 *   point; the two differ only for characters outside the BMP).
 *   - splits: a DIR whose only sub-folders are `train/` and `test/` holds both (DIR/<split> is
 *     read); any other DIR is a single split, read whatever `split` says.
 * Opening lists names only (plus the first image's header); see files.ts for decoding.
 */

/** The extensions torchvision's ImageFolder accepts, plus the other formats sharp decodes. */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp', '.gif', '.avif', '.heic', '.heif']);

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function extOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot).toLowerCase();
}

/**
 * Whether the entry `d` of `parent` is a directory, a symbolic link to one included: ImageFolder's
 * `find_classes` uses `is_dir()` and its walk `os.walk(followlinks=True)`, so linked class folders
 * (ImageNet subsets are often made of links) and linked sub-directories are part of the data.
 */
function isDir(parent: string, d: Dirent): boolean {
  if (d.isDirectory()) return true;
  return d.isSymbolicLink() && statSync(join(parent, d.name), { throwIfNoEntry: false })?.isDirectory() === true;
}

function readDir(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new UsageError(`cannot read directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * `sorted(os.walk(dir))` as ImageFolder walks a class folder: the tuples sort by their root path
 * (so "x/y" comes after "x-z": '/' is 0x2F, '-' 0x2D), each root's files by name.
 */
function walk(dir: string, rel: string, out: string[]): void {
  const blocks: Array<{ key: string; files: string[] }> = [];
  // Directories on the current path (resolved): a link back to one of them would walk forever
  // (os.walk with followlinks does); it is not entered again.
  const onPath = new Set<string>();
  const collect = (abs: string, key: string) => {
    const real = realpathSync(abs);
    if (onPath.has(real)) return;
    onPath.add(real);
    const entries = readDir(abs).filter((d) => !d.name.startsWith('.'));
    const dirs = new Set(entries.filter((d) => isDir(abs, d)).map((d) => d.name));
    const files = entries.filter((d) => !dirs.has(d.name) && IMAGE_EXTENSIONS.has(extOf(d.name))).map((d) => `${key}/${d.name}`);
    blocks.push({ key, files: files.sort(byCodeUnit) });
    for (const d of entries) if (dirs.has(d.name)) collect(join(abs, d.name), `${key}/${d.name}`);
    onPath.delete(real);
  };
  collect(dir, rel);
  blocks.sort((x, y) => byCodeUnit(x.key, y.key));
  for (const b of blocks) for (const f of b.files) out.push(f);
}

/** The class names and the image files (relative to DIR) of a folder tree, in ImageFolder's order. */
function scanFolder(dir: string): { classNames: string[]; files: string[]; labels: Int32Array } {
  const classNames = readDir(dir)
    .filter((d) => isDir(dir, d) && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort(byCodeUnit);
  if (classNames.length === 0) throw new UsageError(`folder data set ${dir} has no class sub-folders`, 'expected DIR/<class>/<image files>');
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((name, label) => {
    const before = files.length;
    walk(join(dir, name), name, files);
    if (files.length === before) {
      throw new UsageError(`folder data set ${dir}: class folder ${name}/ has no image files (${[...IMAGE_EXTENSIONS].join(' ')})`, 'remove the empty class folder or add its images');
    }
    for (let i = before; i < files.length; i++) labels.push(label);
  });
  return { classNames, files, labels: Int32Array.from(labels) };
}

/**
 * A tree whose only sub-folders are `train/` and `test/` holds both splits: use DIR/<split>.
 * Any other tree is one split, the same whatever `split` says.
 */
export function splitDir(dir: string, split: Split): string {
  const subs = readDir(dir).filter((d) => isDir(dir, d) && !d.name.startsWith('.')).map((d) => d.name).sort(byCodeUnit);
  return subs.length === 2 && subs[0] === 'test' && subs[1] === 'train' ? join(dir, split) : dir;
}

export async function openFolder(dir: string, split: Split, spec: string, opts: FilesOptions = {}): Promise<ImageFilesDataset> {
  requireDir(dir, 'folder');
  const root = splitDir(dir, split);
  const { classNames, files, labels } = scanFolder(root);
  return ImageFilesDataset.open({ kind: 'folder', spec, split, root, files, labels, classNames }, opts);
}
