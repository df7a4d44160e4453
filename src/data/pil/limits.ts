/**
 * The limits every decoder here applies before it spends memory on a file: the encoded file's size
 * (from fstat, before a byte is read) and the decompression-bomb limit on pixels (from the header,
 * before any pixel is decoded: decode.ts for sharp's formats, gif.ts for GIF), as PIL's
 * Image.open does.
 */
import { UsageError } from '../../errors.js';

/** PIL's Image.MAX_IMAGE_PIXELS (Pillow 9.4): int(1024 · 1024 · 1024 // 4 // 3). */
const PIL_MAX_IMAGE_PIXELS = 89_478_485;
/** PIL raises DecompressionBombError above twice MAX_IMAGE_PIXELS (and only warns above it). */
export const DEFAULT_MAX_PIXELS = 2 * PIL_MAX_IMAGE_PIXELS;

export function checkPixels(width: number, height: number, file: string, maxPixels: number): void {
  if (width * height > maxPixels) {
    throw new UsageError(
      `${file}: ${width}x${height} = ${width * height} pixels exceeds the limit of ${maxPixels} (by default PIL's decompression-bomb threshold); pass a larger maxPixels if the file is trusted`,
    );
  }
}

/**
 * Encoded image files larger than this are refused before they are read (a ".jpg" that is a 2 GiB
 * sparse file would otherwise be read whole — per decoder in flight). 128 MiB is far above any
 * photograph (ImageNet's largest file is ~15 MB; a JPEG at PIL's pixel limit ~60 MB). Raised with
 * the environment variable TFKD_MAX_IMAGE_BYTES (bytes, or with a K/M/G suffix), or per call with
 * DecodeOptions.maxFileBytes.
 */
export const DEFAULT_MAX_IMAGE_BYTES = 128 * 1024 * 1024;

/** The encoded-file limit in force: TFKD_MAX_IMAGE_BYTES when set (UsageError if malformed), else the default. */
export function maxImageBytes(): number {
  const v = process.env.TFKD_MAX_IMAGE_BYTES?.trim();
  if (!v) return DEFAULT_MAX_IMAGE_BYTES;
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]i?B?|B)?$/i.exec(v);
  const mult = m?.[2] ? 1024 ** ('KMG'.indexOf(m[2][0].toUpperCase()) + 1) : 1;
  const n = m ? Math.floor(Number(m[1]) * (m[2]?.toUpperCase() === 'B' ? 1 : mult)) : NaN;
  if (!(n >= 1)) throw new UsageError(`TFKD_MAX_IMAGE_BYTES must be a size in bytes (e.g. 536870912 or 512M), got ${JSON.stringify(v)}`);
  return n;
}

export function checkFileBytes(size: number, file: string, maxBytes: number): void {
  if (size > maxBytes) {
    throw new UsageError(
      `${file}: ${size} bytes exceeds the encoded-image limit of ${maxBytes} bytes (not read); if the file is a real image, raise the limit with TFKD_MAX_IMAGE_BYTES`,
    );
  }
}
