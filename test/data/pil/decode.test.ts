import { expect } from 'chai';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { PilMode } from '../../../src/data/image.js';
import { convert, cmykChannel, luma } from '../../../src/data/pil/convert.js';
import { decodeImage, probeImage } from '../../../src/data/pil/decode.js';
import { DEFAULT_MAX_PIXELS } from '../../../src/data/pil/limits.js';
import { pngDecoder, setJpegPath, setPngPath, setWebpPath, webpDecoder } from '../../../src/data/pil/native.js';
import { usageError } from '../helpers.js';
import { byteDiff, pilReference } from './pil-reference.js';
import { rmDir, tmpDir } from '../../helpers/tmp-dir.js';
import { needs } from '../../helpers/needs.js';

// `PIL.Image.open(f).convert(mode)` of Pillow 9.4 (Debian's /usr/bin/python3) is the reference:
// scripts/pil_reference.py writes test images in every format and mode, damaged files, and PIL's
// bytes (or its error) for each; decodeImage must give the same bytes, or refuse the same files.

const PHOTOS = join(import.meta.dirname, '../../fixtures/photos');

interface Entry {
  name: string;
  file: string;
  format?: string;
  mode?: string;
  width?: number;
  height?: number;
  rgb?: [number, number];
  l?: [number, number];
  error?: string;
}

/** Decodes every entry in both modes; returns one line per mismatch. */
async function compare(entries: Entry[], blob: Buffer, modes: PilMode[] = ['RGB', 'L']): Promise<{ failures: string[]; bytes: number }> {
  const failures: string[] = [];
  let bytes = 0;
  for (const e of entries) {
    for (const mode of modes) {
      const at = mode === 'RGB' ? e.rgb : e.l;
      if (!at) throw new Error(`${e.name}: no ${mode} reference`);
      const ref = new Uint8Array(blob.buffer, blob.byteOffset + at[0], at[1]);
      let got: Uint8Array;
      try {
        const img = await decodeImage(e.file, mode);
        if (img.width !== e.width || img.height !== e.height) {
          failures.push(`${e.name} ${mode}: ${img.width}x${img.height}, PIL ${e.width}x${e.height}`);
          continue;
        }
        got = img.data;
      } catch (err) {
        failures.push(`${e.name} ${mode}: threw ${(err as Error).message}`);
        continue;
      }
      bytes += ref.length;
      const d = byteDiff(got, ref);
      if (d.count) failures.push(`${e.name} ${mode} (PIL mode ${e.mode}): ${d.count} of ${ref.length} bytes differ, max diff ${d.max}`);
    }
  }
  return { failures, bytes };
}

