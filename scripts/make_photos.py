#!/usr/bin/python3
"""Makes test/fixtures/photos/: real photographs of mixed sizes and file formats, one folder per class.

The fixtures of the "real teachers on real images" acceptance test: a torchvision ImageFolder tree
(`<out>/<class>/<nn>_<format>.<ext>`) that tfkd's `folder:DIR` reader and PyTorch's own evaluation
pipeline (scripts/torchvision_reference.py) both read, so that their preprocessed crops and logits
can be compared.

Source. Debian's `mate-backgrounds` package (version pinned below), whose `nature/` folder holds
twelve real photographs (flowers, leaves, a ladybird, a water drop, dunes, a storm, wood), all
GPL-2+ (see PROVENANCE.md). The brief this was written for suggested `gnome-backgrounds`; Debian
12's gnome-backgrounds 43.1 ships only rendered/illustrated wallpapers (3D blocks, patterns, SVGs),
no photographs, so the MATE set is used instead.

What it does. Downloads the .deb with `apt-get download` into a temporary folder (or takes
`--source`, a .deb or a folder it was extracted to), extracts it with `dpkg-deb -x`, checks the
source photos' sha256 against the ones recorded here, then for each row of SPEC below cuts a box of
the row's aspect ratio at a seeded random position and scale out of the source photo, resizes it
to the row's size with PIL's LANCZOS filter, and saves it in the row's format. It rewrites only the
class folders it owns and PROVENANCE.md (README.md there is hand-written and left alone).

Needs: Debian's Python with Pillow (/usr/bin/python3; python3-pil, python3-numpy) built with
JPEG, WebP and littlecms support (Debian's is), and `apt-get` + `dpkg-deb` (run `apt-get update`
once first on a fresh machine), or `--source` pointing at an already downloaded .deb/extracted tree.

Run from the repository root:
    /usr/bin/python3 scripts/make_photos.py [--out test/fixtures/photos] [--seed 20240601]
                                            [--source mate-backgrounds_1.26.0-1_all.deb|DIR]

Deterministic: the same seed, source photos and Pillow/libjpeg/libpng/libwebp/zlib builds give the
same bytes (PROVENANCE.md records the versions and each file's sha256). Output: 36 files, 0.88 MB.
"""
import argparse
import hashlib
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageCms, features

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the checkout
from file_sha256 import sha256_file  # noqa: E402

PACKAGE = "mate-backgrounds"
PACKAGE_VERSION = "1.26.0-1"
PHOTO_DIR = "usr/share/backgrounds/mate/nature"
COPYRIGHT = "usr/share/doc/mate-backgrounds/copyright"
DEFAULT_SEED = 20240601

# The source photographs (mate-backgrounds 1.26.0-1, Debian 12): sha256 and copyright holders
# (from the package's copyright file; all "License: GPL-2+"). A changed source only warns: the
# set is still made, but it will differ from the committed one.
SOURCES = {
    "Aqua.jpg": ("5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce", "2008, Charles Barbin"),
    "Blinds.jpg": ("f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600",
                   "2008, Lennart Poettering; 2008, Andrea Cimitan"),
    "Dune.jpg": ("8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91",
                 "2007, Marco Cogoni; 2008, Hylke Bons"),
    "FreshFlower.jpg": ("972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e", "2005, Jens Ansorg"),
    "Garden.jpg": ("d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78", "2008, Charles Barbin"),
    "GreenMeadow.jpg": ("8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832",
                        "2005, Timothy Schellhase; 2008, Lapo Calamandrei"),
    "LadyBird.jpg": ("e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d", "2008, Charles Barbin"),
    "RainDrops.jpg": ("3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16",
                      "2008, \"blackcombwhistler07\""),
    "Storm.jpg": ("77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957", "2008, Sergey Nazarov"),
    "TwoWings.jpg": ("665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb",
                     "2008, Charles Barbin; 2008, Hylke Bons"),
    "Wood.jpg": ("19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07", "2008, Jean-François Fortin Tam"),
    "YellowFlower.jpg": ("254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306", "2008, Charles Barbin"),
}
SOURCE_SHA256 = {}  # what this run found

