#!/usr/bin/python3
"""A folder of ImageNet-sized JPEGs for `tfkd bench render` / `bench precompute` (docs/PERFORMANCE.md):

    /usr/bin/python3 scripts/make_imagenet_like.py OUT [--count 200] [--classes 10] [--seed 1]

Image i (class i mod classes) is a seeded crop of one of the photographs in test/fixtures/photos,
scaled (bicubic) to ImageNet's typical sizes (500x375, 375x500, 500x333, 333x500, 500x400; the
median ImageNet image is about 500x375 [Russakovsky et al. 2015]), saved as baseline JPEG quality
90 with 4:2:0 chroma subsampling, as most ImageNet files are. Deterministic for a seed.
"""
import argparse, glob, os, random
from PIL import Image

p = argparse.ArgumentParser()
p.add_argument('out')
p.add_argument('--count', type=int, default=200)
p.add_argument('--classes', type=int, default=10)
p.add_argument('--seed', type=int, default=1)
a = p.parse_args()
root = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'photos')
srcs = [Image.open(f).convert('RGB') for f in sorted(glob.glob(os.path.join(root, '*', '*'))) if not f.endswith('.md')]
rng = random.Random(a.seed)
sizes = [(500, 375), (375, 500), (500, 333), (333, 500), (500, 400)]
for i in range(a.count):
    src = srcs[rng.randrange(len(srcs))]
    w, h = src.size
    cw, ch = max(16, int(w * rng.uniform(0.5, 1))), max(16, int(h * rng.uniform(0.5, 1)))
    x, y = rng.randrange(w - cw + 1), rng.randrange(h - ch + 1)
    im = src.crop((x, y, x + cw, y + ch)).resize(sizes[rng.randrange(len(sizes))], Image.Resampling.BICUBIC)
    d = os.path.join(a.out, f'class-{i % a.classes:03d}')
    os.makedirs(d, exist_ok=True)
    im.save(os.path.join(d, f'{i:06d}.jpg'), quality=90, subsampling=2)
