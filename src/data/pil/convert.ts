import { UsageError } from '../../errors.js';
import { makeImage } from '../image.js';
import type { Image, PilMode } from '../image.js';

/**
 * PIL's `Image.convert('RGB')` / `convert('L')` (Pillow 9.4, src/libImaging/Convert.c) for the
 * modes a decoded file arrives in. The source is what PIL holds after `Image.open(f).load()`:
 *
 *   mode    data                         from (Pillow 9.4 plugins)
 *   '1'     Uint8Array, 0 or 255          1-bit PNG/TIFF/BMP ("1" is stored as 0/255 bytes)
 *   'L'     Uint8Array                    grey JPEG/PNG (1–8 bit, scaled)/TIFF
 *   'LA'    Uint8Array, L A interleaved   grey + alpha PNG
 *   'I'     Int32Array                    16-bit grey PNG ("I;16B" unpacked into mode I)
 *   'I;16'  Uint16Array                   16-bit grey TIFF
 *   'P'     Uint8Array indices + palette  palette PNG/GIF/BMP/TIFF (tRNS only sets info)
 *   'RGB'   Uint8Array                    RGB JPEG/PNG/WebP/TIFF; 16-bit PNG keeps the high byte
 *   'RGBA'  Uint8Array                    RGBA PNG/WebP/TIFF; 16-bit grey+alpha PNG (LA;16B → RGBA)
 *   'CMYK'  Uint8Array                    CMYK/YCCK JPEG (read inverted, "CMYK;I"), CMYK TIFF
 *
 * The converters, exactly as Convert.c writes them:
 *   - RGB → L (rgb2l, also RGBA and palette colours): ITU-R 601-2 luma in 16.16 fixed point,
 *     `(R·19595 + G·38470 + B·7471 + 0x8000) >> 16`.
 *   - CMYK → RGB (cmyk2rgb): `nk = 255 − K; X = clip8(nk − MULDIV255(C, nk))` per channel with
 *     `MULDIV255(a, b) = ((t >> 8) + t) >> 8, t = a·b + 128`. CMYK → L has no direct converter:
 *     Image.convert falls back to the mode base (RGB) and then RGB → L.
 *   - I → RGB/L (i2rgb, i2l): clipped to 0..255 — a 16-bit grey PNG (mode I, values up to 65535)
 *     comes out almost white; that is what PIL 9.4 does and what we reproduce.
 *   - I;16 → RGB/L: no direct converter for RGB, via the base mode L (I16L_L: 255 when the high
 *     byte is set, else the low byte), i.e. the same clipping.
 *   - 1 → L/RGB: 255 for non-zero, else 0. LA → L/RGB: the L channel. RGBA → RGB: alpha dropped,
 *     not composited. P → RGB: the palette colour; P → L: rgb2l of it.
 */
type SourceMode = '1' | 'L' | 'LA' | 'I' | 'I;16' | 'P' | 'RGB' | 'RGBA' | 'CMYK';

export interface SourceImage {
  mode: SourceMode;
  width: number;
  height: number;
  /** width · height · bands samples, interleaved; Int32Array for 'I', Uint16Array for 'I;16'. */
  data: Uint8Array | Uint16Array | Int32Array;
  /** 'P' only: RGB triplets. Indices past its end read PIL's default grey ramp (i, i, i). */
  palette?: Uint8Array;
}

const BANDS: Readonly<Record<SourceMode, number>> = Object.freeze({ '1': 1, L: 1, LA: 2, I: 1, 'I;16': 1, P: 1, RGB: 3, RGBA: 4, CMYK: 4 });

/** PIL's rgb2l on one pixel. */
export const luma = (r: number, g: number, b: number): number => (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;

const muldiv255 = (a: number, b: number): number => {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
};

/** PIL's cmyk2rgb on one channel value. */
export const cmykChannel = (c: number, k: number): number => {
  const nk = 255 - k;
  const v = nk - muldiv255(c, nk);
  return v <= 0 ? 0 : v < 256 ? v : 255;
};

const clip255 = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : v);

/** `Image.convert(mode)` of a decoded source image, byte for byte as Pillow 9.4. */
export function convert(src: SourceImage, mode: PilMode): Image {
  const { width, height, data } = src;
  const n = width * height;
  const bands = BANDS[src.mode];
  if (bands === undefined) throw new UsageError(`cannot convert from PIL mode ${String(src.mode)}`);
  if (data.length !== n * bands) throw new RangeError(`mode ${src.mode} ${width}x${height} needs ${n * bands} samples, got ${data.length}`);
  const out = makeImage(width, height, mode === 'L' ? 1 : 3);
  const o = out.data;
  const rgb = mode === 'RGB';
  switch (src.mode) {
    case '1':
    case 'L':
    case 'LA':
    case 'I':
    case 'I;16': {
      const step = bands === 2 ? 2 : 1;
      const bit = src.mode === '1';
      for (let i = 0, j = 0; i < n; i++, j += step) {
        const s = data[j];
        const v = bit ? (s !== 0 ? 255 : 0) : clip255(s);
        if (rgb) {
          o[3 * i] = v;
          o[3 * i + 1] = v;
          o[3 * i + 2] = v;
        } else o[i] = v;
      }
      break;
    }
    case 'P': {
      const lut = paletteLut(src.palette);
      for (let i = 0; i < n; i++) {
        const p = 3 * data[i];
        if (rgb) {
          o[3 * i] = lut[p];
          o[3 * i + 1] = lut[p + 1];
          o[3 * i + 2] = lut[p + 2];
        } else o[i] = luma(lut[p], lut[p + 1], lut[p + 2]);
      }
      break;
    }
    case 'RGB':
    case 'RGBA':
      for (let i = 0, j = 0; i < n; i++, j += bands) {
        if (rgb) {
          o[3 * i] = data[j];
          o[3 * i + 1] = data[j + 1];
          o[3 * i + 2] = data[j + 2];
        } else o[i] = luma(data[j], data[j + 1], data[j + 2]);
      }
      break;
    case 'CMYK':
      for (let i = 0, j = 0; i < n; i++, j += 4) {
        const k = data[j + 3];
        const r = cmykChannel(data[j], k);
        const g = cmykChannel(data[j + 1], k);
        const b = cmykChannel(data[j + 2], k);
        if (rgb) {
          o[3 * i] = r;
          o[3 * i + 1] = g;
          o[3 * i + 2] = b;
        } else o[i] = luma(r, g, b);
      }
      break;
  }
  return out;
}

/** 256 RGB entries: the palette, then PIL's default grey ramp for the entries it does not set. */
function paletteLut(palette: Uint8Array | undefined): Uint8Array {
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) lut[3 * i] = lut[3 * i + 1] = lut[3 * i + 2] = i;
  if (palette) lut.set(palette.subarray(0, Math.min(768, palette.length - (palette.length % 3))));
  return lut;
}
