/**
 * Decoded images of their own size — what a data source yields before any rendering (docs/images.md).
 *
 * Pixels are HWC uint8, row-major, `channels` interleaved: exactly the bytes of a PIL image in mode
 * 'L' (channels 1) or 'RGB' (channels 3), which is what torchvision's `ImageFolder` loader
 * (`Image.open(f).convert('RGB')`) hands to its transforms.
 */
export type PilMode = 'L' | 'RGB';

export interface Image {
  /** height · width · channels bytes, HWC. */
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** PIL's resampling filters, by the names torchvision's `InterpolationMode` and timm use. */
export const INTERPOLATIONS = ['nearest', 'bilinear', 'bicubic', 'lanczos', 'box', 'hamming'] as const;
export type Interpolation = (typeof INTERPOLATIONS)[number];

export const channelsOf = (mode: PilMode): 1 | 3 => (mode === 'L' ? 1 : 3);

export function makeImage(width: number, height: number, channels: 1 | 3, data?: Uint8Array): Image {
  const need = width * height * channels;
  if (data && data.length !== need) throw new RangeError(`image ${width}x${height}x${channels} needs ${need} bytes, got ${data.length}`);
  return { data: data ?? new Uint8Array(need), width, height, channels };
}
