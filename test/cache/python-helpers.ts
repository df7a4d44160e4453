import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEBIAN_PYTHON } from '../../src/doctor/packages.js';

const PYDIR = fileURLToPath(new URL('../../python/', import.meta.url));

/** Runs Debian's Python with python/ (tfkd_cache, tfkd_torch) on its path and `input` as JSON on stdin; returns its stdout parsed as JSON. */
export function py<T>(code: string, input: unknown): T {
  const out = execFileSync(DEBIAN_PYTHON, ['-c', `import sys, json\nsys.path.insert(0, ${JSON.stringify(PYDIR)})\n${code}`], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  return JSON.parse(out) as T;
}