describe('data/pil/decode: Image.open(f).convert(mode), byte for byte', function () {
  this.timeout(60_000);
  let tmp = '';
  let entries: Entry[] = [];
  let bad: Entry[] = [];
  let blob: Buffer = Buffer.alloc(0);
  let maxImagePixels = 0;

  before(function () {
    needs(this, 'python3-pil');
    tmp = tmpDir('pil-decode');
    const ref = pilReference('decode', tmp);
    expect(ref.index.pil, 'the reference is Pillow 9.4').to.match(/^9\.4\./);
    entries = ref.index.decode as Entry[];
    bad = ref.index.bad as Entry[];
    maxImagePixels = ref.index.max_image_pixels as number;
    blob = ref.blob;
  });

  after(() => {
    if (tmp) rmDir(tmp);
  });

  const families: [string, RegExp][] = [
    ['JPEG (baseline 4:2:0/4:2:2/4:4:4, progressive, optimised, grey, Adobe CMYK, CMYK without Adobe marker, YCCK, EXIF, ICC)', /^jpeg-/],
    ['PNG (1/2/4/8/16-bit grey, grey+alpha, RGB, RGBA, 16-bit RGB(A), palette 1–8 bit ± tRNS, grey/RGB tRNS, ICC)', /^png-/],
    ['WebP (lossy and lossless, with and without alpha)', /^webp-/],
    ['GIF first frames (palette, transparency, grey, animated, interlaced, offset/oversized frames, local/short/no tables)', /^gif-/],
    ['TIFF (RGB raw/LZW/planar, RGBA deflate, associated alpha, L, CMYK, palette, 1-bit, 16-bit grey LE/BE, 16-bit RGB(A))', /^tiff-/],
  ];
  for (const [what, re] of families) {
    it(`${what} equal PIL in modes RGB and L`, async () => {
      const mine = entries.filter((e) => re.test(e.name) && !e.error);
      expect(mine.length).to.be.greaterThan(10);
      const modes = new Set(mine.map((e) => e.mode));
      const { failures, bytes } = await compare(mine, blob);
      console.log(`      ${mine.length} files (PIL modes ${[...modes].sort().join(' ')}), ${bytes} bytes compared: ${failures.length} differ`);
      expect(failures, failures.slice(0, 10).join('\n')).to.deep.equal([]);
    });
  }

  const addonPaths = [
    { what: 'PNG', re: /^png-/, set: setPngPath, decoder: pngDecoder, takes: 'pristine 8-bit files (libpng)', expected: (e: Entry) => !/16/.test(e.name) },
    { what: 'WebP', re: /^webp-/, set: setWebpPath, decoder: webpDecoder, takes: 'still images (libwebp)', expected: (e: Entry) => !/animated/.test(e.name) },
  ];
  for (const { what, re, set, decoder, takes, expected } of addonPaths) {
    it(`${what} on both paths: the image add-on (${takes}) and sharp each equal PIL`, async function () {
      if (set('native') !== 'native') this.skip();
      const mine = entries.filter((e) => re.test(e.name) && !e.error);
      const decode = decoder()!;
      let taken = 0;
      for (const e of mine) if (await decode(readFileSync(e.file), Infinity)) taken++;
      try {
        set('sharp');
        const { failures } = await compare(mine, blob);
        expect(failures, failures.slice(0, 10).join('\n')).to.deep.equal([]);
      } finally {
        set('native');
      }
      const want = mine.filter(expected).length;
      console.log(`      ${taken} of ${mine.length} ${what} files decoded by the add-on (${want} expected), the rest by sharp; both paths equal PIL`);
      expect(taken).to.be.at.least(want);
    });
  }

  it('EXPECTED FAILURE - files PIL refuses are refused: one UsageError line naming the file', async () => {
    const refused = [...entries.filter((e) => e.error), ...bad.filter((e) => e.error)];
    expect(refused.length).to.be.greaterThan(10);
    for (const e of refused) {
      const err = await usageError(decodeImage(e.file, 'RGB'));
      expect(err.message, `${e.name} (PIL: ${e.error})`).to.include(e.file);
      expect(err.message, e.name).to.not.include('\n');
    }
    console.log(`      ${refused.length} refused, as by PIL: ${[...new Set(refused.map((e) => e.error!.replace(/'.*'/, "'…'").replace(/\(\d+ bytes/, '(N bytes')))].join('; ')}`);
  });

  it('damaged files PIL still decodes (corrupt JPEG scan, trailing junk, missing IEND, bad IDAT/late CRC) give its bytes', async () => {
    const accepted = bad.filter((e) => !e.error);
    expect(accepted.map((e) => e.name)).to.include.members(['jpeg-corrupt-scan.jpg', 'png-bad-idat-crc.png', 'truncated-no-iend.png']);
    for (const e of accepted) {
      const ref = new Uint8Array(blob.buffer, blob.byteOffset + e.rgb![0], e.rgb![1]);
      const img = await decodeImage(e.file, 'RGB');
      const d = byteDiff(img.data, ref);
      expect(d.count, `${e.name}: ${d.count} bytes differ, max diff ${d.max}`).to.equal(0);
    }
  });

  it('BMP and PPM/PGM (which PIL reads but libvips cannot) are refused with a clear message, by decodeImage and probeImage', async () => {
    const bmps = entries.filter((e) => e.name.startsWith('bmp-'));
    const netpbm = entries.filter((e) => e.name.startsWith('netpbm-'));
    expect(bmps.length).to.be.greaterThan(10);
    expect(netpbm.length).to.be.greaterThan(4);
    for (const e of bmps) {
      const err = await usageError(decodeImage(e.file, 'RGB'));
      expect(err.message).to.equal(`${e.file}: BMP images are not supported (libvips, which decodes for sharp, has no BMP reader); convert them to PNG`);
    }
    // They were listed by folder: (as ImageFolder lists them) and then failed as "unsupported image format".
    for (const e of netpbm) {
      const want = `${e.file}: PPM/PGM (Netpbm) images are not supported (libvips, which decodes for sharp, has no Netpbm reader); convert them to PNG`;
      expect((await usageError(decodeImage(e.file, 'RGB'))).message, e.name).to.equal(want);
      expect((await usageError(probeImage(e.file))).message, e.name).to.equal(want);
    }
  });

  it("probeImage gives PIL's size from the header, for every file PIL opens", async () => {
    for (const e of entries.filter((x) => !x.error && !x.name.startsWith('bmp-') && !x.name.startsWith('netpbm-'))) {
      expect(await probeImage(e.file), e.name).to.deep.equal({ width: e.width, height: e.height });
    }
  });

  it("DEFAULT_MAX_PIXELS is PIL's DecompressionBombError threshold, 2 × Image.MAX_IMAGE_PIXELS", () => {
    expect(DEFAULT_MAX_PIXELS).to.equal(2 * maxImagePixels);
  });

  it(`real photographs in test/fixtures/photos equal PIL's convert('RGB') (when the folder exists)`, async function () {
    if (!existsSync(PHOTOS)) {
      console.log('      skipped: no test/fixtures/photos yet');
      this.skip();
    }
    const files = readdirSync(PHOTOS, { recursive: true, encoding: 'utf8' })
      .map((f) => join(PHOTOS, f))
      .filter((f) => statSync(f).isFile() && !/\.(md|txt|json)$/i.test(f))
      .sort();
    expect(files.length, 'photos to compare').to.be.greaterThan(0);
    const out = join(tmp, 'photos');
    mkdirSync(out);
    const ref = pilReference('files', out, ...files);
    const list = (ref.index.files as Entry[]).map((e) => ({ ...e, name: e.file.slice(PHOTOS.length + 1) }));
    const opened = list.filter((e) => !e.error && e.format !== 'BMP');
    const { failures, bytes } = await compare(opened, ref.blob, ['RGB']);
    const formats = [...new Set(opened.map((e) => `${e.format}/${e.mode}`))].sort();
    console.log(`      ${opened.length} photos (${formats.join(', ')}), ${bytes} bytes: ${failures.length} differ`);
    for (const e of list.filter((x) => x.error || x.format === 'BMP')) {
      await usageError(decodeImage(e.file, 'RGB'));
      console.log(`      ${e.name}: refused (PIL: ${e.error ?? 'BMP'})`);
    }
    expect(failures, failures.slice(0, 10).join('\n')).to.deep.equal([]);
  });
});

