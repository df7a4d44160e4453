import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';

/** Refuses a data directory that does not exist (or is not a directory), naming the path. */
export function requireDir(dir: string, kind: string): void {
  if (!existsSync(dir)) throw new UsageError(`${kind} data directory not found: ${dir}`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${kind} data path is not a directory: ${dir}`);
}

/** The first of `names` that exists in `dir`; a UsageError naming the first alternative otherwise. */
export function requireFile(dir: string, names: string[], kind: string): string {
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  const alt = names.length > 1 ? ` (or ${names.slice(1).join(', ')})` : '';
  throw new UsageError(`${kind} file not found: ${join(dir, names[0])}${alt}`);
}
