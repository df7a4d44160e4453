/**
 * The optional C passes of the resampler (native/src/resample.cc → native/build/Release/
 * tfkd_image.node, built by scripts/build-native.mjs with any C++ compiler; OpenBLAS is not
 * needed). resample.ts computes the coefficient tables and hands them to these passes when the
 * add-on loaded, else runs its own JS passes — the reference, which the tests compare the C passes
 * with byte for byte on every filter (test/data/pil/resample.test.ts runs both).
 *
 * The same add-on decodes JPEGs on libjpeg-turbo when built with it (native/src/jpeg.cc: one open
 * per image, the library Pillow links); TFKD_JPEG=sharp (or `setJpegPath('sharp')`) keeps every
 * JPEG on sharp's path (decode.ts), which handles all the others anyway. Likewise PNGs
 * (native/src/png.cc, libpng: only pristine 8-bit files, every other one goes the sharp way);
 * TFKD_PNG=sharp or `setPngPath('sharp')` keeps them all on sharp; still WebPs (native/src/webp.cc,
 * libwebp) with TFKD_WEBP=sharp / `setWebpPath('sharp')`.
 *
 * The same add-on holds the pixel loops of RandAugment's operations (native/src/policy.cc: the
 * affine transform, blends, the SMOOTH filter, lookup tables); they run when the resampler's C
 * passes do, and their JS versions (pil/geometry.ts, enhance.ts, image-ops.ts) otherwise.
 *
 * Which path: TFKD_RESAMPLE = auto (default: C with AVX2 when the CPU has it, else C scalar, else
 * JS), portable (C scalar), js. Tests and benches switch in-process with `setResamplePath`.
 */
import { createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';

export interface ImageAddon {
  horizontal(src: Uint8Array, inWidth: number, channels: number, firstRow: number, rows: number, out: Uint8Array, outWidth: number, ksize: number, start: Int32Array, size: Int32Array, k: Int32Array): void;
  vertical(src: Uint8Array, stride: number, out: Uint8Array, outHeight: number, ksize: number, start: Int32Array, size: Int32Array, k: Int32Array): void;
  /** With an argument: AVX2 on/off (on only where the CPU has it). Returns 'avx2' | 'portable'. */
  simd(on?: boolean): 'avx2' | 'portable';
  /** Whether it was built with libjpeg-turbo (native/src/jpeg.cc). */
  hasJpeg(): boolean;
  /** A grey, YCbCr/RGB or CMYK/YCCK JPEG decoded as PIL does (mode L / RGB / CMYK), or null: decode.ts takes the sharp path. */
  decodeJpeg?(bytes: Uint8Array, maxPixels: number): Promise<DecodedJpeg | null>;
  /** The same on the calling thread (render workers: no round trip through the libuv pool). */
  decodeJpegSync?(bytes: Uint8Array, maxPixels: number): DecodedJpeg | null;
  /** An 8-bit PNG (grey, grey + alpha, RGB, RGBA, palette) as its samples, or null: decode.ts takes the sharp path. */
  decodePng?(bytes: Uint8Array, maxPixels: number): Promise<DecodedPng | null>;
  decodePngSync?(bytes: Uint8Array, maxPixels: number): DecodedPng | null;
  /** A still WebP as PIL decodes it (channels 3 RGB, 4 RGBA), or null: decode.ts takes the sharp path. */
  decodeWebp?(bytes: Uint8Array, maxPixels: number): Promise<DecodedPng | null>;
  decodeWebpSync?(bytes: Uint8Array, maxPixels: number): DecodedPng | null;
  /** native/src/policy.cc: Geometry.c's nearest affine loops into `out` (geometry.ts). */
  affine(src: Uint8Array, width: number, height: number, channels: number, matrix: Float64Array, out: Uint8Array): void;
  /** Blend.c with in1 an image or one grey level (enhance.ts). */
  blend(a: Uint8Array | number, b: Uint8Array, alpha: number, out: Uint8Array): void;
  /** Filter.c's 3×3 SMOOTH (enhance.ts). */
  smooth(src: Uint8Array, width: number, height: number, channels: number, out: Uint8Array): void;
  /** image.point(lut), 256 entries per band (image-ops.ts). */
  lut(src: Uint8Array, channels: number, luts: Uint8Array, out: Uint8Array): void;
}

/** native/src/png.cc's result: channels 1 L, 2 LA, 3 RGB, 4 RGBA (palettes expanded). */
export interface DecodedPng {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

export interface DecodedJpeg {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 L, 3 RGB, 4 CMYK (PIL's inverted "CMYK;I" samples). */
  channels: 1 | 3 | 4;
}

export type ResamplePath = 'avx2' | 'portable' | 'js';

const ADDON_PATH = '../../../native/build/Release/tfkd_image.node';

let addon: ImageAddon | null | undefined;
let active: ImageAddon | null = null;
let why = '';

function load(): ImageAddon | null {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as ImageAddon;
  } catch (e) {
    addon = null;
    why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  }
  return addon;
}

/** Chooses the passes: 'auto' the fastest there is; returns the path now in use. */
export function setResamplePath(want: ResamplePath | 'auto'): ResamplePath {
  const a = want === 'js' ? null : load();
  if (!a) {
    active = null;
    return 'js';
  }
  active = a;
  return a.simd(want !== 'portable');
}

/** The C passes in use, or null (JS). */
export function resampleAddon(): ImageAddon | null {
  return active;
}

/** The path in use, and why the add-on is absent when it is. */
export function resamplePath(): { path: ResamplePath; note: string } {
  if (active) return { path: active.simd(), note: 'native/build/Release/tfkd_image.node' };
  return { path: 'js', note: addon === null ? `image add-on not loaded (${why}); node scripts/build-native.mjs builds it` : 'JS passes' };
}

let jpegOn = true;

/** JPEG decoding on the add-on ('native', when built with libjpeg) or on sharp; returns the path in use. */
export function setJpegPath(want: 'native' | 'sharp'): 'native' | 'sharp' {
  jpegOn = want === 'native' && load()?.decodeJpeg !== undefined;
  return jpegOn ? 'native' : 'sharp';
}

/**
 * The add-on's JPEG decoder, when built and switched on: on the libuv pool from the main thread,
 * on the calling thread in a worker (a render worker's thread is its own to block).
 */
export function jpegDecoder(): ((bytes: Uint8Array, maxPixels: number) => Promise<DecodedJpeg | null> | DecodedJpeg | null) | null {
  const a = jpegOn ? load() : null;
  if (!a?.decodeJpeg || !a.decodeJpegSync) return null;
  return isMainThread ? a.decodeJpeg : a.decodeJpegSync;
}

let pngOn = true;

/** PNG decoding on the add-on ('native', when built with libpng) or on sharp; returns the path in use. */
export function setPngPath(want: 'native' | 'sharp'): 'native' | 'sharp' {
  pngOn = want === 'native' && load()?.decodePng !== undefined;
  return pngOn ? 'native' : 'sharp';
}

/** The add-on's PNG decoder, as jpegDecoder. */
export function pngDecoder(): ((bytes: Uint8Array, maxPixels: number) => Promise<DecodedPng | null> | DecodedPng | null) | null {
  const a = pngOn ? load() : null;
  if (!a?.decodePng || !a.decodePngSync) return null;
  return isMainThread ? a.decodePng : a.decodePngSync;
}

let webpOn = true;

/** WebP decoding on the add-on ('native', when built with libwebp) or on sharp; returns the path in use. */
export function setWebpPath(want: 'native' | 'sharp'): 'native' | 'sharp' {
  webpOn = want === 'native' && load()?.decodeWebp !== undefined;
  return webpOn ? 'native' : 'sharp';
}

/** The add-on's WebP decoder, as jpegDecoder. */
export function webpDecoder(): ((bytes: Uint8Array, maxPixels: number) => Promise<DecodedPng | null> | DecodedPng | null) | null {
  const a = webpOn ? load() : null;
  if (!a?.decodeWebp || !a.decodeWebpSync) return null;
  return isMainThread ? a.decodeWebp : a.decodeWebpSync;
}

setJpegPath(process.env.TFKD_JPEG === 'sharp' ? 'sharp' : 'native');
setWebpPath(process.env.TFKD_WEBP === 'sharp' ? 'sharp' : 'native');
setPngPath(process.env.TFKD_PNG === 'sharp' ? 'sharp' : 'native');
const env = process.env.TFKD_RESAMPLE;
setResamplePath(env === 'js' || env === 'portable' ? env : 'auto');
