/**
 * PIL's GIF reader: the first frame of a GIF as Pillow 9.4 opens it, for decode.ts. A port of
 * GifImagePlugin (_open, _seek(0), load_prepare) and libImaging/GifDecode.c, kept whole in one
 * file so it can be read against those two sources.
 */
import { UsageError } from '../../errors.js';
import type { PilMode } from '../image.js';
import type { SourceImage } from './convert.js';
import { checkPixels } from './limits.js';

// GIF: ported from Pillow 9.4 (GifImagePlugin._open/_seek(0)/load_prepare, libImaging/GifDecode.c)
// rather than decoded by sharp: libvips renders the first frame as RGBA with transparent pixels
// black, where PIL keeps the palette colour of the transparent index (convert('RGB') ignores
// transparency), and fills the canvas outside the frame with that index (or 0).

interface GifFrame {
  width: number;
  height: number;
  x0: number;
  y0: number;
  w: number;
  h: number;
  interlace: boolean;
  lzwBits: number;
  offset: number;
  /** RGB triplets of the effective palette; null: PIL mode L (indices are grey levels). */
  palette: Uint8Array | null;
  /** PIL's odd case: a mode L frame whose core image carries the global palette (see gifFrame). */
  indicesForL: boolean;
  transparency: number | null;
}

export const isGif = (b: Uint8Array): boolean =>
  b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38 && (b[4] === 0x37 || b[4] === 0x39) && b[5] === 0x61;

/** PIL drops a palette that is the identity grey ramp (mode L instead of P). */
function paletteNeeded(p: Uint8Array): boolean {
  for (let i = 0; i + 2 < p.length; i += 3) if (!(i / 3 === p[i] && p[i] === p[i + 1] && p[i] === p[i + 2])) return true;
  return false;
}

/** The header and first image descriptor, as GifImagePlugin reads them. */
function gifFrame(b: Uint8Array, file: string): GifFrame {
  const bad = (why: string) => new UsageError(`${file}: not a readable image (GIF: ${why})`);
  if (b.length < 13) throw bad('header is truncated');
  let width = b[6] | (b[7] << 8);
  let height = b[8] | (b[9] << 8);
  const flags = b[10];
  let pos = 13;
  let global: Uint8Array | null = null;
  if (flags & 128) {
    const n = 3 << ((flags & 7) + 1);
    const p = b.subarray(pos, Math.min(b.length, pos + n));
    pos += n;
    if (paletteNeeded(p)) global = p;
  }
  const block = (): Uint8Array | null => {
    if (pos >= b.length || b[pos] === 0) {
      pos = Math.min(b.length, pos + 1);
      return null;
    }
    const n = b[pos];
    const d = b.subarray(pos + 1, Math.min(b.length, pos + 1 + n));
    pos += 1 + n;
    return d;
  };
  let transparency: number | null = null;
  for (;;) {
    if (pos >= b.length || b[pos] === 0x3b) throw bad('no image in the file');
    const tag = b[pos++];
    if (tag === 0x21) {
      const label = b[pos++];
      const first = block();
      if (label === 254) {
        // comment: its sub-blocks up to the terminator
        for (let blk = first; blk; blk = block());
        continue;
      }
      if (label === 249) {
        if (!first || first.length < 3 || (first[0] & 1 && first.length < 4)) throw bad('broken graphic control extension');
        if (first[0] & 1) transparency = first[3];
      }
      // PIL then skips sub-blocks until an empty one, even after an empty first block
      while (block());
    } else if (tag === 0x2c) {
      if (pos + 9 > b.length) throw bad('image descriptor is truncated');
      const x0 = b[pos] | (b[pos + 1] << 8);
      const y0 = b[pos + 2] | (b[pos + 3] << 8);
      const w = b[pos + 4] | (b[pos + 5] << 8);
      const h = b[pos + 6] | (b[pos + 7] << 8);
      const f = b[pos + 8];
      pos += 9;
      width = Math.max(width, x0 + w);
      height = Math.max(height, y0 + h);
      // A local table replaces the global one. A grey-ramp local table makes the frame mode L, yet
      // Image.load then puts the global palette (if any) on the core image: convert('RGB') maps
      // through the global colours while convert('L') (same mode: a copy) returns the indices.
      let palette = global;
      let indicesForL = false;
      if (f & 128) {
        const n = 3 << ((f & 7) + 1);
        const p = b.subarray(pos, Math.min(b.length, pos + n));
        pos += n;
        if (paletteNeeded(p)) palette = p;
        else indicesForL = true;
      }
      if (pos >= b.length) throw bad('image data is missing');
      const lzwBits = b[pos++];
      return { width, height, x0, y0, w, h, interlace: (f & 64) !== 0, lzwBits, offset: pos, palette, indicesForL, transparency };
    }
    // any other byte: skipped, like PIL
  }
}