# One row per output image: (class, source photo, format, width, height).
# Sizes cover: longer side 40..500 px; aspect ratios 1:2.5 .. 2.5:1; images smaller than 224 on
# one or both sides; shorter side exactly 256 (Resize(256) is then a no-op in PIL) or exactly 224
# (timm's crop_pct 0.95 gives Resize(235)); odd sizes around 224/256.
SPEC = [
    ("flower", "FreshFlower.jpg", "jpeg", 500, 333),
    ("flower", "Garden.jpg", "jpeg-progressive", 384, 256),
    ("flower", "YellowFlower.jpg", "png-rgba", 240, 240),
    ("flower", "TwoWings.jpg", "webp-lossy", 448, 224),
    ("flower", "Garden.jpg", "jpeg-444", 224, 224),
    ("flower", "FreshFlower.jpg", "png-p", 200, 300),
    ("flower", "YellowFlower.jpg", "gif", 150, 100),
    ("leaf", "Blinds.jpg", "jpeg", 256, 256),
    ("leaf", "LadyBird.jpg", "jpeg-cmyk", 320, 213),
    ("leaf", "GreenMeadow.jpg", "png-l", 160, 400),
    ("leaf", "RainDrops.jpg", "webp-lossless", 210, 140),
    ("leaf", "LadyBird.jpg", "jpeg", 40, 60),
    ("leaf", "RainDrops.jpg", "png-la", 180, 180),
    ("leaf", "Blinds.jpg", "jpeg-exif-rotate", 300, 200),
    ("leaf", "GreenMeadow.jpg", "png-rgb", 257, 255),
    ("landscape", "Storm.jpg", "jpeg", 500, 200),
    ("landscape", "Dune.jpg", "jpeg-progressive", 333, 499),
    ("landscape", "Storm.jpg", "png-i16", 200, 150),
    ("landscape", "Storm.jpg", "jpeg-gray", 400, 300),
    ("landscape", "Storm.jpg", "png-p-trns", 120, 48),
    ("landscape", "Dune.jpg", "jpeg", 224, 336),
    ("landscape", "Dune.jpg", "webp-lossy", 64, 160),
    ("water", "Aqua.jpg", "jpeg", 480, 300),
    ("water", "RainDrops.jpg", "jpeg-cmyk", 255, 257),
    ("water", "Aqua.jpg", "png-rgb", 96, 96),
    ("water", "Aqua.jpg", "jpeg-icc", 300, 256),
    ("water", "RainDrops.jpg", "jpeg-444", 199, 301),
    ("water", "Aqua.jpg", "png-rgba", 230, 150),
    ("water", "RainDrops.jpg", "jpeg-progressive", 100, 250),
    ("wood", "Wood.jpg", "jpeg", 500, 375),
    ("wood", "Wood.jpg", "png-p", 256, 320),
    ("wood", "Wood.jpg", "jpeg", 225, 223),
    ("wood", "Wood.jpg", "png-l", 300, 224),
    ("wood", "Wood.jpg", "png-rgb", 140, 210),
    ("wood", "Wood.jpg", "jpeg", 260, 500),
    ("wood", "Wood.jpg", "webp-lossy", 350, 270),
]

