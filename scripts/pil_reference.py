#!/usr/bin/python3
"""PIL reference for src/data/pil/ (decode.ts, convert.ts, resample.ts).

Run with Debian's interpreter (`/usr/bin/python3`, Pillow 9.4; CI installs python3-pil):

  pil_reference.py decode OUT         # test images in every format/mode + what PIL makes of them
  pil_reference.py resize OUT         # photo-like L/RGB images + PIL's resize for every filter
  pil_reference.py files OUT FILE...  # PIL's convert('RGB') of existing files (e.g. real photos)

Each writes OUT/index.json and one blob of reference bytes (the index holds [offset, length]):
  decode: img/NAME.EXT, deterministic test images (photo-like: smooth gradients, seeded noise,
          hard edges, saturated patches) in every format and mode PIL and sharp both read, and
          damaged/non-image files in bad/; per image PIL's `Image.open(f).convert('RGB')` and
          `.convert('L')` bytes, or the error PIL raises;
  resize: source images (mode L or RGB bytes) and PIL's `im.resize((w, h), filter)` for every
          filter, up and down by many factors (non-integer, > 4, to one pixel, one axis only);
  files:  per file PIL's format, mode, size and convert('RGB') bytes, or its error.

Every case is deterministic (random.Random with fixed seeds, no numpy), so a failing case can be
regenerated and inspected by hand.
"""
import io
import json
import os
import random
import struct
import sys
import zlib

from PIL import Image, ImageDraw, __version__ as PIL_VERSION

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


# ----------------------------------------------------------------------------------------------
# content


