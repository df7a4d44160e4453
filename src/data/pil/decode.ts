import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { isMainThread } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import type SharpFactory from 'sharp';
import { lazyFunction } from '../../util/lazy.js';
import type { Metadata, OutputInfo, Sharp } from 'sharp';
import { UsageError } from '../../errors.js';
import { makeImage } from '../image.js';
import type { Image, PilMode } from '../image.js';
import { convert } from './convert.js';
import type { SourceImage } from './convert.js';
import { decodeGif, gifSize, isGif } from './gif.js';
import { fileKind } from '../../util/regular-file.js';
import { checkFileBytes, checkPixels, DEFAULT_MAX_PIXELS, maxImageBytes } from './limits.js';
import { jpegDecoder, pngDecoder, webpDecoder } from './native.js';

// Loaded at its first call: loading sharp sets VIPSHOME (util/lazy.ts).
const sharp = lazyFunction<typeof SharpFactory>('sharp', import.meta.url);

/**
 * `PIL.Image.open(path).convert(mode)` of Pillow 9.4 (what torchvision's ImageFolder loader does)
 * as HWC bytes, decoded by sharp/libvips on the libuv pool — and by a port of PIL's own GIF reader
 * for GIF.
 *
 * sharp is asked for the stored samples, never for a colour-managed rendering:
 *   - `ignoreIcc`: an embedded ICC profile is not applied (PIL keeps it in info, pixels untouched);
 *   - EXIF orientation is not applied (sharp rotates only with autoOrient; PIL never does);
 *   - CMYK (JPEG, YCCK JPEG, TIFF): pipeline and output colourspace 'cmyk' give the raw CMYK
 *     samples (libvips inverts JPEG CMYK as PIL's "CMYK;I" rawmode does, with or without the Adobe
 *     marker) and convert.ts applies PIL's cmyk2rgb; sharp's default would go through an ICC
 *     transform to sRGB, which PIL never does;
 *   - 16-bit PNG/TIFF: read as 16-bit (`raw({ depth: 'ushort' })`); RGB(A) keeps the high byte
 *     (PIL's "RGB;16B"/"RGBA;16B" rawmodes), grey + alpha too ("LA;16B" into RGBA), plain 16-bit
 *     grey becomes PIL's mode I, which convert clips to 0..255 (mostly white: PIL 9.4 does that);
 *   - grey: output colourspace 'b-w' keeps one band (sharp would replicate it); palette images
 *     arrive expanded to RGB(A), which is what P → RGB does, and P → L is rgb2l of the palette
 *     colour, the same as of the expanded pixel; alpha is dropped, never composited.
 *   - GIF (first frame): ported from GifImagePlugin/GifDecode.c (gif.ts): libvips renders
 *     transparent pixels black where PIL keeps the palette colour of the transparent index;
 *   - TIFF with associated alpha: libvips unpremultiplies in float, PIL in integers (repremultiply).
 *
 * Measured against PIL by test/data/pil/decode.test.ts (scripts/pil_reference.py: every format
 * and mode below at sizes 1x1 … 640x480, extreme aspect ratios, damaged files), all byte-exact:
 * PNG (1/2/4/8/16-bit grey, grey + alpha, RGB, RGBA, 8/16-bit, palette 1–8 bit with and without
 * tRNS, grey/RGB tRNS, all row filters), JPEG (baseline 4:2:0/4:2:2/4:4:4, progressive, optimised,
 * greyscale, Adobe CMYK, CMYK without the Adobe marker, YCCK, EXIF orientation, ICC profiles),
 * WebP (lossy and lossless, with and without alpha; sharp's libwebp 1.6.0 and Debian's 1.2.4 give
 * the same pixels), GIF (first frames, interlaced, offset frames, local/short/no tables), TIFF
 * (RGB raw/LZW/planar, RGBA deflate, L, CMYK, palette, 1-bit, 16-bit grey little/big-endian,
 * 16-bit RGB(A), associated alpha: see repremultiply). Checked once by hand as well: the 36
 * photographs scripts/make_photos.py cuts from Debian's mate-backgrounds and its 30 full-size
 * originals (JPEG baseline/progressive up to 5640x3172, PNG RGB/RGBA/LA with ICC), all exact.
 * Not supported: BMP and PPM/PGM (libvips as sharp builds it has no loader for them; PIL reads both)
 * — refused with a clear message;
 * HEIF/AVIF are decoded as sharp does (PIL 9.4 cannot open them, so there is no reference).
 *
 * Refused as one UsageError line naming the file (what PIL raises for the same file, checked in the
 * tests): missing, empty and non-image files; truncated files (PIL: "image file is truncated",
 * also for a JPEG that lacks only its EOI) — sharp runs with failOn 'truncated' (libjpeg's
 * corrupt-data warnings are ignored, as PIL ignores them) and 'error' for TIFF (libtiff reports
 * damage as errors); PNG header chunks with a bad CRC (checked here: PIL refuses them but never
 * checks IDAT CRCs, libpng the other way round); images with more pixels than `maxPixels`
 * (default PIL's DecompressionBombError threshold, 2 × Image.MAX_IMAGE_PIXELS), checked from the
 * header before any pixel is decoded. Before any of that, before a byte is read: paths that are not
 * regular files (a symlink to /dev/zero, a FIFO) and files over the encoded-size limit
 * (limits.ts: 128 MiB, TFKD_MAX_IMAGE_BYTES) — a file is never read past the size fstat gave.
 */

