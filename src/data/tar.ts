/**
 * A small reader of tar archives (POSIX ustar, with pax `x` headers and GNU `L` long names — what
 * Python's `tarfile`, GNU tar and `webdataset`'s writers produce), enough for WebDataset shards:
 * regular members in archive order, each with its name, size and the offset of its data. Written
 * here rather than taken from npm (tar-stream, tar): those are push-stream parsers of a whole
 * archive; a shard source needs positioned walks — start at a member's header, skip bodies it does
 * not want by offset, read the bodies it wants — which is 100 lines over `FileHandle.read`.
 *
 * Reads go through a `Reader` with a read-ahead window: a walk that reads bodies reads the file
 * front to back in large blocks (each byte once); a walk that skips bodies reads headers only.
 */
import type { FileHandle } from 'node:fs/promises';
import { UsageError } from '../errors.js';

const BLOCK = 512;

export interface TarMember {
  name: string;
  /** Offset of the member's first header (its pax / long-name header if any: where a walk can start again). */
  header: number;
  /** Offset and size of the member's data. */
  offset: number;
  size: number;
}

/** Positioned reads of one file through a read-ahead window of `window` bytes. */
export class Reader {
  private buf = Buffer.alloc(0);
  private at = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly file: string,
    readonly length: number,
    private readonly window = 1 << 20,
  ) {}

  async read(pos: number, len: number): Promise<Buffer> {
    if (pos + len > this.length) throw new UsageError(`${this.file}: truncated tar (a member runs past the end of the file)`);
    if (pos >= this.at && pos + len <= this.at + this.buf.length) return this.buf.subarray(pos - this.at, pos - this.at + len);
    const want = Math.min(Math.max(len, this.window), this.length - pos);
    const buf = Buffer.alloc(want);
    const { bytesRead } = await this.fh.read(buf, 0, want, pos);
    if (bytesRead < len) throw new UsageError(`${this.file}: truncated tar (read ${bytesRead} of ${len} bytes at ${pos})`);
    this.buf = buf.subarray(0, bytesRead);
    this.at = pos;
    return this.buf.subarray(0, len);
  }
}

const text = (b: Buffer, start: number, len: number): string => {
  const f = b.subarray(start, start + len);
  const end = f.indexOf(0);
  return f.subarray(0, end < 0 ? f.length : end).toString('utf8');
};

/** A numeric header field: octal text, or base-256 when its first byte has the high bit set (GNU). */
function numberField(b: Buffer, start: number, len: number, file: string): number {
  if (b[start] & 0x80) {
    let v = b[start] & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + b[i];
    return v;
  }
  const s = text(b, start, len).trim();
  if (!/^[0-7]*$/.test(s)) throw new UsageError(`${file}: not a tar archive (bad header field "${s}")`);
  return s === '' ? 0 : parseInt(s, 8);
}

function checksumOk(h: Buffer, file: string): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum === numberField(h, 148, 8, file);
}

/** `path=` of a pax extended header body ("LEN key=value\n" records). */
function paxPath(body: Buffer): string | null {
  let at = 0;
  let path: string | null = null;
  while (at < body.length) {
    const sp = body.indexOf(0x20, at);
    if (sp < 0) break;
    const len = Number(body.subarray(at, sp).toString('ascii'));
    if (!(len > 0)) break;
    const rec = body.subarray(sp + 1, at + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    at += len;
  }
  return path;
}

/**
 * The regular members of the archive from the header at `start`, in order; directories, links and
 * global headers are passed over. `body(name)` says whether the walk should read a member's data
 * (then `data` is set) — the others are skipped by offset.
 */
export async function* walkTar(r: Reader, start = 0, body: (name: string) => boolean = () => true): AsyncGenerator<TarMember & { data?: Buffer }> {
  let pos = start;
  let longName: string | null = null;
  let first: number | null = null; // the first of the extension headers before a member
  while (pos + BLOCK <= r.length) {
    const h = await r.read(pos, BLOCK);
    if (h.every((x) => x === 0)) return; // end-of-archive blocks
    if (!checksumOk(h, r.file)) throw new UsageError(`${r.file}: not a tar archive, or damaged (bad header checksum at byte ${pos})`);
    const size = numberField(h, 124, 12, r.file);
    const type = String.fromCharCode(h[156] || 0x30);
    const offset = pos + BLOCK;
    const next = offset + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x' || type === 'L') {
      first ??= pos;
      const b = await r.read(offset, size);
      longName = type === 'L' ? text(b, 0, size) : (paxPath(b) ?? longName);
    } else if (type === '0' || type === '7') {
      const prefix = text(h, 257, 6) === 'ustar' ? text(h, 345, 155) : '';
      const name = longName ?? (prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100));
      longName = null;
      const m: TarMember & { data?: Buffer } = { name, header: first ?? pos, offset, size };
      first = null;
      if (body(name)) m.data = Buffer.from(await r.read(offset, size));
      yield m;
    } else {
      longName = null; // directories, links, global headers: nothing of a sample
      first = null;
    }
    pos = next;
  }
}
