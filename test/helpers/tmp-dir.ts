/**
 * Temp directories for tests: `tmpDir` makes one (`tfkd-<tag>-XXXXXX` under the OS temp dir, so a
 * leftover says which test left it), `rmDir` removes one, `withTmpDir` does both around a body.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tfkd-${tag}-`));
}

/** Removes `dir` and everything in it; nothing to do when it is gone or was never made (a failed `before`). */
export function rmDir(dir: string | undefined): void {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** Runs `fn` in a fresh temp dir, removed afterwards whether `fn` returns, throws or rejects. */
export function withTmpDir<T>(tag: string, fn: (dir: string) => T): T {
  const dir = tmpDir(tag);
  let r: T;
  try {
    r = fn(dir);
  } catch (e) {
    rmDir(dir);
    throw e;
  }
  if (r instanceof Promise) return r.finally(() => rmDir(dir)) as T;
  rmDir(dir);
  return r;
}
