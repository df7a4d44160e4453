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
import json, os, sys

import numpy as np
import torch
import torchvision.transforms.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the checkout
from views_common import logits, render, setup  # noqa: E402

s = setup('--rows')
a = s.args
out_rows, xs, kinds = [], [], {'mixup': 0, 'cutmix': 0, 'none': 0}
for r in s.rows:
    x = F.to_tensor(render(s, r['sample'], r['box'], r['flip'], r.get('ops')))
    m = r.get('mix')
    if m:
        b = F.to_tensor(render(s, m['partner'], m['partner_box'], m['partner_flip'], m.get('partner_ops')))
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
    if s.model is not None:
        xs.append(F.normalize(x, s.mean, s.std))
out = {'rows': out_rows, 'size': s.size, 'interpolation': a.interpolation, 'kinds': kinds}
if s.model is not None:
    out['logits'] = logits(s.model, xs)
json.dump(out, open(a.out, 'w'))
print(f"mix_reference: {len(out_rows)} views at {s.size[0]}x{s.size[1]} {a.interpolation} ({kinds['mixup']} mixup, {kinds['cutmix']} cutmix, {kinds['none']} unmixed)" + (', with logits' if s.model is not None else ''))
