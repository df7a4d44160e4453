/**
 * The decompression-bomb limit every decoder here applies from the header, before any pixel is
 * decoded (decode.ts for sharp's formats, gif.ts for GIF), as PIL's Image.open does.
 */
import { UsageError } from '../../errors.js';

/** PIL's Image.MAX_IMAGE_PIXELS (Pillow 9.4): int(1024 · 1024 · 1024 // 4 // 3). */
export const PIL_MAX_IMAGE_PIXELS = 89_478_485;
/** PIL raises DecompressionBombError above twice MAX_IMAGE_PIXELS (and only warns above it). */
export const DEFAULT_MAX_PIXELS = 2 * PIL_MAX_IMAGE_PIXELS;

export function checkPixels(width: number, height: number, file: string, maxPixels: number): void {
  if (width * height > maxPixels) {
    throw new UsageError(
      `${file}: ${width}x${height} = ${width * height} pixels exceeds the limit of ${maxPixels} (by default PIL's decompression-bomb threshold); pass a larger maxPixels if the file is trusted`,
    );
  }
}
