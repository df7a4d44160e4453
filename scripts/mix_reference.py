#!/usr/bin/python3
"""PyTorch/PIL reference for mixed views (Mixup / CutMix, docs/MIXING.md; test/teacher/mix-torch.test.ts).

    /usr/bin/python3 scripts/mix_reference.py --rows ROWS.json --data DIR --files FILES.json \
        --size H[,W] [--interpolation bilinear] [--model M.pt --mean m,m,m --std s,s,s] \
        --out OUT.json [--dump DIR]

ROWS.json is what `tfkd data views --json --size H,W` prints: [{"sample", "view", "box": [left, top,
w, h], "flip", "mix": {"kind", "partner", "partner_box", "partner_flip", "lambda", "cut"} | null}, …];
FILES.json lists the data set's files (relative to DIR) in sample order. For every row with
view >= 1, independently of tfkd's code, the way a torchvision training script would compute it:

    a = F.to_tensor(view(sample, box, flip))                       float32 CHW on [0, 1]
    view(s, box, flip) = F.resized_crop(PIL.Image.open(s).convert('RGB'), top, left, h, w, [H, W],
                                        interpolation), then F.hflip when flip
    mixup:  b = F.to_tensor(view(partner, partner_box, partner_flip)); x = lam * a + (1 - lam) * b
    cutmix: x = a.clone(); x[:, y0:y1, x0:x1] = b[:, y0:y1, x0:x1]     (cut = [x0, y0, x1, y1])
    no mix: x = a

all in float32 (no rounding back to 8 bits). --dump writes x as DIR/<sample>-<view>.npy (float32 HWC,
what `tfkd data views --out DIR --format npy` writes); with --model (a .pt from
scripts/torchvision_teacher.py) x also goes through Normalize(mean, std) + the model (eval,
no_grad) and OUT.json holds the logits per row.
"""
import argparse, json, os, sys

import numpy as np
import PIL.Image
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode as IM

FILTERS = {'nearest': IM.NEAREST, 'bilinear': IM.BILINEAR, 'bicubic': IM.BICUBIC, 'lanczos': IM.LANCZOS, 'box': IM.BOX, 'hamming': IM.HAMMING}

ap = argparse.ArgumentParser()
ap.add_argument('--rows', required=True)
ap.add_argument('--data', required=True)
ap.add_argument('--files', required=True)
ap.add_argument('--size', required=True)
ap.add_argument('--interpolation', default='bilinear')
ap.add_argument('--model')
ap.add_argument('--mean', default='0.485,0.456,0.406')
ap.add_argument('--std', default='0.229,0.224,0.225')
ap.add_argument('--out', required=True)
ap.add_argument('--dump')
a = ap.parse_args()
torch.set_num_threads(1)
hw = [int(v) for v in a.size.split(',')]
size = hw if len(hw) == 2 else [hw[0], hw[0]]
rows = [r for r in json.load(open(a.rows)) if r['view'] >= 1]
files = json.load(open(a.files))
model = None
if a.model:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torchvision_teacher import load_pt
    _, model = load_pt(a.model)
mean = [float(v) for v in a.mean.split(',')]
std = [float(v) for v in a.std.split(',')]
if a.dump:
    os.makedirs(a.dump, exist_ok=True)


def view(sample, box, flip):
    with open(os.path.join(a.data, files[sample]), 'rb') as f:
        img = PIL.Image.open(f).convert('RGB')
    left, top, w, h = box
    v = F.resized_crop(img, top, left, h, w, size, FILTERS[a.interpolation])
    return F.hflip(v) if flip else v


out_rows, xs, kinds = [], [], {'mixup': 0, 'cutmix': 0, 'none': 0}
for r in rows:
    x = F.to_tensor(view(r['sample'], r['box'], r['flip']))
    m = r.get('mix')
    if m:
        b = F.to_tensor(view(m['partner'], m['partner_box'], m['partner_flip']))
        if m['kind'] == 'mixup':
            lam = m['lambda']
            x = lam * x + (1 - lam) * b
        elif m['kind'] == 'cutmix':
            x0, y0, x1, y1 = m['cut']
            x = x.clone()
            x[:, y0:y1, x0:x1] = b[:, y0:y1, x0:x1]
        else:
            raise SystemExit(f"unknown mix kind {m['kind']}")
        kinds[m['kind']] += 1
    else:
        kinds['none'] += 1
    assert x.dtype == torch.float32
    if a.dump:
        np.save(os.path.join(a.dump, f"{r['sample']}-{r['view']}.npy"), x.permute(1, 2, 0).contiguous().numpy())
    out_rows.append({'sample': r['sample'], 'view': r['view']})
    if model is not None:
        xs.append(F.normalize(x, mean, std))
out = {'rows': out_rows, 'size': size, 'interpolation': a.interpolation, 'kinds': kinds}
if model is not None:
    with torch.no_grad():
        logits = torch.cat([model(torch.stack(xs[i:i + 16])) for i in range(0, len(xs), 16)]).numpy()
    out['logits'] = [[float(v) for v in row] for row in logits]
json.dump(out, open(a.out, 'w'))
print(f"mix_reference: {len(out_rows)} views at {size[0]}x{size[1]} {a.interpolation} ({kinds['mixup']} mixup, {kinds['cutmix']} cutmix, {kinds['none']} unmixed)" + (', with logits' if model is not None else ''))
