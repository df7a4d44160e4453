import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { splitDir } from '../data/folder.js';

/**
 * The hold-out of a `folder:` data set (protocol.ts writes IDX and CIFAR hold-outs as files of
 * their own format): the same tree shape, made of symbolic links to the source's image files, so
 * nothing is decoded or copied and the trainer reads it as any folder.
 *
 *   DIR/val/train/<relative path>   → the training part's files
 *   DIR/val/test/<relative path>    → the validation images
 *   DIR/test/train/<relative path>  → the training part's files again
 *   DIR/test/test/<relative path>   → the source's test split, every file
 *
 * Directories are real (tfkd's folder reader, unlike ImageFolder's `os.walk(followlinks=True)`,
 * does not follow linked directories); files are links to absolute paths. Relative paths keep
 * the class folder first, so class indices are the source's — provided every class keeps at
 * least one image on each side, which is checked: an empty class folder would shift the indices
 * of every class after it.
 */

interface FolderSource extends Dataset {
  readonly root: string;
  readonly files: readonly string[];
}

function asFolder(ds: Dataset, what: string): FolderSource {
  const f = ds as Partial<FolderSource>;
  if (typeof f.root !== 'string' || !Array.isArray(f.files)) throw new UsageError(`validation: ${what} is not a folder of image files`);
  return ds as FolderSource;
}

function linkAll(ds: FolderSource, idx: Iterable<number>, into: string): void {
  for (const i of idx) {
    const at = path.join(into, ds.files[i]);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.rmSync(at, { force: true });
    fs.symlinkSync(path.resolve(ds.root, ds.files[i]), at);
  }
}

function requireEveryClass(ds: Dataset, idx: Int32Array, side: string): void {
  const seen = new Uint8Array(ds.numClasses);
  for (const i of idx) seen[ds.labels[i]] = 1;
  const missing = ds.classNames ? ds.classNames.filter((_, c) => !seen[c]) : [...seen.keys()].filter((c) => !seen[c]).map(String);
  if (missing.length > 0) {
    throw new UsageError(`validation: class ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` (and ${missing.length - 3} more)` : ''} gets no image in the ${side}; a folder hold-out keeps every class on both sides`,
      'change validation.fraction / size / subset');
  }
}

/** Writes DIR/val and DIR/test for a folder source; returns the source test split's root (the links' target). */
export async function writeFolderHoldout(srcDs: Dataset, testDs: Dataset, specDir: string, trainIdx: Int32Array, valIdx: Int32Array, dir: string): Promise<string[]> {
  if (splitDir(specDir, 'train') === specDir) {
    throw new UsageError(`validation: folder data ${specDir} has no train/ and test/ sub-folders`, 'the final runs are scored on the source\'s test split: give a folder holding train/ and test/');
  }
  const src = asFolder(srcDs, `the training split of ${specDir}`);
  const test = asFolder(testDs, `the test split of ${specDir}`);
  requireEveryClass(src, trainIdx, 'training part');
  requireEveryClass(src, valIdx, 'validation part');
  linkAll(src, trainIdx, path.join(dir, 'val', 'train'));
  linkAll(src, valIdx, path.join(dir, 'val', 'test'));
  linkAll(src, trainIdx, path.join(dir, 'test', 'train'));
  linkAll(test, Array.from({ length: test.size }, (_, i) => i), path.join(dir, 'test', 'test'));
  return [test.root];
}