def photo(w, h, seed):
    """An RGB image that behaves like a photograph under resampling: smooth colour gradients,
    per-pixel noise, hard-edged shapes and saturated (0/255) patches that make filters overshoot."""
    rnd = random.Random(seed)
    gw, gh = max(2, min(w, 5)), max(2, min(h, 4))
    base = Image.frombytes("RGB", (gw, gh), rnd.randbytes(gw * gh * 3)).resize((w, h), Image.Resampling.BILINEAR)
    noise = Image.frombytes("RGB", (w, h), rnd.randbytes(w * h * 3))
    im = Image.blend(base, noise, 0.18)
    d = ImageDraw.Draw(im)
    for _ in range(3 + (w * h) // 20000):
        x0, y0 = rnd.randrange(w), rnd.randrange(h)
        x1, y1 = x0 + rnd.randrange(1, max(2, w // 3)), y0 + rnd.randrange(1, max(2, h // 3))
        color = tuple(rnd.choice((0, 255, rnd.randrange(256))) for _ in range(3))
        shape = rnd.randrange(3)
        if shape == 0:
            d.rectangle((x0, y0, x1, y1), fill=color)
        elif shape == 1:
            d.ellipse((x0, y0, x1, y1), fill=color)
        else:
            d.line((x0, y0, x1, y1), fill=color, width=rnd.randrange(1, 4))
    return im


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(w, h, depth, ctype, rows, plte=None, trns=None, interlace=False):
    """A PNG written by hand, for the bit depths and colour types PIL cannot save (16-bit RGB,
    16-bit grey + alpha, 2/4-bit grey, tRNS on grey/RGB, Adam7 interlacing). rows: one bytes
    object per row (interlace: depth >= 8 only)."""
    bpp = _bpp(depth, ctype)
    passes = [(rows, w, h)]
    if interlace:
        passes = []
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
            sub = [b"".join(rows[y][x * bpp : (x + 1) * bpp] for x in range(x0, w, dx)) for y in range(y0, h, dy)]
            if sub and sub[0]:
                passes.append((sub, len(range(x0, w, dx)), len(sub)))
    raw = b""
    for prows, pw, ph in passes:
        # Every row filter on small images (decoders must undo each exactly); none on big ones (the
        # pure-Python filter would be slow).
        kinds = [i % 5 if pw * ph <= 4096 else 0 for i in range(ph)]
        raw += b"".join(bytes([k]) + _filter(r, k, bpp, prows[i - 1] if i else None) for i, (k, r) in enumerate(zip(kinds, prows)))
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 1 if interlace else 0))
    if plte is not None:
        out += png_chunk(b"PLTE", plte)
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    return out + png_chunk(b"IDAT", zlib.compress(raw, 6)) + png_chunk(b"IEND", b"")


def _bpp(depth, ctype):
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    return max(1, channels * depth // 8)


def _filter(row, kind, bpp, prev):
    """PNG row filters 0-4 (every one of them is exercised; decoders must undo each exactly)."""
    if kind == 0:
        return row
    prev = prev if prev is not None else bytes(len(row))
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if kind == 0:
            p = 0
        elif kind == 1:
            p = a
        elif kind == 2:
            p = b
        elif kind == 3:
            p = (a + b) // 2
        else:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            p = a if pa <= pb and pa <= pc else b if pb <= pc else c
        out[i] = (x - p) & 0xFF
    return bytes(out)


def pack_bits(values, depth):
    out = bytearray()
    per = 8 // depth
    for i in range(0, len(values), per):
        byte = 0
        for j in range(per):
            v = values[i + j] if i + j < len(values) else 0
            byte |= v << (8 - depth * (j + 1))
        out.append(byte)
    return bytes(out)


def encoded(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------
# GIF written by hand, for the structures PIL's writer never produces (frames offset from or larger
# than the screen, local tables, a grey-ramp local table over a colour global one, no table at
# all, short tables with indices past their end, odd interlaced heights).


def lzw_literals(indices, bits):
    """LZW data of only literal codes, with a clear code whenever the table would grow."""
    clear = 1 << bits
    codesize = bits + 1
    acc = nbits = 0
    out = bytearray()

    def put(code):
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += codesize
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    for i in range(0, len(indices), clear - 2):
        put(clear)
        for v in indices[i : i + clear - 2]:
            put(v)
    put(clear + 1)
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def sub_blocks(data):
    return b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255)) + b"\x00"


def gif_bytes(sw, sh, frames, gct=None, gct_bits=None):
    """frames: dicts with x0 y0 w h indices [lct lct_bits trns interlace bits]."""
    flags = 0
    if gct is not None:
        flags = 0x80 | (gct_bits - 1)
    out = b"GIF89a" + struct.pack("<HHBBB", sw, sh, flags, 0, 0)
    if gct is not None:
        out += gct.ljust(3 << gct_bits, b"\x00")
    for f in frames:
        out += f.get("pre", b"")
        if f.get("trns") is not None:
            out += b"\x21\xf9\x04" + struct.pack("<BHB", 1, 10, f["trns"]) + b"\x00"
        out += b"\x21\xfe" + sub_blocks(b"a comment")
        fl = 0x40 if f.get("interlace") else 0
        if f.get("lct") is not None:
            fl |= 0x80 | (f["lct_bits"] - 1)
        out += b"," + struct.pack("<HHHHB", f["x0"], f["y0"], f["w"], f["h"], fl)
        if f.get("lct") is not None:
            out += f["lct"].ljust(3 << f["lct_bits"], b"\x00")
        idx = f["indices"]
        if f.get("interlace"):
            rows = [idx[y * f["w"] : (y + 1) * f["w"]] for y in range(f["h"])]
            order = list(range(0, f["h"], 8)) + list(range(4, f["h"], 8)) + list(range(2, f["h"], 4)) + list(range(1, f["h"], 2))
            idx = b"".join(rows[y] for y in order)
        bits = f.get("bits", 8)
        out += bytes([bits]) + sub_blocks(lzw_literals(idx, bits))
    return out + b";"


def gif_cases():
    rnd = random.Random(21)
    colours = rnd.randbytes(768)
    ramp = bytes(v for i in range(256) for v in (i, i, i))

    def idx(w, h, top=256):
        return bytes(rnd.randrange(top) for _ in range(w * h))

    cases = [
        ("gif-offset-frame", gif_bytes(40, 30, [dict(x0=5, y0=7, w=20, h=11, indices=idx(20, 11))], colours, 8)),
        ("gif-offset-frame-trns", gif_bytes(40, 30, [dict(x0=5, y0=7, w=20, h=11, indices=idx(20, 11), trns=9)], colours, 8)),
        ("gif-frame-beyond-screen", gif_bytes(20, 10, [dict(x0=4, y0=3, w=30, h=12, indices=idx(30, 12))], colours, 8)),
        ("gif-local-table", gif_bytes(17, 9, [dict(x0=0, y0=0, w=17, h=9, indices=idx(17, 9, 16), lct=rnd.randbytes(48), lct_bits=4, bits=4)], colours, 8)),
        # literals past the clear code: PIL refuses the file
        ("gif-bad-codes", gif_bytes(17, 9, [dict(x0=0, y0=0, w=17, h=9, indices=idx(17, 9), lct=rnd.randbytes(48), lct_bits=4, bits=4)], colours, 8)),
        ("gif-local-ramp-over-global", gif_bytes(17, 9, [dict(x0=0, y0=0, w=17, h=9, indices=idx(17, 9), lct=ramp, lct_bits=8)], colours, 8)),
        ("gif-global-ramp", gif_bytes(17, 9, [dict(x0=0, y0=0, w=17, h=9, indices=idx(17, 9))], ramp, 8)),
        ("gif-no-table", gif_bytes(17, 9, [dict(x0=0, y0=0, w=17, h=9, indices=idx(17, 9))])),
        ("gif-short-table", gif_bytes(16, 16, [dict(x0=0, y0=0, w=16, h=16, indices=bytes(range(256)))], rnd.randbytes(12), 2)),
        ("gif-2bit-codes", gif_bytes(33, 5, [dict(x0=0, y0=0, w=33, h=5, indices=idx(33, 5, 4), bits=2)], rnd.randbytes(12), 2)),
        # an application extension with an empty first sub-block: PIL then skips the next bytes
        # as if they were sub-blocks (here the comment extension and part of the descriptor)
        ("gif-empty-extension", gif_bytes(17, 9, [dict(x0=0, y0=0, w=17, h=9, indices=idx(17, 9), pre=b"\x21\xff\x00")], colours, 8)),
        ("gif-two-frames-first-small", gif_bytes(30, 20, [dict(x0=2, y0=2, w=5, h=5, indices=idx(5, 5), trns=1), dict(x0=0, y0=0, w=30, h=20, indices=idx(30, 20))], colours, 8)),
    ]
    for h in (1, 2, 3, 4, 5, 7, 8, 9, 13, 17):
        cases.append((f"gif-interlaced-h{h}", gif_bytes(6, h, [dict(x0=0, y0=0, w=6, h=h, indices=idx(6, h), interlace=True)], colours, 8)))
    return cases


# ----------------------------------------------------------------------------------------------
# TIFF written by hand (uncompressed), for what PIL's writer cannot produce: 16-bit RGB(A),
# associated (premultiplied) alpha, big-endian 16-bit grey, separate colour planes.


def tiff_bytes(w, h, spp, bps, planes, photometric=2, extra=None, big_endian=False):
    """planes: one bytes object (contiguous samples) or spp of them (PlanarConfiguration 2)."""
    e = ">" if big_endian else "<"
    planar = 2 if len(planes) > 1 else 1
    entries = []
    extra_data = b""
    n_entries = 10 + (extra is not None)
    data_off = 8 + 2 + 12 * n_entries + 4
    strips = []
    off = data_off
    for p in planes:
        strips.append((off, len(p)))
        off += len(p)
    bps_off = off
    extra_data += struct.pack(e + "H" * spp, *([bps] * spp))
    offs_off = bps_off + len(extra_data)
    extra_data += struct.pack(e + "I" * len(strips), *[o for o, _ in strips])
    cnts_off = offs_off + 4 * len(strips)
    extra_data += struct.pack(e + "I" * len(strips), *[n for _, n in strips])

    def short(tag, v):
        entries.append(struct.pack(e + "HHIH", tag, 3, 1, v) + b"\x00\x00")

    def long_(tag, count, v):
        entries.append(struct.pack(e + "HHII", tag, 4 if tag in (273, 279) else 3, count, v))

    short(256, w)
    short(257, h)
    if spp > 2:
        long_(258, spp, bps_off)
    else:
        entries.append(struct.pack(e + "HHI", 258, 3, spp) + struct.pack(e + "HH", bps, bps if spp == 2 else 0))
    short(259, 1)
    short(262, photometric)
    # StripOffsets / StripByteCounts: one value is held in the entry itself, more are pointed to
    long_(273, len(strips), strips[0][0] if len(strips) == 1 else offs_off)
    short(277, spp)
    short(278, h)
    long_(279, len(strips), strips[0][1] if len(strips) == 1 else cnts_off)
    short(284, planar)
    if extra is not None:
        short(338, extra)
    head = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(e + "I", 8)
    ifd = struct.pack(e + "H", len(entries)) + b"".join(entries) + bytes(4)
    return head + ifd + b"".join(planes) + extra_data


def tiff_cases(im, rnd):
    w, h = im.size
    rgb = im.tobytes()
    rgba = _with_alpha(im, rnd).tobytes()
    pre = bytearray(rgba)
    for i in range(0, len(pre), 4):
        a = pre[i + 3]
        for c in range(3):
            pre[i + c] = (pre[i + c] * a + 127) // 255
    def wide(b, big=False):
        out = bytearray(2 * len(b))
        lo = rnd.randbytes(len(b))
        out[0::2], out[1::2] = (b, lo) if big else (lo, b)
        return bytes(out)
    g = im.convert("L").tobytes()
    return [
        ("tiff-rgb16", tiff_bytes(w, h, 3, 16, [wide(rgb)])),
        ("tiff-rgba16", tiff_bytes(w, h, 4, 16, [wide(rgba)], extra=2)),
        ("tiff-rgba-associated", tiff_bytes(w, h, 4, 8, [bytes(pre)], extra=1)),
        ("tiff-rgba-associated-invalid", tiff_bytes(w, h, 4, 8, [rnd.randbytes(w * h * 4)], extra=1)),
        ("tiff-rgba-unassociated", tiff_bytes(w, h, 4, 8, [rgba], extra=2)),
        ("tiff-gray16-big-endian", tiff_bytes(w, h, 1, 16, [wide(g, True)], photometric=1, big_endian=True)),
        ("tiff-rgb-planar", tiff_bytes(w, h, 3, 8, [rgb[c::3] for c in range(3)])),
    ]


# ----------------------------------------------------------------------------------------------
# JPEG surgery: PIL/libjpeg cannot write YCCK or CMYK without the Adobe marker; build them from
# JPEGs it can write.


def jpeg_segments(data):
    """Split a JPEG into (marker, payload) segments; the entropy-coded data after an SOS is kept
    in that SOS's payload."""
    assert data[:2] == b"\xff\xd8"
    i, segs = 2, []
    while i < len(data):
        assert data[i] == 0xFF, i
        marker = data[i + 1]
        if marker == 0xD9:
            segs.append((marker, b""))
            break
        n = struct.unpack(">H", data[i + 2 : i + 4])[0]
        payload = data[i + 4 : i + 2 + n]
        i += 2 + n
        if marker == 0xDA:
            j = i
            while True:
                j = data.index(b"\xff", j)
                if data[j + 1] == 0 or 0xD0 <= data[j + 1] <= 0xD7:
                    j += 2
                    continue
                break
            payload += data[i:j]
            i = j
        segs.append((marker, payload))
    return segs


def join_segments(segs):
    out = b"\xff\xd8"
    for marker, payload in segs:
        if marker == 0xD9:
            out += b"\xff\xd9"
        elif marker == 0xDA:
            hlen = 2 + 1 + 2 * payload[0] + 3
            out += b"\xff\xda" + struct.pack(">H", hlen) + payload[: hlen - 2] + payload[hlen - 2 :]
        else:
            out += bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return out


def drop_app14(data):
    return join_segments([s for s in jpeg_segments(data) if s[0] != 0xEE])


def ycck_jpeg(ycc_im, k_im, quality):
    """A 4-component progressive JPEG with Adobe transform 2 (YCCK): the scans of a 4:4:4
    progressive YCbCr JPEG of `ycc_im` followed by those of a progressive greyscale JPEG of
    `k_im`, renumbered to component 4. Progressive scans of one component are self-contained, so
    the result is a valid YCCK JPEG; libjpeg decodes it to CMYK (ycck_cmyk_convert)."""
    a = jpeg_segments(encoded(ycc_im, "JPEG", quality=quality, subsampling=0, progressive=True))
    b = jpeg_segments(encoded(k_im, "JPEG", quality=quality, progressive=True))
    sof_a = next(p for m, p in a if m == 0xC2)
    sof_b = next(p for m, p in b if m == 0xC2)
    assert sof_a[5] == 3 and sof_b[5] == 1
    # K keeps its own quantisation table, renumbered to 2.
    dqt_b = [p for m, p in b if m == 0xDB]
    k_tables = b""
    for p in dqt_b:
        j = 0
        while j < len(p):
            pq_tq = p[j]
            size = 1 + (128 if pq_tq >> 4 else 64)
            k_tables += bytes([(pq_tq & 0xF0) | 2]) + p[j + 1 : j + size]
            j += size
    comp_k = bytes([4, sof_b[7], 2])
    sof = sof_a[:5] + bytes([4]) + sof_a[6:] + comp_k
    adobe = b"Adobe" + struct.pack(">HHHB", 100, 0, 0, 2)
    segs = [(0xEE, adobe)]
    for m, p in a:
        if m in (0xE0, 0xD9):
            continue
        if m == 0xC2:
            segs.append((0xDB, k_tables))
            segs.append((0xC2, sof))
        else:
            segs.append((m, p))
    seen_sof = False
    for m, p in b:
        if m == 0xC2:
            seen_sof = True
            continue
        if not seen_sof or m in (0xD9,):
            continue
        if m == 0xDA:
            assert p[0] == 1
            p = bytes([1, 4]) + p[2:]
        segs.append((m, p))
    segs.append((0xD9, b""))
    return join_segments(segs)


# ----------------------------------------------------------------------------------------------
# the decode cases: (name, ext, bytes)


SIZES = [(1, 1), (2, 3), (17, 9), (64, 48), (333, 251), (640, 480), (900, 6), (5, 211)]


def decode_cases():
    cases = []

    def add(name, ext, data):
        cases.append((name, ext, data))

    rnd = random.Random(7)
    for si, (w, h) in enumerate(SIZES):
        im = photo(w, h, 100 + si)
        tag = f"{w}x{h}"
        big = w * h >= 64 * 48
        # JPEG
        add(f"jpeg-420-q90-{tag}", "jpg", encoded(im, "JPEG", quality=90))
        add(f"jpeg-444-q95-{tag}", "jpg", encoded(im, "JPEG", quality=95, subsampling=0))
        add(f"jpeg-gray-{tag}", "jpg", encoded(im.convert("L"), "JPEG", quality=85))
        add(f"jpeg-cmyk-{tag}", "jpg", encoded(im.convert("CMYK"), "JPEG", quality=90))
        if big or si < 3:
            add(f"jpeg-422-q75-{tag}", "jpg", encoded(im, "JPEG", quality=75, subsampling=1))
            add(f"jpeg-progressive-{tag}", "jpg", encoded(im, "JPEG", quality=88, progressive=True))
            add(f"jpeg-q20-optimized-{tag}", "jpg", encoded(im, "JPEG", quality=20, optimize=True))
            add(f"jpeg-cmyk-noadobe-{tag}", "jpg", drop_app14(encoded(im.convert("CMYK"), "JPEG", quality=80)))
            cm = im.convert("CMYK").split()
            add(f"jpeg-ycck-{tag}", "jpg", ycck_jpeg(Image.merge("RGB", cm[:3]), cm[3], 85))
        # PNG (PIL)
        add(f"png-rgb-{tag}", "png", encoded(im, "PNG"))
        add(f"png-rgba-{tag}", "png", encoded(_with_alpha(im, rnd), "PNG"))
        add(f"png-l-{tag}", "png", encoded(im.convert("L"), "PNG"))
        add(f"png-la-{tag}", "png", encoded(_with_alpha(im, rnd).convert("LA"), "PNG"))
        pal = im.quantize(colors=200 if si % 2 else 16, method=Image.Quantize.FASTOCTREE)
        add(f"png-p-{tag}", "png", encoded(pal, "PNG"))
        add(f"png-p-trns-index-{tag}", "png", encoded(pal, "PNG", transparency=3))
        add(f"png-p-trns-bytes-{tag}", "png", encoded(pal, "PNG", transparency=bytes(range(0, 250, 7))))
        add(f"png-1bit-{tag}", "png", encoded(im.convert("1"), "PNG"))
        add(f"png-i16-pil-{tag}", "png", encoded(_gray16(im).convert("I"), "PNG"))
        # PNG (by hand)
        add(f"png-rgb16-{tag}", "png", _png16(im, rnd, 2))
        add(f"png-rgba16-{tag}", "png", _png16(im, rnd, 6))
        add(f"png-gray16-{tag}", "png", _png16(im, rnd, 0))
        add(f"png-gray16-alpha-{tag}", "png", _png16(im, rnd, 4))
        add(f"png-gray16-trns-{tag}", "png", _png16(im, rnd, 0, trns=struct.pack(">H", 65535)))
        add(f"png-rgb16-trns-{tag}", "png", _png16(im, rnd, 2, trns=struct.pack(">HHH", 0, 0, 0)))
        for depth in (1, 2, 4) if w * h <= 64 * 48 else ():
            g = im.convert("L").tobytes()
            rows = [pack_bits([v >> (8 - depth) for v in g[y * w : (y + 1) * w]], depth) for y in range(h)]
            add(f"png-gray{depth}bit-{tag}", "png", png_bytes(w, h, depth, 0, rows))
            q = im.quantize(colors=1 << depth, method=Image.Quantize.FASTOCTREE)
            idx = q.tobytes()
            rows = [pack_bits(list(idx[y * w : (y + 1) * w]), depth) for y in range(h)]
            plte = bytes(q.getpalette()[: 3 * (1 << depth)])
            add(f"png-p{depth}bit-trns-{tag}", "png", png_bytes(w, h, depth, 3, rows, plte=plte, trns=b"\x00\x80"))
        rgb = im.tobytes()
        add(f"png-rgb-trns-{tag}", "png", png_bytes(w, h, 8, 2, [rgb[y * w * 3 : (y + 1) * w * 3] for y in range(h)], trns=struct.pack(">HHH", *rgb[:3])))
        g = im.convert("L").tobytes()
        if w * h <= 333 * 251:
            add(f"png-rgb-adam7-{tag}", "png", png_bytes(w, h, 8, 2, [rgb[y * w * 3 : (y + 1) * w * 3] for y in range(h)], interlace=True))
            add(f"png-rgba16-adam7-{tag}", "png", _png16(im, rnd, 6, interlace=True))
        add(f"png-gray-trns-{tag}", "png", png_bytes(w, h, 8, 0, [g[y * w : (y + 1) * w] for y in range(h)], trns=struct.pack(">H", g[0])))
        # WebP
        add(f"webp-lossy-{tag}", "webp", encoded(im, "WEBP", quality=80, method=2))
        add(f"webp-lossless-{tag}", "webp", encoded(im, "WEBP", lossless=True, method=0))
        add(f"webp-lossy-alpha-{tag}", "webp", encoded(_with_alpha(im, rnd), "WEBP", quality=70, method=2))
        add(f"webp-lossless-alpha-{tag}", "webp", encoded(_with_alpha(im, rnd), "WEBP", lossless=True, method=0))
        if si in (2, 4):
            nxt = photo(w, h, 700 + si)
            add(f"webp-animated-{tag}", "webp", encoded(im, "WEBP", save_all=True, append_images=[nxt], duration=80, quality=80, method=2))
        # GIF
        add(f"gif-{tag}", "gif", encoded(pal, "GIF"))
        add(f"gif-trns-{tag}", "gif", encoded(pal, "GIF", transparency=2))
        add(f"gif-l-{tag}", "gif", encoded(im.convert("L"), "GIF"))
        second = photo(w, h, 900 + si).quantize(colors=64, method=Image.Quantize.FASTOCTREE)
        add(f"gif-animated-{tag}", "gif", encoded(pal, "GIF", save_all=True, append_images=[second], duration=100, loop=0))
        # TIFF
        add(f"tiff-rgb-{tag}", "tif", encoded(im, "TIFF"))
        add(f"tiff-rgb-lzw-{tag}", "tif", encoded(im, "TIFF", compression="tiff_lzw"))
        add(f"tiff-rgba-deflate-{tag}", "tif", encoded(_with_alpha(im, rnd), "TIFF", compression="tiff_adobe_deflate"))
        add(f"tiff-l-{tag}", "tif", encoded(im.convert("L"), "TIFF"))
        add(f"tiff-cmyk-{tag}", "tif", encoded(im.convert("CMYK"), "TIFF"))
        add(f"tiff-p-{tag}", "tif", encoded(pal, "TIFF"))
        add(f"tiff-1bit-{tag}", "tif", encoded(im.convert("1"), "TIFF"))
        add(f"tiff-i16-{tag}", "tif", encoded(_gray16(im), "TIFF"))
        if si in (2, 3, 4):
            for name, data in tiff_cases(im, rnd):
                add(f"{name}-{tag}", "tif", data)
        # BMP
        add(f"bmp-rgb-{tag}", "bmp", encoded(im, "BMP"))
        add(f"bmp-p-{tag}", "bmp", encoded(pal, "BMP"))
        add(f"bmp-l-{tag}", "bmp", encoded(im.convert("L"), "BMP"))
        add(f"bmp-1bit-{tag}", "bmp", encoded(im.convert("1"), "BMP"))
        # Netpbm, which ImageFolder lists (.ppm, .pgm) and PIL reads, libvips (sharp) does not
        add(f"netpbm-ppm-{tag}", "ppm", encoded(im, "PPM"))
        add(f"netpbm-pgm-{tag}", "pgm", encoded(im.convert("L"), "PPM"))
    for name, data in gif_cases():
        add(name, "gif", data)
    # Metadata PIL ignores: an EXIF orientation (not applied), an ICC profile (not applied).
    im = photo(120, 80, 5)
    exif = Image.Exif()
    exif[0x0112] = 6
    add("jpeg-exif-orientation-6", "jpg", encoded(im, "JPEG", quality=90, exif=exif.tobytes()))
    add("png-exif-orientation-6", "png", encoded(im, "PNG", exif=exif.tobytes()))
    icc = _icc_profile()
    if icc:
        add("jpeg-icc", "jpg", encoded(im, "JPEG", quality=90, icc_profile=icc))
        add("png-icc", "png", encoded(im, "PNG", icc_profile=icc))
        add("jpeg-cmyk-icc", "jpg", encoded(im.convert("CMYK"), "JPEG", quality=90, icc_profile=icc))
    return cases


def _icc_profile():
    """An RGB profile that is not sRGB: littlecms's sRGB with the tone curves' gamma patched from
    2.4 to 1.0, so applying it (sharp's default) would visibly change the pixels; PIL never does."""
    try:
        from PIL import ImageCms

        b = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    except Exception:  # no littlecms: skip those cases
        return None
    for i in range(struct.unpack(">I", b[128:132])[0]):
        sig, off, _ = struct.unpack(">4sII", b[132 + 12 * i : 144 + 12 * i])
        if sig in (b"rTRC", b"gTRC", b"bTRC") and b[off : off + 4] == b"para":
            b[off + 12 : off + 16] = struct.pack(">i", 1 << 16)
    b[84:100] = bytes(16)  # profile ID (an MD5 of the profile): 0 = not computed
    return bytes(b)


def _with_alpha(im, rnd):
    w, h = im.size
    a = Image.frombytes("L", (w, h), rnd.randbytes(w * h)).point(lambda v: 0 if v < 40 else 255 if v > 200 else v)
    out = im.copy()
    out.putalpha(a)
    return out


def _gray16(im):
    """A 16-bit greyscale image (mode I;16) with values over the whole range and rows of small
    values (< 256) that survive PIL's clipping in convert('RGB')."""
    w, h = im.size
    g = im.convert("L").tobytes()
    vals = bytearray(2 * w * h)
    for y in range(h):
        row = g[y * w : (y + 1) * w]
        lo, hi = (row, bytes(w)) if y % 3 == 0 else (bytes((x * 37 + y) & 0xFF for x in range(w)), row)
        vals[2 * y * w : 2 * (y + 1) * w : 2] = lo
        vals[2 * y * w + 1 : 2 * (y + 1) * w : 2] = hi
    return Image.frombytes("I;16", (w, h), bytes(vals))


def _png16(im, rnd, ctype, interlace=False, trns=None):
    """16-bit samples, big-endian: the high byte is the 8-bit picture, the low byte noise (so
    taking the high byte, as PIL does, and rounding v / 257 differ)."""
    w, h = im.size
    src = {0: im.convert("L"), 2: im, 4: _with_alpha(im, rnd).convert("LA"), 6: _with_alpha(im, rnd)}[ctype]
    b = src.tobytes()
    stride = w * {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    rows = []
    for y in range(h):
        hi = b[y * stride : (y + 1) * stride]
        lo = rnd.randbytes(stride)
        if ctype == 0 and y % 3 == 0:
            # grey16 without alpha opens as mode I: values below 256 survive convert('RGB')
            hi, lo = bytes(stride), hi
        row = bytearray(2 * stride)
        row[0::2], row[1::2] = hi, lo
        rows.append(bytes(row))
    if trns is not None:  # make sure some samples are the transparent colour
        first = bytearray(rows[0])
        first[: len(trns)] = trns
        rows[0] = bytes(first)
    return png_bytes(w, h, 16, ctype, rows, interlace=interlace, trns=trns)


# ----------------------------------------------------------------------------------------------
# resize cases


RESIZE_SOURCES = [(1, 1), (2, 3), (3, 2), (7, 5), (17, 13), (64, 48), (101, 67), (500, 375), (640, 480), (1000, 7), (6, 400)]


def resize_targets(w, h, rnd):
    out = set()
    for f in (1 / 7.3, 0.1, 0.25, 1 / 3, 0.5, 0.77, 0.99, 1.01, 1.5, 2, 3.3, 4.5, 8):
        tw, th = max(1, round(w * f)), max(1, round(h * f))
        if tw * th <= 60_000:  # keeps the reference small; big outputs take no other code path
            out.add((tw, th))
    out.add((1, 1))
    out.add((w, max(1, h // 2)))  # vertical pass only
    out.add((max(1, w // 2), h))  # horizontal pass only
    out.add((w, h))  # same size: a copy
    out.add((max(1, w * 2 + 1), max(1, h // 3)))  # up in x, down in y
    for _ in range(3):
        tw, th = rnd.randrange(1, 2 * w + 2), rnd.randrange(1, 2 * h + 2)
        if tw * th <= 60_000:
            out.add((tw, th))
    if (w, h) == (500, 375):
        out.add((298, 224))
        out.add((224, 224))
        out.add((256, 192))
    return sorted(out)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


class Blob:
    """Reference bytes appended to one file; the index records [offset, length]."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.pos = 0

    def add(self, data):
        self.f.write(data)
        at = [self.pos, len(data)]
        self.pos += len(data)
        return at

    def close(self):
        self.f.close()


def decode_reference(out):
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    blob = Blob(os.path.join(out, "ref.bin"))
    index = {"pil": PIL_VERSION, "max_image_pixels": Image.MAX_IMAGE_PIXELS, "blob": os.path.join(out, "ref.bin"), "decode": [], "bad": []}
    for name, ext, data in decode_cases():
        path = os.path.join(out, "img", f"{name}.{ext}")
        write(path, data)
        entry = {"name": name, "file": path}
        try:
            with Image.open(path) as im:
                entry.update(format=im.format, mode=im.mode, width=im.width, height=im.height)
                entry["rgb"] = blob.add(im.convert("RGB").tobytes())
                entry["l"] = blob.add(im.convert("L").tobytes())
        except Exception as e:  # noqa: BLE001 - recorded: PIL refuses this file
            entry["error"] = f"{type(e).__name__}: {e}"
        index["decode"].append(entry)
    index["bad"] = bad_cases(out, blob)
    blob.close()
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=0)


def resize_reference(out):
    os.makedirs(out, exist_ok=True)
    blob = Blob(os.path.join(out, "resize.bin"))
    index = {"pil": PIL_VERSION, "blob": os.path.join(out, "resize.bin"), "sources": [], "resize": []}
    rnd = random.Random(11)
    n = 0
    for si, (w, h) in enumerate(RESIZE_SOURCES):
        base = photo(w, h, 500 + si)
        for mode in ("RGB", "L"):
            im = base if mode == "RGB" else base.convert("L")
            index["sources"].append({"mode": mode, "width": w, "height": h, "data": blob.add(im.tobytes())})
            src = len(index["sources"]) - 1
            for tw, th in resize_targets(w, h, rnd):
                for fname, f in FILTERS.items():
                    if mode == "L" and fname not in ("bilinear", "bicubic", "nearest") and (tw, th) != (1, 1) and n % 2:
                        continue  # L shares the code path: a subset is enough
                    out_at = blob.add(im.resize((tw, th), f).tobytes())
                    index["resize"].append({"src": src, "toWidth": tw, "toHeight": th, "filter": fname, "out": out_at})
                    n += 1
    blob.close()
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, indent=0)


def bad_cases(out, blob):
    """Damaged files and files that are not images: what PIL does with each (refuses it, or
    decodes it regardless: then the RGB bytes it gives)."""
    im = photo(96, 64, 3)
    jpg = encoded(im, "JPEG", quality=90)
    prog = encoded(im, "JPEG", quality=90, progressive=True)
    png = encoded(im, "PNG")
    webp = encoded(im, "WEBP", quality=80, method=2)
    gif = encoded(im.quantize(colors=32, method=Image.Quantize.FASTOCTREE), "GIF")
    tif = encoded(im, "TIFF")

    def flip(data, at, mask=0xFF):
        b = bytearray(data)
        b[at] ^= mask
        return bytes(b)

    idat = png.index(b"IDAT")
    idat_len = struct.unpack(">I", png[idat - 4 : idat])[0]
    idat_crc = idat + 4 + idat_len
    text = png_chunk(b"tEXt", b"Comment\x00hello")
    bad_text = text[:-4] + bytes(4)
    sos = jpg.index(b"\xff\xda")
    cases = [
        ("zero-bytes.jpg", b""),
        ("text.jpg", b"this is not an image, just text that happens to be named .jpg\n" * 4),
        ("text.png", b"hello\n"),
        ("random.webp", random.Random(5).randbytes(3000)),
        ("jpeg-magic-only.jpg", b"\xff\xd8\xff"),
        ("truncated-half.jpg", jpg[: len(jpg) // 2]),
        ("truncated-header.jpg", jpg[:200]),
        ("truncated-progressive.jpg", prog[: len(prog) * 7 // 10]),
        ("jpeg-no-eoi.jpg", jpg[:-2]),
        ("jpeg-corrupt-scan.jpg", flip(flip(jpg, sos + 400), sos + 900, 0x0F)),
        ("jpeg-trailing-garbage.jpg", jpg + b"garbage after the end of image" * 10),
        ("truncated-half.png", png[: len(png) // 2]),
        ("truncated-no-iend.png", png[:-12]),
        ("png-header-only.png", png[:33]),
        ("png-bad-idat-data.png", flip(png, idat + 20)),
        ("png-bad-idat-crc.png", flip(png, idat_crc)),
        ("png-bad-ihdr-crc.png", flip(png, 8 + 8 + 13)),
        ("png-bad-text-crc-before-idat.png", png[: idat - 4] + bad_text + png[idat - 4 :]),
        ("png-bad-text-crc-after-idat.png", png[: idat_crc + 4] + bad_text + png[idat_crc + 4 :]),
        ("png-trailing-garbage.png", png + b"junk" * 20),
        ("truncated.webp", webp[: len(webp) // 2]),
        ("truncated.gif", gif[: len(gif) // 2]),
        ("truncated.tif", tif[: len(tif) // 2]),
    ]
    os.makedirs(os.path.join(out, "bad"), exist_ok=True)
    res = []
    for name, data in cases:
        path = os.path.join(out, "bad", name)
        write(path, data)
        entry = {"name": name, "file": path}
        try:
            with Image.open(path) as im:
                entry["rgb"] = blob.add(im.convert("RGB").tobytes())
        except Exception as e:  # noqa: BLE001
            entry["error"] = f"{type(e).__name__}: {e}"
        res.append(entry)
    return res


def files_reference(out, paths):
    os.makedirs(out, exist_ok=True)
    blob = Blob(os.path.join(out, "files.bin"))
    res = []
    for path in paths:
        entry = {"file": path}
        try:
            with Image.open(path) as im:
                entry.update(format=im.format, mode=im.mode, width=im.width, height=im.height)
                entry["rgb"] = blob.add(im.convert("RGB").tobytes())
        except Exception as e:  # noqa: BLE001
            entry["error"] = f"{type(e).__name__}: {e}"
        res.append(entry)
    blob.close()
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"pil": PIL_VERSION, "blob": os.path.join(out, "files.bin"), "files": res}, f, indent=0)


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")  # PIL warns about palette transparency given as bytes
    if len(sys.argv) == 3 and sys.argv[1] == "decode":
        decode_reference(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "resize":
        resize_reference(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "files":
        files_reference(sys.argv[2], sys.argv[3:])
    else:
        sys.exit("usage: pil_reference.py decode OUT | resize OUT | files OUT FILE...")
