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

/**
 * ImagingGifDecode over the rest of the file, into the P/L canvas. Returns 'done' when the frame
 * is filled, 'broken' on a bad code, 'truncated' when the data (or an early end code) runs out —
 * where PIL reads on, finds the end of the file and raises "image file is truncated".
 */
function gifLzw(b: Uint8Array, g: GifFrame, canvas: Uint8Array): 'done' | 'broken' | 'truncated' {
  const bits = g.lzwBits;
  if (bits > 12) return 'broken';
  const xsize = g.w;
  const ysize = g.h;
  if (xsize <= 0 || ysize <= 0) return 'broken';
  const clear = 1 << bits;
  const end = clear + 1;
  let interlace = g.interlace ? 1 : 0;
  let step = g.interlace ? 8 : 1;
  const buffer = new Uint8Array(GIFBUFFER_SIZE);
  const link = new Uint16Array(GIFTABLE);
  const data = new Uint8Array(GIFTABLE);
  let next = 0;
  let codesize = 0;
  let codemask = 0;
  let bufferindex = GIFBUFFER_SIZE;
  let bitbuffer = 0;
  let bitcount = 0;
  let blocksize = 0;
  let lastcode = 0;
  let lastdata = 0;
  let state = 1;
  let x = 0;
  let y = 0;
  const stride = g.width;
  let out = (y + g.y0) * stride + g.x0;
  let ptr = g.offset;
  /** NEWLINE: false when the frame is complete. */
  const newline = (): boolean => {
    x = 0;
    y += step;
    while (y >= ysize) {
      if (interlace === 1) {
        y = 4;
        interlace = 2;
      } else if (interlace === 2) {
        step = 4;
        y = 2;
        interlace = 3;
      } else if (interlace === 3) {
        step = 2;
        y = 1;
        interlace = 0;
      } else return false;
    }
    out = (y + g.y0) * stride + g.x0;
    return true;
  };
  for (;;) {
    if (state === 1) {
      next = clear + 2;
      codesize = bits + 1;
      codemask = (1 << codesize) - 1;
      bufferindex = GIFBUFFER_SIZE;
      state = 2;
    }
    let src: Uint8Array;
    let from: number;
    let count: number;
    if (bufferindex < GIFBUFFER_SIZE) {
      src = buffer;
      from = bufferindex;
      count = GIFBUFFER_SIZE - bufferindex;
      bufferindex = GIFBUFFER_SIZE;
    } else {
      while (bitcount < codesize) {
        if (blocksize > 0) {
          bitbuffer |= b[ptr++] << bitcount;
          bitcount += 8;
          blocksize--;
        } else {
          if (ptr >= b.length || b.length - ptr < b[ptr] + 1) return 'truncated';
          blocksize = b[ptr++];
        }
      }
      let c = bitbuffer & codemask;
      bitbuffer >>>= codesize;
      bitcount -= codesize;
      if (c === clear) {
        if (state !== 2) state = 1;
        continue;
      }
      if (c === end) return 'truncated';
      if (state === 2) {
        if (c > clear) return 'broken';
        lastdata = lastcode = c;
        state = 3;
      } else {
        const thiscode = c;
        if (c > next) return 'broken';
        if (c === next) {
          if (bufferindex <= 0) return 'broken';
          buffer[--bufferindex] = lastdata;
          c = lastcode;
        }
        while (c >= clear) {
          if (bufferindex <= 0 || c >= GIFTABLE) return 'broken';
          buffer[--bufferindex] = data[c];
          c = link[c];
        }
        lastdata = c;
        if (next < GIFTABLE) {
          data[next] = c;
          link[next] = lastcode;
          if (next === codemask && codesize < GIFBITS) {
            codesize++;
            codemask = (1 << codesize) - 1;
          }
          next++;
        }
        lastcode = thiscode;
      }
      src = LASTDATA;
      LASTDATA[0] = lastdata;
      from = 0;
      count = 1;
    }
    if (y >= ysize) return 'broken';
    for (let i = 0; i < count; i++) {
      canvas[out++] = src[from + i];
      if (++x >= xsize && !newline()) return 'done';
    }
  }
}

const GIFBUFFER_SIZE = GIFTABLE;
const LASTDATA = new Uint8Array(1);

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