EXT = {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif"}
JPEG_QUALITY = 88
WEBP_QUALITY = 85

# What each format is, as the table in PROVENANCE.md says it, and what PIL's ImageFolder loader
# (`Image.open(f).convert('RGB')`) then does with it -- the behaviour a port must reproduce.
FORMAT_NOTES = {
    "jpeg": "baseline JPEG, YCbCr 4:2:0",
    "jpeg-progressive": "progressive JPEG, YCbCr 4:2:0",
    "jpeg-444": "baseline JPEG, YCbCr 4:4:4 (no chroma subsampling)",
    "jpeg-cmyk": "CMYK JPEG (Adobe APP14, stored inverted, as PIL writes it; PIL reads it back "
                 "as the CMYK it saved). PIL's CMYK→RGB has no colour management: with n = 255 − K "
                 "and t = C·n + 128, R = n − (((t >> 8) + t) >> 8) (≈ (255−C)(255−K)/255), the same "
                 "for G from M and B from Y",
    "jpeg-gray": "grayscale (1-component) JPEG; convert('RGB') copies L to R, G, B",
    "jpeg-exif-rotate": "baseline JPEG with EXIF Orientation = 6 (rotate 90° CW to display); PIL's "
                        "loader ignores it: the stored, unrotated pixels are used",
    "jpeg-icc": "baseline JPEG with an embedded ICC profile (lcms-built sRGB); PIL ignores it "
                "(no colour transform)",
    "png-rgb": "PNG, 8-bit RGB",
    "png-p": "PNG, 8-bit palette (256 colours, Floyd–Steinberg dithered), no transparency",
    "png-p-trns": "PNG, palette (64 colours) with a tRNS chunk (per-entry alpha); convert('RGB') "
                  "ignores the transparency",
    "png-rgba": "PNG, 8-bit RGBA with varying alpha (0..255, a fully transparent band whose RGB "
                "is kept); convert('RGB') drops alpha without compositing",
    "png-l": "PNG, 8-bit grayscale",
    "png-la": "PNG, 8-bit grayscale + alpha; convert('RGB') drops alpha",
    "png-i16": "PNG, 16-bit grayscale holding 9-bit data (0..511; opens as mode I); PIL's I→RGB "
               "conversion clamps each value to 0..255 (no rescaling): most pixels keep their "
               "value, the brightest become 255. A decoder that rescales 16→8 bits (v >> 8, "
               "v / 257) gives a near-black image instead",
    "webp-lossy": "WebP, lossy (VP8), RGB",
    "webp-lossless": "WebP, lossless (VP8L), RGB",
    "gif": "GIF89a, single frame, 128-colour palette with a transparent index; convert('RGB') "
           "ignores the transparency. NOTE: '.gif' is not in torchvision's IMG_EXTENSIONS, so a "
           "default ImageFolder skips this file",
}


def die(msg, code=1):
    print(f"make_photos: {msg}", file=sys.stderr)
    sys.exit(code)


def get_source(source, tmp):
    """Returns (root of the extracted package, version string, path of the .deb or None)."""
    if source and os.path.isdir(source):
        return source, "(pre-extracted tree: " + source + ")", None
    deb = source
    if not deb:
        if not shutil.which("apt-get"):
            die("apt-get not found: run on Debian/Ubuntu, or pass --source mate-backgrounds_*.deb")
        want = f"{PACKAGE}={PACKAGE_VERSION}"
        r = subprocess.run(["apt-get", "download", want], cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"make_photos: 'apt-get download {want}' failed ({r.stderr.strip().splitlines()[-1:]}); "
                  f"trying the candidate version of {PACKAGE}", file=sys.stderr)
            r = subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, capture_output=True, text=True)
            if r.returncode != 0:
                die(f"'apt-get download {PACKAGE}' failed:\n{r.stderr.strip()}\n"
                    "hint: run 'apt-get update' first (as root), or pass --source with the .deb")
        debs = [f for f in os.listdir(tmp) if f.startswith(PACKAGE + "_") and f.endswith(".deb")]
        if len(debs) != 1:
            die(f"expected one {PACKAGE}_*.deb in {tmp}, found {debs}")
        deb = os.path.join(tmp, debs[0])
    if not shutil.which("dpkg-deb"):
        die("dpkg-deb not found (Debian package 'dpkg'); extract the .deb yourself and pass --source DIR")
    root = os.path.join(tmp, "x")
    subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    version = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    return root, version, deb


