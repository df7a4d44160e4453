import { makeImage } from '../image.js';
import type { Image } from '../image.js';

/** NEAREST: ImagingScaleAffine with a = [w_in / w, 0, 0, 0, h_in / h, 0], fill 1. */
export function nearest(img: Image, width: number, height: number): Image {
  const ch = img.channels;
  const a0 = img.width / width;
  const a4 = img.height / height;
  const xintab = new Int32Array(width);
  let xmin = width;
  let xmax = 0;
  let xo = a0 * 0.5;
  for (let x = 0; x < width; x++) {
    const xin = xo < 0 ? -1 : Math.trunc(xo);
    if (xin >= 0 && xin < img.width) {
      xmax = x + 1;
      if (x < xmin) xmin = x;
      xintab[x] = xin;
    }
    xo += a0;
  }
  const out = new Uint8Array(width * height * ch);
  const src = img.data;
  const inStride = img.width * ch;
  let yo = a4 * 0.5;
  for (let y = 0; y < height; y++) {
    const yi = yo < 0 ? -1 : Math.trunc(yo);
    if (yi >= 0 && yi < img.height) {
      const rowIn = yi * inStride;
      const rowOut = y * width * ch;
      if (ch === 3) {
        for (let x = xmin; x < xmax; x++) {
          const p = rowIn + xintab[x] * 3;
          const q = rowOut + x * 3;
          out[q] = src[p];
          out[q + 1] = src[p + 1];
          out[q + 2] = src[p + 2];
        }
      } else {
        for (let x = xmin; x < xmax; x++) out[rowOut + x] = src[rowIn + xintab[x]];
      }
    }
    yo += a4;
  }
  return makeImage(width, height, ch, out);
}