const GIFBITS = 12;
const GIFTABLE = 1 << GIFBITS;
/** GifDecode.c's GIFBUFFER: the stack a code's string is unwound onto (no string outgrows the table). */
const GIFBUFFER_SIZE = GIFTABLE;

/**
 * ImagingGifDecode over the rest of the file, into the P/L canvas. Returns 'done' when the frame
 * is filled, 'broken' on a bad code, 'truncated' when the data (or an early end code) runs out —
 * where PIL reads on, finds the end of the file and raises "image file is truncated".
 */
function gifLzw(b: Uint8Array, g: GifFrame, canvas: Uint8Array): 'done' | 'broken' | 'truncated' {
  if (g.lzwBits > GIFBITS || g.w <= 0 || g.h <= 0) return 'broken';
  const lzw = new LzwDecoder(b, g.offset, g.lzwBits);
  const raster = new Raster(canvas, g);
  for (;;) {
    const c = lzw.readCode();
    if (c < 0 || c === lzw.end) return 'truncated';
    if (c === lzw.clear) lzw.reset();
    else if (!lzw.decode(c)) return 'broken';
    else if (!raster.put(lzw.lastdata) || !raster.write(lzw.stack, lzw.top)) return 'done';
  }
}

/**
 * GifDecode.c's LZW state: the bit reader over the data sub-blocks, and the code table that
 * decode() grows by one entry per code (the previous string plus the first byte of this one).
 */
class LzwDecoder {
  readonly clear: number;
  readonly end: number;
  /** A decoded string: its first byte, then stack[top..GIFBUFFER_SIZE). */
  lastdata = 0;
  readonly stack = new Uint8Array(GIFBUFFER_SIZE);
  top = GIFBUFFER_SIZE;
  /** The table: entry c is entry link[c]'s string followed by data[c] (codes below clear are bytes). */
  private readonly link = new Uint16Array(GIFTABLE);
  private readonly data = new Uint8Array(GIFTABLE);
  private next = 0;
  private codesize = 0;
  private codemask = 0;
  /** GifDecode.c's state 2: the next code is the first after a clear, a literal byte. */
  private first = true;
  private lastcode = 0;
  private bitbuffer = 0;
  private bitcount = 0;
  /** Bytes left in the current data sub-block. */
  private blocksize = 0;

  constructor(
    private readonly b: Uint8Array,
    private ptr: number,
    private readonly bits: number,
  ) {
    this.clear = 1 << bits;
    this.end = this.clear + 1;
    this.reset();
  }

  /**
   * A clear code: an empty table and codes of bits + 1 again. (GifDecode.c skips this for a clear
   * right after a clear, when nothing has changed since the last one.)
   */
  reset(): void {
    this.next = this.clear + 2;
    this.codesize = this.bits + 1;
    this.codemask = (1 << this.codesize) - 1;
    this.first = true;
  }

  /** The next code, codesize bits LSB first across the sub-blocks; -1 when the data runs out. */
  readCode(): number {
    const b = this.b;
    while (this.bitcount < this.codesize) {
      if (this.blocksize > 0) {
        this.bitbuffer |= b[this.ptr++] << this.bitcount;
        this.bitcount += 8;
        this.blocksize--;
      } else {
        // PIL needs the whole sub-block in its buffer before it reads one
        if (this.ptr >= b.length || b.length - this.ptr < b[this.ptr] + 1) return -1;
        this.blocksize = b[this.ptr++];
      }
    }
    const c = this.bitbuffer & this.codemask;
    this.bitbuffer >>>= this.codesize;
    this.bitcount -= this.codesize;
    return c;
  }