def pick_box(rng, src_w, src_h, w, h):
    """A box of aspect w:h inside the source: scale U(0.35, 1) of the largest such box, uniform position."""
    ar = w / h
    max_w = min(src_w, src_h * ar)
    bw = max_w * rng.uniform(0.35, 1.0)
    bh = bw / ar
    x0 = rng.uniform(0, src_w - bw)
    y0 = rng.uniform(0, src_h - bh)
    # whole pixels keep the recorded box exact
    box = (round(x0), round(y0), round(x0 + bw), round(y0 + bh))
    return box


def radial_alpha(w, h, rng):
    """Alpha 0..255: a radial ramp around a seeded centre, with a fully transparent band on one side."""
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    d = np.sqrt(((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2)
    a = np.clip(255.0 * (1.0 - d / d.max()) * 1.3, 0, 255)
    a[:, : max(1, w // 8)] = 0  # fully transparent band: RGB there must still be the photo's
    return Image.fromarray(np.round(a).astype(np.uint8), "L")


def rgb_to_cmyk_with_black(rgb):
    """CMYK with a real K channel whose PIL conversion back to RGB is close to the photo:
    PIL decodes R = (255-K)(255-C)/255, so K = 255 - max(R,G,B) and C = 255 - 255 R / max."""
    a = np.asarray(rgb).astype(np.float64)
    mx = a.max(axis=2)
    k = 255.0 - mx
    safe = np.where(mx > 0, mx, 1.0)
    cmy = 255.0 - 255.0 * a / safe[..., None]
    cmy[mx == 0] = 0.0
    out = np.concatenate([cmy, k[..., None]], axis=2)
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8), "CMYK")


def encode(img_rgb, fmt, rng, src_crop, size):
    """Returns (bytes, extension) of the RGB crop saved in format fmt."""
    buf = io.BytesIO()
    kind = fmt.split("-")[0]
    if fmt == "jpeg":
        img_rgb.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=2)
    elif fmt == "jpeg-progressive":
        img_rgb.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=2, progressive=True)
    elif fmt == "jpeg-444":
        img_rgb.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    elif fmt == "jpeg-cmyk":
        rgb_to_cmyk_with_black(img_rgb).save(buf, "JPEG", quality=JPEG_QUALITY)
    elif fmt == "jpeg-gray":
        img_rgb.convert("L").save(buf, "JPEG", quality=JPEG_QUALITY)
    elif fmt == "jpeg-exif-rotate":
        exif = Image.Exif()
        exif[0x0112] = 6  # Orientation: the 0th row is the visual right-hand side
        img_rgb.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=2, exif=exif.tobytes())
    elif fmt == "jpeg-icc":
        icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
        # lcms stamps the creation time into the header (bytes 24..35, six big-endian uint16):
        # pin it so the file is reproducible (the profile ID, bytes 84..99, is left zero by lcms)
        icc[24:36] = b"".join(v.to_bytes(2, "big") for v in (2024, 6, 1, 0, 0, 0))
        icc = bytes(icc)
        img_rgb.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=2, icc_profile=icc)
    elif fmt == "png-rgb":
        img_rgb.save(buf, "PNG", optimize=True)
    elif fmt == "png-p":
        img_rgb.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(buf, "PNG", optimize=True)
    elif fmt == "png-p-trns":
        p = img_rgb.quantize(64, dither=Image.Dither.FLOYDSTEINBERG)
        alphas = bytes(int(rng.uniform(0, 256)) if i % 3 == 0 else 255 for i in range(64))
        p.save(buf, "PNG", optimize=True, transparency=alphas)
    elif fmt == "png-rgba":
        rgba = img_rgb.copy()
        rgba.putalpha(radial_alpha(*img_rgb.size, rng))
        rgba.save(buf, "PNG", optimize=True)
    elif fmt == "png-l":
        img_rgb.convert("L").save(buf, "PNG", optimize=True)
    elif fmt == "png-la":
        Image.merge("LA", (img_rgb.convert("L"), radial_alpha(*img_rgb.size, rng))).save(buf, "PNG", optimize=True)
    elif fmt == "png-i16":
        # 9-bit data (0..511) in a 16-bit PNG: the luminance resized in float, x 511/255. PIL
        # clamps it to 0..255 on convert('RGB') (no rescaling): the darker ~80 % keep their detail,
        # the brightest saturate -- neither a flat image nor what a decoder that rescales
        # 16 -> 8 bits would give. Full-range data (x 257) would become a flat white crop in PIL:
        # useless as a preprocessing check, and numerically degenerate (onnxruntime's
        # GlobalAveragePool sums a constant plane with a systematic rounding drift, which SE nets
        # such as mobilenet_v3 amplify past 1e-4 on the logits).
        lum = src_crop.convert("L").convert("F").resize(size, Image.Resampling.LANCZOS)
        a = np.clip(np.round(np.asarray(lum, dtype=np.float64) * (511.0 / 255.0)), 0, 65535).astype(np.uint16)
        Image.fromarray(a).save(buf, "PNG")  # fromarray(uint16) is mode I;16 -> 16-bit grayscale PNG
    elif fmt == "webp-lossy":
        img_rgb.save(buf, "WEBP", quality=WEBP_QUALITY, method=4)
    elif fmt == "webp-lossless":
        img_rgb.save(buf, "WEBP", lossless=True, quality=80, method=4)
    elif fmt == "gif":
        p = img_rgb.quantize(128, dither=Image.Dither.FLOYDSTEINBERG)
        p.save(buf, "GIF", transparency=0)
    else:
        raise ValueError(fmt)
    return buf.getvalue(), EXT[kind]


