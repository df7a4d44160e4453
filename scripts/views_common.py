"""What the two view references share (scripts/views_reference.py, scripts/mix_reference.py):
their command line, the view of one sample as a torchvision training script renders it with PIL,
and the model's logits over the views. Both are run with Debian's /usr/bin/python3.
"""
import argparse, json, os, sys
from types import SimpleNamespace

import PIL.Image
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode as IM
from torchvision.transforms.autoaugment import _apply_op

FILTERS = {'nearest': IM.NEAREST, 'bilinear': IM.BILINEAR, 'bicubic': IM.BICUBIC, 'lanczos': IM.LANCZOS, 'box': IM.BOX, 'hamming': IM.HAMMING}


def setup(rows_flag):
    """Parses the shared command line, `rows_flag` naming the JSON of views (what `tfkd data views
    --json` prints). Returns args, size [H, W], rows (view >= 1 only), files, model (a .pt from
    scripts/torchvision_teacher.py, eval) or None, mean, std; makes the --dump folder."""
    ap = argparse.ArgumentParser()
    ap.add_argument(rows_flag, required=True, dest='rows')
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
    return SimpleNamespace(args=a, size=size, rows=rows, files=files, model=model, mean=mean, std=std)


def render(s, sample, box, flip, ops=None):
    """One view: ImageFolder's loader (PIL open + convert('RGB')), F.resized_crop of the box
    [left, top, w, h] to s.size with the chosen filter (crop, then PIL resize), F.hflip when flipped,
    then a policy's operations (`ops`: [{"op", "magnitude"}], what RandAugment/TrivialAugmentWide
    drew) through torchvision's own _apply_op with their defaults (NEAREST, fill None)."""
    with open(os.path.join(s.args.data, s.files[sample]), 'rb') as f:
        img = PIL.Image.open(f).convert('RGB')
    left, top, w, h = box
    v = F.resized_crop(img, top, left, h, w, s.size, FILTERS[s.args.interpolation])
    if flip:
        v = F.hflip(v)
    for o in ops or []:
        v = _apply_op(v, o['op'], float(o['magnitude']), interpolation=IM.NEAREST, fill=None)
    return v


def logits(model, xs):
    """The model's logits (eval, no_grad) over the normalised views xs, 16 at a time, as lists of floats."""
    with torch.no_grad():
        z = torch.cat([model(torch.stack(xs[i:i + 16])) for i in range(0, len(xs), 16)]).numpy()
    return [[float(v) for v in row] for row in z]