  /** Unwinds code c into lastdata + stack[top..] and adds its table entry; false on a code the table lacks. */
  decode(c: number): boolean {
    this.top = GIFBUFFER_SIZE;
    if (this.first) {
      if (c > this.clear) return false;
      this.lastdata = this.lastcode = c;
      this.first = false;
      return true;
    }
    const thiscode = c;
    if (c > this.next) return false;
    const { stack, data, link, clear } = this;
    let top = GIFBUFFER_SIZE;
    if (c === this.next) {
      // the code being defined (KwKwK): the previous string plus its own first byte
      stack[--top] = this.lastdata;
      c = this.lastcode;
    }
    while (c >= clear) {
      if (top <= 0 || c >= GIFTABLE) return false;
      stack[--top] = data[c];
      c = link[c];
    }
    this.top = top;
    this.lastdata = c;
    this.addEntry(c);
    this.lastcode = thiscode;
    return true;
  }

  /** Entry `next` = the previous string + byte; codes grow a bit when they reach codemask (to 12 bits). */
  private addEntry(byte: number): void {
    if (this.next >= GIFTABLE) return;
    this.data[this.next] = byte;
    this.link[this.next] = this.lastcode;
    if (this.next === this.codemask && this.codesize < GIFBITS) {
      this.codesize++;
      this.codemask = (1 << this.codesize) - 1;
    }
    this.next++;
  }
}

/** Interlace passes 2–4: first row and row step (pass 1 starts at row 0 with step 8), indexed by the pass before. */
const PASS_FIRST_ROW = [0, 4, 2, 1];
const PASS_STEP = [0, 8, 4, 2];

/**
 * Where the next pixel of the frame goes on the canvas, in GIF's row order: top to bottom, or in
 * four interlace passes (every 8th row from 0, every 8th from 4, every 4th from 2, every 2nd
 * from 1). GifDecode.c's overrun check (y ≥ ysize before a write) cannot fire here: the frame
 * ends at its last row.
 */
class Raster {
  private x = 0;
  private y = 0;
  private out: number;
  /** The interlace pass being written, 1–3 (0: the last one, or not interlaced: no pass follows). */
  private pass: number;
  private step: number;

  constructor(
    private readonly canvas: Uint8Array,
    private readonly g: GifFrame,
  ) {
    this.pass = g.interlace ? 1 : 0;
    this.step = g.interlace ? 8 : 1;
    this.out = g.y0 * g.width + g.x0;
  }

  /** Writes one pixel; false when that completed the frame. */
  put(v: number): boolean {
    this.canvas[this.out++] = v;
    return ++this.x < this.g.w || this.newline();
  }

  /** Writes src[from..]; false when the frame completed on the way. */
  write(src: Uint8Array, from: number): boolean {
    for (let i = from; i < src.length; i++) if (!this.put(src[i])) return false;
    return true;
  }

  /** GifDecode.c's NEWLINE: the next row, or the next interlace pass; false when the frame is complete. */
  private newline(): boolean {
    this.x = 0;
    this.y += this.step;
    while (this.y >= this.g.h) {
      if (this.pass === 0) return false;
      this.y = PASS_FIRST_ROW[this.pass];
      this.step = PASS_STEP[this.pass];
      this.pass = this.pass === 3 ? 0 : this.pass + 1;
    }
    this.out = (this.y + this.g.y0) * this.g.width + this.g.x0;
    return true;
  }
}

export function gifSize(b: Uint8Array, file: string): { width: number; height: number } {
  const g = gifFrame(b, file);
  return { width: g.width, height: g.height };
}

/** The first frame in PIL's mode P (or L) with its palette. */
export function decodeGif(b: Uint8Array, file: string, maxPixels: number, mode: PilMode): SourceImage {
  const g = gifFrame(b, file);
  checkPixels(g.width, g.height, file, maxPixels);
  const canvas = new Uint8Array(g.width * g.height);
  if (g.transparency !== null) canvas.fill(g.transparency);
  const r = gifLzw(b, g, canvas);
  if (r === 'broken') throw new UsageError(`${file}: cannot decode image (GIF: broken data stream)`);
  if (r === 'truncated') throw new UsageError(`${file}: cannot decode image (GIF: image file is truncated)`);
  if (g.palette && !(mode === 'L' && g.indicesForL)) return { mode: 'P', width: g.width, height: g.height, data: canvas, palette: g.palette };
  return { mode: 'L', width: g.width, height: g.height, data: canvas };
}