def describe(path):
    """What PIL sees on opening the file: format, mode, size, and the details that matter."""
    with Image.open(path) as im:
        d = {"format": im.format, "mode": im.mode, "size": im.size, "extra": []}
        if im.format == "JPEG":
            from PIL import JpegImagePlugin
            samp = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(JpegImagePlugin.get_sampling(im), "n/a")
            d["extra"].append("progressive" if im.info.get("progressive") else "baseline")
            if im.mode in ("RGB",):
                d["extra"].append(samp)
            if im.info.get("adobe") is not None:
                d["extra"].append("Adobe APP14")
            if im.info.get("icc_profile"):
                d["extra"].append(f"ICC {len(im.info['icc_profile'])} B")
            ori = im.getexif().get(0x0112)
            if ori:
                d["extra"].append(f"EXIF Orientation={ori}")
        if "transparency" in im.info:
            t = im.info["transparency"]
            d["extra"].append(f"tRNS {len(t)} entries" if isinstance(t, bytes) else f"transparent index {t}")
        if im.format == "WEBP":
            with open(path, "rb") as f:
                head = f.read(16)
            d["extra"].append({b"VP8 ": "lossy VP8", b"VP8L": "lossless VP8L", b"VP8X": "extended"}.get(head[12:16], "?"))
        if im.mode in ("RGBA", "LA"):
            a = np.asarray(im.getchannel("A"))
            d["extra"].append(f"alpha {a.min()}..{a.max()}")
        if im.mode == "I":
            a = np.asarray(im)
            d["extra"].append(f"values {a.min()}..{a.max()}")
        rgb = im.convert("RGB")
        d["rgb_mean"] = float(np.asarray(rgb).mean())
    return d


