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
    for op in ops: v = _apply_op(v, op, magnitude, NEAREST, fill=None)   (rows with "ops": a policy)
--dump writes each view's uint8 HWC bytes to DIR/<sample>-<view>.rgb; with --model (a .pt from
scripts/torchvision_teacher.py) the views also go through ToTensor + Normalize(mean, std) + the
model (eval, no_grad) and OUT.json holds the logits per row.
"""
import json, os, sys

import numpy as np
import torchvision.transforms.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the checkout
from views_common import logits, render, setup  # noqa: E402

s = setup('--boxes')
a = s.args
rows, xs = [], []
for r in s.rows:
    v = render(s, r['sample'], r['box'], r['flip'], r.get('ops'))
    arr = np.asarray(v)
    if a.dump:
        open(os.path.join(a.dump, f"{r['sample']}-{r['view']}.rgb"), 'wb').write(arr.tobytes())
    rows.append({'sample': r['sample'], 'view': r['view']})
    if s.model is not None:
        xs.append(F.normalize(F.to_tensor(v), s.mean, s.std))
out = {'rows': rows, 'size': s.size, 'interpolation': a.interpolation}
if s.model is not None:
    out['logits'] = logits(s.model, xs)
json.dump(out, open(a.out, 'w'))
print(f'views_reference: {len(rows)} views at {s.size[0]}x{s.size[1]} {a.interpolation}' + (', with logits' if s.model is not None else ''))