export interface DecodeOptions {
  /** Name used in error messages (default: the path, or '<buffer>'). */
  file?: string;
  /** Images with more pixels (width · height) are refused before decoding (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
  /** Files larger than this (bytes) are refused before they are read (default: TFKD_MAX_IMAGE_BYTES, else DEFAULT_MAX_IMAGE_BYTES). */
  maxFileBytes?: number;
}

type Input = string | Uint8Array;

/** Formats sharp decodes that we hand on; others (svg, pdf, raw, vips) are not image files PIL reads. */
const FORMATS = new Set(['jpeg', 'png', 'webp', 'tiff', 'heif']);

const nameOf = (input: Input, opts?: { file?: string }): string => opts?.file ?? (typeof input === 'string' ? input : '<buffer>');

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** libvips messages are multi-line dumps: keep the first line, without sharp's prefix. */
function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? 'unknown error';
  return line
    .replace(/^Input (file|buffer) (contains|has) /, '')
    .replace(/:$/, '')
    .trim();
}

/** Why a path cannot be read as an image file, in words. */
function cannotRead(file: string, e: unknown): UsageError {
  if (e instanceof UsageError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  return new UsageError(`${file}: cannot read image file (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : reason(e)})`);
}

/**
 * Type and size of an image file before a byte of it is read (fstat of the open descriptor): a
 * device, FIFO or directory is refused, and so is a file over the encoded-image limit (limits.ts).
 * O_NONBLOCK: opening a FIFO must not wait for a writer.
 */
async function openImageFile(input: string, file: string, maxBytes: number): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(input, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const st = await fh.stat();
    if (!st.isFile()) throw new UsageError(`${file}: cannot read image file (${st.isDirectory() ? 'is a directory' : `not a regular file: ${fileKind(st)}`})`);
    checkFileBytes(st.size, file, maxBytes);
    return { fh, size: st.size };
  } catch (e) {
    await fh?.close();
    throw cannotRead(file, e);
  }
}

/** Checks the file as openImageFile does, reading nothing (before sharp opens it by path). */
async function checkImageFile(input: string, file: string, maxBytes: number): Promise<void> {
  (await openImageFile(input, file, maxBytes)).fh.close().catch(() => {});
}

/**
 * openImageFile + the read, synchronously: a render worker (render-pool.ts) has its thread to itself,
 * and a synchronous read there saves the libuv round trips, which cost ~0.2–0.5 ms of CPU per small
 * file, a third of a JPEG's decode. The same checks, in the same order, and the same bound.
 */
