/**
 * Files are checked for type and size before they are read: a path that is a symlink to /dev/zero,
 * /dev/urandom, a FIFO or a directory never ends (or never starts), so every reader of a file whose
 * length it does not otherwise bound opens it through `openRegular` and reads at most the size that
 * fstat reported at open (a file that grows meanwhile is read only that far).
 */
import * as fs from 'node:fs';

/** What a non-regular file is, in words, for the one-line messages. */
export function fileKind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device (like /dev/zero)';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** A file that is not a regular file (after following symlinks); `code` ENOTREG for callers that switch on codes. */
export class NotRegularFileError extends Error {
  readonly code = 'ENOTREG';
  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(`${path}: not a regular file (${kind})`);
  }
}

/** Throws NotRegularFileError unless `st` is a regular file's. */
function assertRegular(file: string, st: fs.Stats): void {
  if (!st.isFile()) throw new NotRegularFileError(file, fileKind(st));
}

/**
 * Opens `file` read-only, checks (fstat of the open descriptor, so the check and the read see the
 * same file) that it is a regular file, and returns the descriptor and its size. The caller closes
 * the descriptor. Opening a FIFO read-only would block until a writer appears: O_NONBLOCK makes
 * that open return at once (it has no effect on reads of regular files).
 */
export function openRegular(file: string): { fd: number; size: number } {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    assertRegular(file, st);
    return { fd, size: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/**
 * A small file (a manifest, a config) read whole — after the same checks, and only when it is at
 * most `maxBytes` (a /dev/zero behind a manifest.json would otherwise be read for ever). Errors
 * carry `code` (ENOTREG, EFBIG, or the system's) and name the file.
 */
export function readSmallFile(file: string, maxBytes = 64 * 1024 * 1024): Buffer {
  const { fd, size } = openRegular(file);
  try {
    if (size > maxBytes) throw Object.assign(new Error(`${file}: ${size} bytes, more than the ${maxBytes} such a file can be (not read)`), { code: 'EFBIG', path: file });
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = fs.readSync(fd, buf, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  } finally {
    fs.closeSync(fd);
  }
}