describe('data/pil/decode: the image add-on\'s JPEG decoder and sharp give the same bytes', () => {
  it('every JPEG photograph, modes RGB and L, on both paths (when the add-on has libjpeg)', async function () {
    if (setJpegPath('native') !== 'native') this.skip();
    const files = readdirSync(PHOTOS, { withFileTypes: true }).filter((d) => d.isDirectory()).flatMap((d) => readdirSync(join(PHOTOS, d.name)).filter((f) => /\.jpe?g$/i.test(f)).map((f) => join(PHOTOS, d.name, f)));
    expect(files.length).to.be.greaterThan(5);
    try {
      for (const f of files) {
        for (const mode of ['RGB', 'L'] as const) {
          setJpegPath('native');
          const a = await decodeImage(f, mode);
          setJpegPath('sharp');
          const b = await decodeImage(f, mode);
          expect([a.width, a.height, a.channels]).to.deep.equal([b.width, b.height, b.channels]);
          expect(Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)), `${f} ${mode}`).to.equal(0);
        }
      }
    } finally {
      setJpegPath('native');
    }
  });
});

describe('data/pil/decode: bad input without PIL', function () {
  this.timeout(30_000);
  let tmp = '';
  let jpeg: Buffer = Buffer.alloc(0);
  before(async () => {
    tmp = tmpDir('pil-bad');
    const raw = new Uint8Array(120 * 80 * 3).map((_, i) => (i * 37) & 255);
    jpeg = await sharp(raw, { raw: { width: 120, height: 80, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  });
  after(() => rmDir(tmp));

  const write = (name: string, data: Uint8Array | string) => {
    const f = join(tmp, name);
    writeFileSync(f, data);
    return f;
  };

  it('EXPECTED FAILURE - zero-byte, text named .jpg, truncated, missing, a directory → one UsageError line naming the file', async () => {
    const cases: [string, RegExp][] = [
      [write('empty.jpg', ''), /empty\.jpg: not an image \(empty file, 0 bytes\)$/],
      [write('notes.jpg', 'just some text, not a JPEG\n'.repeat(20)), /notes\.jpg: not a readable image \(unsupported image format\)$/],
      [write('half.jpg', jpeg.subarray(0, jpeg.length >> 1)), /half\.jpg: cannot decode image \(VipsJpeg: premature end of JPEG image\)$/],
      [write('header.jpg', jpeg.subarray(0, 150)), /header\.jpg: not a readable image \(corrupt header: VipsJpeg: .*\)$/],
      [join(tmp, 'missing.png'), /missing\.png: cannot read image file \(no such file\)$/],
      [tmp, /: cannot read image file \(is a directory\)$/],
    ];
    for (const [file, re] of cases) {
      for (const mode of ['RGB', 'L'] as const) {
        const err = await usageError(decodeImage(file, mode));
        expect(err.message).to.match(re);
        expect(err.message).to.not.include('\n');
        expect(err.exitCode).to.equal(2);
      }
    }
    const err = await usageError(probeImage(join(tmp, 'empty.jpg')));
    expect(err.message).to.match(/empty\.jpg: not an image/);
  });

  it('a bytes input is named by opts.file', async () => {
    const err = await usageError(decodeImage(new Uint8Array([1, 2, 3]), 'RGB', { file: 'shard-3/item-17' }));
    expect(err.message).to.match(/^shard-3\/item-17: not a readable image/);
    const ok = await decodeImage(new Uint8Array(jpeg), 'RGB');
    expect([ok.width, ok.height, ok.channels]).to.deep.equal([120, 80, 3]);
  });

  it('EXPECTED FAILURE - more pixels than maxPixels is refused from the header, naming the file and the limit', async () => {
    const file = write('big.jpg', jpeg);
    const err = await usageError(decodeImage(file, 'RGB', { maxPixels: 120 * 80 - 1 }));
    expect(err.message).to.equal(`${file}: 120x80 = 9600 pixels exceeds the limit of 9599 (by default PIL's decompression-bomb threshold); pass a larger maxPixels if the file is trusted`);
    const ok = await decodeImage(file, 'RGB', { maxPixels: 120 * 80 });
    expect(ok.data.length).to.equal(120 * 80 * 3);
    expect((await decodeImage(file, 'L', { maxPixels: Infinity })).data.length).to.equal(120 * 80);
    await usageError(decodeImage(file, 'RGB', { maxPixels: 0 }));
    await usageError(decodeImage(file, 'RGB', { maxPixels: Number.NaN }));
    // a GIF whose header claims 40000x40000 (PIL's own reader path): refused before any decoding
    const gif = Buffer.from([...Buffer.from('GIF89a'), 0x40, 0x9c, 0x40, 0x9c, 0, 0, 0, 0x3b]);
    const gerr = await usageError(decodeImage(write('bomb.gif', gif), 'RGB'));
    expect(gerr.message).to.match(/bomb\.gif: not a readable image \(GIF: no image in the file\)/);
    const gif2 = Buffer.concat([gif.subarray(0, 13), Buffer.from([0x2c, 0, 0, 0, 0, 0x40, 0x9c, 0x40, 0x9c, 0, 8, 1, 0, 0, 0x3b])]);
    const gerr2 = await usageError(decodeImage(write('bomb2.gif', gif2), 'RGB'));
    expect(gerr2.message).to.match(new RegExp(`bomb2\\.gif: 40000x40000 = 1600000000 pixels exceeds the limit of ${DEFAULT_MAX_PIXELS}`));
  });

  it("BAD CALL - a mode other than 'L' or 'RGB'", async () => {
    await usageError(decodeImage(jpeg, 'RGBA' as PilMode));
  });
});

describe('data/pil/convert: the Convert.c formulas', () => {
  it('rgb2l is (R·19595 + G·38470 + B·7471 + 0x8000) >> 16; cmyk2rgb uses MULDIV255', () => {
    expect(luma(255, 255, 255)).to.equal(255);
    expect(luma(255, 0, 0)).to.equal(76); // (4996725 + 32768) >> 16
    expect(luma(0, 255, 0)).to.equal(150);
    expect(luma(0, 0, 255)).to.equal(29);
    expect(cmykChannel(0, 0)).to.equal(255);
    expect(cmykChannel(255, 0)).to.equal(0);
    expect(cmykChannel(128, 64)).to.equal(95); // nk = 191, t = 128·191 + 128 = 24576, ((t >> 8) + t) >> 8 = 96
  });

  it('mode I (16-bit grey PNG) is clipped to 0..255; 1 is 0/255; P past the palette reads the grey ramp', () => {
    const i = convert({ mode: 'I', width: 4, height: 1, data: new Int32Array([-5, 100, 255, 40000]) }, 'RGB');
    expect(Array.from(i.data)).to.deep.equal([0, 0, 0, 100, 100, 100, 255, 255, 255, 255, 255, 255]);
    const b = convert({ mode: '1', width: 2, height: 1, data: new Uint8Array([0, 255]) }, 'L');
    expect(Array.from(b.data)).to.deep.equal([0, 255]);
    const p = convert({ mode: 'P', width: 2, height: 1, data: new Uint8Array([0, 7]), palette: new Uint8Array([9, 8, 7]) }, 'RGB');
    expect(Array.from(p.data)).to.deep.equal([9, 8, 7, 7, 7, 7]);
  });
});
