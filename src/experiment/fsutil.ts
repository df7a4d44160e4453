/** Small file helpers of the experiment layer: atomic writes (util/atomic.ts) and tolerant reads. */
import * as fs from 'node:fs';
import { writeFileAtomic } from '../util/atomic.js';


/** An atomic write that creates the directory first: reports, plots and hold-outs go into new ones. */
export function writeFileAtomicSync(file: string, data: string | Uint8Array): void {
  writeFileAtomic(file, data, { mkdir: true });
}

/** The parsed JSON file, or null when it is absent or unreadable. */
export function readJsonFile<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}
