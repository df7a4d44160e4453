#!/usr/bin/python3
"""Reference renderings for test/data/render.test.ts: torchvision's eval transforms on PIL images.

    /usr/bin/python3 scripts/render_reference.py OUT_DIR

For a seeded grid of image sizes (1x1 … 300x200, odd, extreme aspect ratios), shorter-side sizes,
crop sizes (smaller and larger than the resized image: zero padding) and PIL filters, writes the
source image and the result of
  - torchvision: T.Resize(S, interpolation) then T.CenterCrop(c)                ('round')
  - Hugging Face: PIL resize to get_resize_output_image_size(S, default_to_square=False), then
    transformers.image_transforms.center_crop (transformers is not installable here, so its
    center_crop is re-stated below from its source, numpy only)                  ('floor')
as raw bytes, with a JSON index. Run with Debian's python (Pillow 9.4, torchvision 0.14).
"""
import json, math, os, random, sys

import numpy as np
import PIL.Image
import torchvision.transforms as T
from torchvision.transforms import InterpolationMode as IM

FILTERS = {'nearest': IM.NEAREST, 'bilinear': IM.BILINEAR, 'bicubic': IM.BICUBIC, 'lanczos': IM.LANCZOS, 'box': IM.BOX, 'hamming': IM.HAMMING}
PIL_FILTERS = {'nearest': 0, 'lanczos': 1, 'bilinear': 2, 'bicubic': 3, 'box': 4, 'hamming': 5}


def hf_resized_size(w, h, s):
    # transformers.image_transforms.get_resize_output_image_size(default_to_square=False)
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = s, int(s * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)  # (width, height)


def hf_center_crop(a, ch, cw):
    # transformers.image_transforms.center_crop on an HWC array
    oh, ow = a.shape[:2]
    top = (oh - ch) // 2
    bottom = top + ch
    left = (ow - cw) // 2
    right = left + cw
    if top >= 0 and bottom <= oh and left >= 0 and right <= ow:
        return a[top:bottom, left:right]
    nh, nw = max(ch, oh), max(cw, ow)
    new = np.zeros((nh, nw) + a.shape[2:], dtype=a.dtype)
    tp = math.ceil((nh - oh) / 2)
    lp = math.ceil((nw - ow) / 2)
    new[tp:tp + oh, lp:lp + ow] = a
    top += tp
    bottom += tp
    left += lp
    right += lp
    return new[max(0, top):min(nh, bottom), max(0, left):min(nw, right)]


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20261201)
    sizes = [(1, 1), (2, 3), (5, 1), (7, 7), (31, 17), (64, 48), (48, 64), (100, 9), (9, 100), (257, 193), (300, 200), (224, 224), (256, 300)]
    cases = []
    for i, (w, h) in enumerate(sizes):
        for j in range(3):
            mode = 'RGB' if (i + j) % 3 else 'L'
            a = np.array([[[(x * 7 + y * 3 + c * 40 + rng.randrange(50)) & 255 for c in range(3 if mode == 'RGB' else 1)] for x in range(w)] for y in range(h)], dtype=np.uint8)
            img = PIL.Image.fromarray(a if mode == 'RGB' else a[:, :, 0], mode)
            s = rng.choice([1, 3, 8, 16, 32, 57, 64, 224, 256])
            crop = rng.choice([1, 2, 7, 8, s, s + 1, s + 6, 224])
            crop_hw = [crop, crop] if rng.random() < 0.7 else [crop, max(1, crop - 3)]
            filt = rng.choice(sorted(FILTERS))
            src = f'{len(cases)}-src.raw'
            open(os.path.join(out, src), 'wb').write(a.tobytes())
            tv = T.CenterCrop(crop_hw)(T.Resize(s, interpolation=FILTERS[filt])(img))
            tv_a = np.asarray(tv)
            open(os.path.join(out, f'{len(cases)}-round.raw'), 'wb').write(tv_a.tobytes())
            rw, rh = hf_resized_size(w, h, s)
            hf_a = hf_center_crop(np.asarray(img.resize((rw, rh), resample=PIL_FILTERS[filt], reducing_gap=None)), crop_hw[0], crop_hw[1])
            open(os.path.join(out, f'{len(cases)}-floor.raw'), 'wb').write(np.ascontiguousarray(hf_a).tobytes())
            cases.append({'mode': mode, 'width': w, 'height': h, 'resize': s, 'crop': crop_hw, 'interpolation': filt,
                          'src': src, 'round': f'{len(cases)}-round.raw', 'round_size': list(tv.size), 'floor': f'{len(cases)}-floor.raw', 'floor_shape': list(hf_a.shape[:2])})
    json.dump({'cases': cases}, open(os.path.join(out, 'index.json'), 'w'))
    print(f'render_reference: {len(cases)} cases -> {out}')


if __name__ == '__main__':
    main(sys.argv[1])
