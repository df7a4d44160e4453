#!/usr/bin/python3
"""PyTorch/PIL reference for views as boxes (test/data/views.test.ts, issue "Students on real images").

    /usr/bin/python3 scripts/views_reference.py --boxes BOXES.json --data DIR --files FILES.json \
        --size H[,W] --interpolation bilinear [--model M.pt --mean m,m,m --std s,s,s] --out OUT.json [--dump DIR]

BOXES.json is what `tfkd data views --json` prints: [{"sample", "view", "box": [left, top, w, h],
"flip"}, …]; FILES.json lists the data set's files (relative to DIR) in sample order. For every
row with view ≥ 1, exactly as a torchvision training script renders a RandomResizedCrop view:
    img = PIL.Image.open(path).convert('RGB')                         (ImageFolder's loader)
    v = F.resized_crop(img, top, left, h, w, [H, W], interpolation)   (crop, then PIL resize)
    if flip: v = F.hflip(v)
--dump writes each view's uint8 HWC bytes to DIR/<sample>-<view>.rgb; with --model (a .pt from
scripts/torchvision_teacher.py) the views also go through ToTensor + Normalize(mean, std) + the
model (eval, no_grad) and OUT.json holds the logits per row.
"""
import argparse, json, os, sys

import numpy as np
import PIL.Image
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode as IM

FILTERS = {'nearest': IM.NEAREST, 'bilinear': IM.BILINEAR, 'bicubic': IM.BICUBIC, 'lanczos': IM.LANCZOS, 'box': IM.BOX, 'hamming': IM.HAMMING}

ap = argparse.ArgumentParser()
ap.add_argument('--boxes', required=True)
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
boxes = [r for r in json.load(open(a.boxes)) if r['view'] >= 1]
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
rows, xs = [], []
for r in boxes:
    with open(os.path.join(a.data, files[r['sample']]), 'rb') as f:
        img = PIL.Image.open(f).convert('RGB')
    left, top, w, h = r['box']
    v = F.resized_crop(img, top, left, h, w, size, FILTERS[a.interpolation])
    if r['flip']:
        v = F.hflip(v)
    arr = np.asarray(v)
    if a.dump:
        open(os.path.join(a.dump, f"{r['sample']}-{r['view']}.rgb"), 'wb').write(arr.tobytes())
    rows.append({'sample': r['sample'], 'view': r['view']})
    if model is not None:
        xs.append(F.normalize(F.to_tensor(v), mean, std))
out = {'rows': rows, 'size': size, 'interpolation': a.interpolation}
if model is not None:
    with torch.no_grad():
        logits = torch.cat([model(torch.stack(xs[i:i + 16])) for i in range(0, len(xs), 16)]).numpy()
    out['logits'] = [[float(x) for x in row] for row in logits]
json.dump(out, open(a.out, 'w'))
print(f'views_reference: {len(rows)} views at {size[0]}x{size[1]} {a.interpolation}' + (', with logits' if model is not None else ''))
