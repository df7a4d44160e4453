#!/usr/bin/python3
"""Makes a folder of real photographs for experiments: patches of Debian's twelve `mate-backgrounds`
nature photographs, one class per source photograph, train and test cut from disjoint regions.

Why. The function-matching experiment (experiments/photo-patches.yaml, docs/EXPERIMENTS.md) needs
a classification task on real photographs of mixed sizes that this machine can train on in
minutes, with nothing downloaded but a Debian package. The twelve photographs of
`mate-backgrounds` (GPL-2+, the same source as test/fixtures/photos; scripts/make_photos.py
checks their sha256) are 1280-2560 px wide; a patch of one of them is a real photograph, and
"which photograph is this patch from" is a 12-way task whose difficulty comes from the patches:
small, at random scales and aspect ratios, JPEG-compressed at their own size.

How. Each source photo is cut into a 4 x 4 grid of tiles; a seeded shuffle gives 4 tiles to the
test split and 12 to the train split, so no test patch overlaps a train patch's pixels. A patch is
a box inside one tile of its split: side s * min(tile w, tile h) with s ~ U(0.35, 1), aspect
ratio ~ exp(U(log 3/4, log 4/3)), at a uniform position; resized with PIL's LANCZOS so that its
longer side is ~ U{64..128} px; saved as baseline JPEG, quality 90. Class folders are named after
the photographs (`Aqua`, `Blinds`, ...), so `folder:OUT` reads OUT/train and OUT/test.

Run from the repository root (Debian's Python with Pillow):
    /usr/bin/python3 scripts/make_photo_patches.py --out DIR [--train 200] [--test 200] [--seed 1]
                                                   [--source mate-backgrounds_1.26.0-1_all.deb|DIR]
Deterministic for a given seed, source and Pillow/libjpeg build.
"""
import argparse
import os
import random
import shutil
import sys
import tempfile

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_photos import PHOTO_DIR, SOURCES, get_source, sha256_file  # noqa: E402

GRID = 4
TEST_TILES = 4


def tiles_of(w, h, rng):
    """The grid's tiles as (x0, y0, x1, y1), split into (train, test) by a seeded shuffle."""
    tiles = [(w * c // GRID, h * r // GRID, w * (c + 1) // GRID, h * (r + 1) // GRID)
             for r in range(GRID) for c in range(GRID)]
    order = list(range(len(tiles)))
    rng.shuffle(order)
    test = [tiles[i] for i in sorted(order[:TEST_TILES])]
    train = [tiles[i] for i in sorted(order[TEST_TILES:])]
    return train, test


def patch(img, tile, rng):
    x0, y0, x1, y1 = tile
    tw, th = x1 - x0, y1 - y0
    side = rng.uniform(0.35, 1.0) * min(tw, th)
    aspect = pow(2.718281828459045, rng.uniform(-0.28768207245178085, 0.28768207245178085))  # log(3/4), log(4/3)
    bw = min(tw, max(8, round(side * aspect ** 0.5)))
    bh = min(th, max(8, round(side / aspect ** 0.5)))
    left = x0 + rng.randint(0, tw - bw)
    top = y0 + rng.randint(0, th - bh)
    longer = rng.randint(64, 128)
    scale = longer / max(bw, bh)
    size = (max(1, round(bw * scale)), max(1, round(bh * scale)))
    return img.crop((left, top, left + bw, top + bh)).resize(size, Image.LANCZOS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--train", type=int, default=200, help="patches per class in train/")
    ap.add_argument("--test", type=int, default=200, help="patches per class in test/")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--source", default=None)
    a = ap.parse_args()
    if a.train < 1 or a.test < 1:
        sys.exit("make_photo_patches: --train and --test must be >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        root, version, _ = get_source(a.source, tmp)
        tmp_out = a.out.rstrip("/") + ".tmp"
        shutil.rmtree(tmp_out, ignore_errors=True)
        for name in sorted(SOURCES):
            path = os.path.join(root, PHOTO_DIR, name)
            if sha256_file(path) != SOURCES[name][0]:
                print(f"make_photo_patches: warning: {name} differs from the recorded sha256", file=sys.stderr)
            cls = name[:-len(".jpg")]
            rng = random.Random(f"{a.seed}:{cls}")
            img = Image.open(path).convert("RGB")
            train, test = tiles_of(img.width, img.height, rng)
            for split, tiles, n in (("train", train, a.train), ("test", test, a.test)):
                d = os.path.join(tmp_out, split, cls)
                os.makedirs(d)
                for k in range(n):
                    patch(img, tiles[rng.randrange(len(tiles))], rng).save(
                        os.path.join(d, f"{k:04d}.jpg"), "JPEG", quality=90)
        shutil.rmtree(a.out, ignore_errors=True)
        os.rename(tmp_out, a.out)
    print(f"make_photo_patches: {a.out}: 12 classes, {12 * a.train} train + {12 * a.test} test patches "
          f"(mate-backgrounds {version}, seed {a.seed})")


if __name__ == "__main__":
    main()