function loadSync(input: string, file: string, maxBytes: number): Buffer {
  let fd: number | undefined;
  try {
    fd = openSync(input, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`${file}: cannot read image file (${st.isDirectory() ? 'is a directory' : `not a regular file: ${fileKind(st)}`})`);
    checkFileBytes(st.size, file, maxBytes);
    const buf = Buffer.allocUnsafe(st.size);
    let done = 0;
    while (done < st.size) {
      const n = readSync(fd, buf, done, st.size - done, done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  } catch (e) {
    throw cannotRead(file, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

async function load(input: Input, file: string, maxBytes = maxImageBytes()): Promise<Buffer> {
  let buf: Buffer;
  if (typeof input === 'string' && !isMainThread) {
    buf = loadSync(input, file, maxBytes);
  } else if (typeof input === 'string') {
    const { fh, size } = await openImageFile(input, file, maxBytes);
    try {
      // Exactly the size fstat gave: a file that grows meanwhile is not read past it.
      buf = Buffer.allocUnsafe(size);
      let done = 0;
      while (done < size) {
        const { bytesRead } = await fh.read(buf, done, size - done, done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      buf = buf.subarray(0, done);
    } catch (e) {
      throw cannotRead(file, e);
    } finally {
      await fh.close();
    }
  } else {
    buf = asBuffer(input);
  }
  if (buf.length === 0) throw new UsageError(`${file}: not an image (empty file, 0 bytes)`);
  return buf;
}

const isJpeg = (b: Uint8Array): boolean => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

const isPng = (b: Uint8Array): boolean => b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a;

const isWebp = (b: Uint8Array): boolean => b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50;

const PNG_MODES = { 1: 'L', 2: 'LA', 3: 'RGB', 4: 'RGBA' } as const;

const isBmp = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d;

/** Netpbm (PBM/PGM/PPM): `P1`…`P6` then white space. */
const isNetpbm = (b: Uint8Array): boolean => b.length >= 3 && b[0] === 0x50 && b[1] >= 0x31 && b[1] <= 0x36 && (b[2] === 0x20 || b[2] === 0x0a || b[2] === 0x0d || b[2] === 0x09);

/** sharp's header parse, with the formats we do not hand on refused. */
async function header(input: Buffer | string, file: string, head?: Uint8Array): Promise<Metadata> {
  if (head && isBmp(head)) throw new UsageError(`${file}: BMP images are not supported (libvips, which decodes for sharp, has no BMP reader); convert them to PNG`);
  // ImageFolder lists .ppm/.pgm files, so folder: does too; sharp's libvips reads no Netpbm either.
  if (head && isNetpbm(head)) throw new UsageError(`${file}: PPM/PGM (Netpbm) images are not supported (libvips, which decodes for sharp, has no Netpbm reader); convert them to PNG`);
  let m: Metadata;
  try {
    m = await sharp(input).metadata();
  } catch (e) {
    throw new UsageError(`${file}: not a readable image (${reason(e)})`);
  }
  if (!FORMATS.has(m.format) && m.format !== 'gif') throw new UsageError(`${file}: not a readable image (unsupported format '${m.format}')`);
  if (!m.width || !m.height) throw new UsageError(`${file}: not a readable image (no image dimensions in the header)`);
  return m;
}

/** The image's size as PIL reports it, from the header only (no pixel decoding). */
export async function probeImage(input: Input, opts?: { file?: string; maxFileBytes?: number }): Promise<{ width: number; height: number }> {
  const file = nameOf(input, opts);
  if (typeof input !== 'string') return probeBytes(await load(input, file), file);
  const maxBytes = opts?.maxFileBytes ?? maxImageBytes();
  await checkImageFile(input, file, maxBytes); // type and size before sharp reads the header
  let m: Metadata;
  try {
    m = await header(input, file);
  } catch {
    return probeBytes(await load(input, file, maxBytes), file); // the precise message: missing, empty, BMP, GIF
  }
  // PIL's GIF size grows to the first frame's extent; sharp reports the logical screen.
  return m.format === 'gif' ? gifSize(await load(input, file, maxBytes), file) : { width: m.width, height: m.height };
}

async function probeBytes(buf: Buffer, file: string): Promise<{ width: number; height: number }> {
  if (isGif(buf)) return gifSize(buf, file);
  const m = await header(buf, file, buf);
  return { width: m.width, height: m.height };
}

/** `Image.open(input).convert(mode)` of Pillow 9.4 as HWC bytes (see the module comment). */
export async function decodeImage(input: Input, mode: PilMode, opts?: DecodeOptions): Promise<Image> {
  if (mode !== 'L' && mode !== 'RGB') throw new UsageError(`decodeImage: mode must be 'L' or 'RGB', got '${String(mode)}'`);
  const file = nameOf(input, opts);
  const maxPixels = opts?.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels > 0)) throw new UsageError(`decodeImage: maxPixels must be a number > 0 (Infinity for no limit), got ${String(opts?.maxPixels)}`);
  const buf = await load(input, file, opts?.maxFileBytes ?? maxImageBytes());
  if (isGif(buf)) return finish(decodeGif(buf, file, maxPixels, mode), mode);
  // One open per image: grey, colour and CMYK JPEGs on the image add-on's libjpeg-turbo (pil/native.ts)
  // when it is built; anything it does not take (damage, the pixel limit) comes back null and
  // goes the sharp way below, which gives PIL's errors.
  const native = isJpeg(buf) ? jpegDecoder() : null;
  if (native) {
    const j = await native(buf, maxPixels);
    if (j) return finish({ mode: j.channels === 1 ? 'L' : j.channels === 3 ? 'RGB' : 'CMYK', width: j.width, height: j.height, data: j.data }, mode);
  }
  // 8-bit PNGs likewise (libpng, pristine files only, after PIL's own header-chunk CRC check), and still WebPs.
  const png = isPng(buf) ? pngDecoder() : null;
  if (png) checkPngHeader(buf, file);
  const other = png ?? (isWebp(buf) ? webpDecoder() : null);
  const p = other ? await other(buf, maxPixels) : null;
  if (p) return finish({ mode: PNG_MODES[p.channels], width: p.width, height: p.height, data: p.data }, mode);
  const m = await header(buf, file, buf);
  checkPixels(m.width, m.height, file, maxPixels);
  return finish(await pixels(buf, m, file, maxPixels), mode);
}

function finish(src: SourceImage, mode: PilMode): Image {
  if (mode === 'RGB' && src.mode === 'RGB') return makeImage(src.width, src.height, 3, src.data as Uint8Array);
  if (mode === 'L' && src.mode === 'L') return makeImage(src.width, src.height, 1, src.data as Uint8Array);
  return convert(src, mode);
}

/**
 * PngImagePlugin checks the CRC of every chunk before the first IDAT (and refuses the file on a
 * mismatch), never those of IDAT and later chunks; libpng under failOn 'truncated' checks none,
 * under 'error' all of them. So: sharp with 'truncated' (truncation and zlib errors still fail, as
 * in PIL), and the header chunks checked here.
 */
function checkPngHeader(b: Uint8Array, file: string): void {
  let pos = 8;
  for (;;) {
    if (pos + 8 > b.length) throw new UsageError(`${file}: not a readable image (PNG: truncated before the image data)`);
    const length = ((b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3]) >>> 0;
    const type = b.subarray(pos + 4, pos + 8);
    const name = String.fromCharCode(...type);
    if (!/^\w{4}$/.test(name)) throw new UsageError(`${file}: not a readable image (PNG: broken chunk ${JSON.stringify(name)})`);
    if (name === 'IDAT') return;
    const end = pos + 8 + length;
    if (end + 4 > b.length) throw new UsageError(`${file}: not a readable image (PNG: truncated in chunk ${name})`);
    const stored = ((b[end] << 24) | (b[end + 1] << 16) | (b[end + 2] << 8) | b[end + 3]) >>> 0;
    if (crc32(b.subarray(pos + 4, end)) !== stored) throw new UsageError(`${file}: not a readable image (PNG: bad checksum in chunk ${name})`);
    if (name === 'IEND') throw new UsageError(`${file}: not a readable image (PNG: no image data)`);
    pos = end + 4;
  }
}

/** The decoded samples in the PIL mode Image.open would give (see convert.ts). */
async function pixels(buf: Buffer, m: Metadata, file: string, maxPixels: number): Promise<SourceImage> {
  if (m.format === 'png') checkPngHeader(buf, file);
  // libtiff reports damage as errors, which libvips ignores below failOn 'error'; libjpeg reports
  // corrupt entropy data as warnings, which PIL ignores too, and truncation as an error.
  const failOn = m.format === 'tiff' ? 'error' : 'truncated';
  const limitInputPixels = Number.isFinite(maxPixels) ? Math.floor(maxPixels) : false;
  const base = sharp(buf, { failOn, ignoreIcc: true, limitInputPixels, page: 0, pages: 1 });
  const sixteen = m.depth === 'ushort';
  let pipeline: Sharp;
  if (m.space === 'cmyk') pipeline = base.pipelineColourspace('cmyk').toColourspace('cmyk').raw();
  else if (sixteen && (m.space === 'grey16' || m.space === 'b-w')) pipeline = base.toColourspace('grey16').raw({ depth: 'ushort' });
  else if (sixteen) pipeline = base.toColourspace('rgb16').raw({ depth: 'ushort' });
  else if (m.space === 'b-w') pipeline = base.toColourspace('b-w').raw();
  else pipeline = base.toColourspace('srgb').raw();
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await pipeline.toBuffer({ resolveWithObject: true }));
  } catch (e) {
    throw new UsageError(`${file}: cannot decode image (${reason(e)})`);
  }
  const { width, height, channels } = info;
  const n = width * height;
  if (data.length !== n * channels * (sixteen ? 2 : 1)) throw new UsageError(`${file}: cannot decode image (sharp returned ${data.length} bytes for ${width}x${height}x${channels})`);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (m.space === 'cmyk') {
    if (channels === 4) return { mode: 'CMYK', width, height, data: bytes };
    return { mode: 'CMYK', width, height, data: bands(bytes, channels, 4) };
  }
  if (sixteen) {
    const u16 = data.byteOffset % 2 === 0 ? new Uint16Array(data.buffer, data.byteOffset, n * channels) : new Uint16Array(bytes.slice().buffer);
    if (channels === 1) return { mode: 'I;16', width, height, data: u16 };
    // A 16-bit grey PNG with tRNS arrives with an alpha band, but PIL opens it as mode I all the same.
    if (m.format === 'png' && pngColourType(buf) === 0) return { mode: 'I;16', width, height, data: bandsOf(u16, channels, 1) };
    const hi = new Uint8Array(n * channels);
    for (let i = 0; i < hi.length; i++) hi[i] = u16[i] >>> 8;
    const mode = channels === 2 ? 'LA' : channels === 3 ? 'RGB' : 'RGBA';
    return { mode, width, height, data: channels > 4 ? bands(hi, channels, 4) : hi };
  }
  if (channels === 1) return { mode: 'L', width, height, data: bytes };
  if (channels === 2) return { mode: 'LA', width, height, data: bytes };
  if (channels === 3) return { mode: 'RGB', width, height, data: bytes };
  if (channels === 4 && m.format === 'tiff' && tiffAssociatedAlpha(buf)) repremultiply(bytes);
  return { mode: 'RGBA', width, height, data: channels === 4 ? bytes : bands(bytes, channels, 4) };
}

/**
 * An 8-bit RGBA TIFF whose alpha is associated (premultiplied, ExtraSamples = 1): PIL unpacks it
 * with "RGBa", `clip8(c · 255 / a)` in integers; libvips unpremultiplies in float
 * (`(uchar)((float)(255.0 / a) · c)`), which lands one lower on ~0.4 % of samples. Its mapping is
 * one-to-one below 255 (the factor is ≥ 1), so the stored c is recovered and PIL's formula applied.
 */
function repremultiply(px: Uint8Array): void {
  for (let i = 0; i < px.length; i += 4) {
    const a = px[i + 3];
    if (a === 0 || a === 255) continue; // 0: both give 0; 255: both the identity
    const inv = unpremultiplyInverse(a);
    for (let c = i; c < i + 3; c++) {
      const stored = inv[px[c]];
      px[c] = stored < 0 ? px[c] : Math.min(255, Math.trunc((stored * 255) / a));
    }
  }
}

const INVERSES: (Int16Array | undefined)[] = [];

/** For alpha a: libvips' unpremultiplied value → the smallest stored value giving it (−1: none). */
function unpremultiplyInverse(a: number): Int16Array {
  let inv = INVERSES[a];
  if (!inv) {
    inv = new Int16Array(256).fill(-1);
    const factor = Math.fround(255 / a);
    for (let c = 255; c >= 0; c--) inv[Math.min(255, Math.trunc(Math.fround(factor * c)))] = c;
    INVERSES[a] = inv;
  }
  return inv;
}

/** Whether the first IFD of a TIFF declares an associated (premultiplied) alpha sample. */
function tiffAssociatedAlpha(b: Uint8Array): boolean {
  if (b.length < 8) return false;
  const le = b[0] === 0x49;
  const u16 = (o: number) => (le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1]);
  const u32 = (o: number) => (le ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 2 ** 24 : ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) + b[o] * 2 ** 24);
  const ifd = u32(4);
  if (ifd + 2 > b.length) return false;
  const n = u16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > b.length) return false;
    if (u16(e) !== 338) continue; // ExtraSamples
    const count = u32(e + 4);
    const at = count <= 2 ? e + 8 : u32(e + 8);
    for (let j = 0; j < count && at + 2 * j + 2 <= b.length; j++) if (u16(at + 2 * j) === 1) return true;
    return false;
  }
  return false;
}

/** The first `keep` of `channels` interleaved bands. */
function bandsOf<T extends Uint8Array | Uint16Array>(src: T, channels: number, keep: number): T {
  const n = src.length / channels;
  const out = new (src.constructor as new (n: number) => T)(n * keep);
  for (let i = 0; i < n; i++) for (let c = 0; c < keep; c++) out[i * keep + c] = src[i * channels + c];
  return out;
}

const bands = (src: Uint8Array, channels: number, keep: number): Uint8Array => bandsOf(src, channels, keep);

/** The colour type in a PNG's IHDR (0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA). */
const pngColourType = (b: Uint8Array): number => (b.length > 25 ? b[25] : -1);
