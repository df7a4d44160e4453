/** sha256 of a file's bytes, read in 1 MiB pieces (shards, teachers and checkpoints can be large). */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { openRegular } from './regular-file.js';

/**
 * Only a regular file is hashed (NotRegularFileError otherwise: /dev/zero would never end), and
 * only as far as its size at open.
 */
export function sha256File(file: string): string {
  const h = createHash('sha256');
  const { fd, size } = openRegular(file);
  try {
    const buf = Buffer.alloc(Math.min(1 << 20, Math.max(1, size)));
    let pos = 0;
    while (pos < size) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}