def library_versions():
    out = {"Pillow": Image.__version__, "numpy": np.__version__}
    for f in ("jpg", "zlib", "webp", "littlecms2"):
        out[f"Pillow:{f}"] = features.version(f) or "missing"
    if shutil.which("dpkg-query"):
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", "python3-pil",
                            "libjpeg62-turbo", "libpng16-16", "libwebp7", "zlib1g", "liblcms2-2"],
                           capture_output=True, text=True)
        out["debian"] = r.stdout.strip().splitlines()
    return out


def licences_from_copyright(text):
    """{'nature/Aqua.jpg': ('GPL-2+', 'copyright line(s)')} from a DEP-5 debian/copyright file."""
    out = {}
    for stanza in text.split("\n\n"):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        for f in fields.get("Files", "").split():
            out[f] = (fields.get("License", "").splitlines()[0] if fields.get("License") else "",
                      "; ".join(" ".join(l.split()) for l in fields.get("Copyright", "").splitlines() if l.strip()))
    return out


def write_provenance(out, rows, version, seed, licences, libs):
    lines = []
    w = lines.append
    w("# Provenance of test/fixtures/photos\n")
    w("Written by `scripts/make_photos.py` (do not edit by hand; rerun the script).\n")
    w("## Source\n")
    w(f"- Debian package **`{PACKAGE}` {version}** (Debian 12 \"bookworm\", `main`), folder "
      f"`/{PHOTO_DIR}/`: real photographs shipped as MATE desktop wallpapers. Each image here is a "
      "crop of one of them, resized (PIL LANCZOS) and re-encoded; the crop box is in the table.")
    w(f"- Licence: **GPL-2+** for every source photograph used (from the package's "
      f"`/{COPYRIGHT}`; the GPL-2 text is `/usr/share/common-licenses/GPL-2` on Debian). These crops "
      "are modified versions of those works and are distributed under the same licence.")
    w("- Copyright holders (from that file):\n")
    w("| source photo | copyright (from the package's copyright file) | licence | sha256 |")
    w("|---|---|---|---|")
    for name in sorted(SOURCES):
        lic, holders = licences.get(f"nature/{name}", ("?", SOURCES[name][1]))
        w(f"| `nature/{name}` | {holders} | {lic} | `{SOURCE_SHA256.get(name, '?')[:16]}…` |")
    w("")
    w("(`gnome-backgrounds` 43.1, Debian 12's GNOME wallpapers, was considered first: it ships only "
      "rendered and illustrated wallpapers, no photographs.)\n")
    w("## Regenerate\n")
    w("```sh")
    w("apt-get update    # once, as root, so that apt-get download finds the package")
    w(f"/usr/bin/python3 scripts/make_photos.py --out test/fixtures/photos --seed {seed}")
    w("```")
    w("It downloads the .deb with `apt-get download` into a temporary folder and extracts it with "
      "`dpkg-deb -x` (or takes `--source` with a .deb or an extracted tree). The same bytes come "
      "back with the same seed and the same library builds:\n")
    for k, v in libs.items():
        w(f"- {k}: {', '.join(v) if isinstance(v, list) else v}")
    w("")
    w("## Files\n")
    w("torchvision's `ImageFolder` order (classes sorted, files sorted). *PIL mode* is the mode of "
      "`Image.open(f)`; every loader here then calls `.convert('RGB')`. *RGB mean* is the mean of "
      "that RGB image (a quick check that a decoder produced the same pixels).\n")
    w("| file | format | PIL mode | size (W×H) | details | bytes | source, box (x0,y0,x1,y1) | RGB mean | sha256 |")
    w("|---|---|---|---|---|---:|---|---:|---|")
    total = 0
    for r in rows:
        d = r["desc"]
        total += r["bytes"]
        w(f"| `{r['rel']}` | {r['fmt']} | {d['mode']} | {d['size'][0]}×{d['size'][1]} | "
          f"{', '.join(d['extra'])} | {r['bytes']} | {r['src']} {r['box']} | {d['rgb_mean']:.3f} | "
          f"`{r['sha256'][:16]}…` |")
    w("")
    w(f"{len(rows)} files, {total} bytes in all.\n")
    w("## What each format is, and what `Image.open(f).convert('RGB')` does with it\n")
    for fmt, note in FORMAT_NOTES.items():
        w(f"- **{fmt}**: {note}.")
    w("")
    with open(os.path.join(out, "PROVENANCE.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="test/fixtures/photos")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--source", help="mate-backgrounds .deb, or a folder it was extracted to")
    args = ap.parse_args()
    for f in ("jpg", "webp", "zlib", "littlecms2"):
        if not features.check(f):
            die(f"this Pillow lacks {f} support; use Debian's /usr/bin/python3 with python3-pil")

    rng = random.Random(args.seed)  # stdlib Random: its stream is stable across Python versions
    with tempfile.TemporaryDirectory(prefix="make_photos-") as tmp:
        root, version, _deb = get_source(args.source, tmp)
        photo_dir = os.path.join(root, PHOTO_DIR)
        if not os.path.isdir(photo_dir):
            die(f"{photo_dir} not found in the package")
        for name in SOURCES:
            p = os.path.join(photo_dir, name)
            if not os.path.exists(p):
                die(f"source photo {name} missing from {photo_dir}")
            SOURCE_SHA256[name] = sha256_file(p)
            if SOURCES[name][0] != SOURCE_SHA256[name]:
                print(f"make_photos: warning: {name} differs from the one in {PACKAGE} {PACKAGE_VERSION}; "
                      "the output will differ from the committed set", file=sys.stderr)
        copyright_path = os.path.join(root, COPYRIGHT)
        copyright_text = open(copyright_path, encoding="utf-8").read() if os.path.exists(copyright_path) else ""
        licences = licences_from_copyright(copyright_text)
        for name in SOURCES:  # the licence claimed in PROVENANCE.md is the package's, checked here
            lic = licences.get(f"nature/{name}", ("",))[0]
            if lic != "GPL-2+":
                die(f"{COPYRIGHT} gives nature/{name} the licence {lic!r}, not GPL-2+: review before using it")

        classes = sorted({c for c, *_ in SPEC})
        os.makedirs(args.out, exist_ok=True)
        for c in classes:  # the class folders are this script's: rewrite them whole
            shutil.rmtree(os.path.join(args.out, c), ignore_errors=True)
            os.makedirs(os.path.join(args.out, c))

        cache = {}
        rows = []
        for i, (cls, src, fmt, w, h) in enumerate(SPEC, start=1):
            if src not in cache:
                with Image.open(os.path.join(photo_dir, src)) as im:
                    cache[src] = im.convert("RGB")
            photo = cache[src]
            box = pick_box(rng, photo.width, photo.height, w, h)
            src_crop = photo.crop(box)
            img = src_crop.resize((w, h), Image.Resampling.LANCZOS)
            data, ext = encode(img, fmt, rng, src_crop, (w, h))
            rel = f"{cls}/{i:02d}_{fmt}.{ext}"
            path = os.path.join(args.out, rel)
            with open(path, "wb") as f:
                f.write(data)
            d = describe(path)
            assert d["size"] == (w, h), (rel, d["size"])
            rows.append({"rel": rel, "fmt": fmt, "desc": d, "bytes": len(data), "src": src, "box": box,
                         "sha256": hashlib.sha256(data).hexdigest()})
        rows.sort(key=lambda r: r["rel"])
        total = write_provenance(args.out, rows, version, args.seed, licences, library_versions())
    for r in rows:
        d = r["desc"]
        print(f"{r['rel']:40s} {d['format']:5s} {d['mode']:5s} {d['size'][0]:4d}x{d['size'][1]:<4d} "
              f"{r['bytes']:7d} B  {', '.join(d['extra'])}")
    print(f"{len(rows)} images, {total} bytes -> {args.out} (PROVENANCE.md written)")


if __name__ == "__main__":
    main()
