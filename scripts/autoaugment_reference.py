#!/usr/bin/python3
"""torchvision reference for src/data/auto-augment.ts (RandAugment, TrivialAugmentWide).

Run with Debian's interpreter (`/usr/bin/python3`: torchvision 0.14, Pillow 9.4):

    autoaugment_reference.py IN.json OUT_DIR

IN.json: {"images": [{"file": RAW, "width": W, "height": H, "mode": "L"|"RGB"}, ...],
          "cases": [{"image": k, "ops": [[OP, MAGNITUDE], ...]} | {"image": k, "affine": [a0..a5]}, ...],
          "tables": [{"bins": N, "height": H, "width": W}, ...]}
RAW holds the image's HWC uint8 bytes. For every case the image goes through torchvision's own
`_apply_op(img, op, magnitude, InterpolationMode.NEAREST, fill=None)` for each (op, magnitude) in
turn, on the PIL image — exactly what RandAugment/TrivialAugmentWide.forward do once they have drawn
their operations; an "affine" case is PIL's own `img.transform(img.size, AFFINE, a, NEAREST)` (for
the loops of Geometry.c that no torchvision matrix reaches at these sizes). OUT_DIR/blob.bin holds the results back to back; OUT_DIR/index.json their
[offset, length], and for every entry of "tables" the magnitude tables of both policies as
torchvision builds them (`_augmentation_space`, float32 torch.linspace values as Python floats;
AutoAugment's over its 10 bins), and "policies": AutoAugment's three tables as torchvision lists them.
"""
import json
import os
import sys

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import AutoAugment, RandAugment, TrivialAugmentWide, _apply_op

spec = json.load(open(sys.argv[1]))
out_dir = sys.argv[2]
os.makedirs(out_dir, exist_ok=True)

images = []
for im in spec["images"]:
    data = open(im["file"], "rb").read()
    images.append(Image.frombytes(im["mode"], (im["width"], im["height"]), data))

index = {"cases": [], "tables": []}
with open(os.path.join(out_dir, "blob.bin"), "wb") as blob:
    offset = 0
    for case in spec["cases"]:
        img = images[case["image"]]
        if "affine" in case:
            img = img.transform(img.size, Image.Transform.AFFINE, case["affine"], Image.Resampling.NEAREST)
        for op, magnitude in case.get("ops", []):
            img = _apply_op(img, op, float(magnitude), interpolation=InterpolationMode.NEAREST, fill=None)
        b = img.tobytes()
        blob.write(b)
        index["cases"].append([offset, len(b), img.width, img.height])
        offset += len(b)

for t in spec.get("tables", []):
    ra = RandAugment(num_magnitude_bins=t["bins"])._augmentation_space(t["bins"], (t["height"], t["width"]))
    ta = TrivialAugmentWide(num_magnitude_bins=t["bins"])._augmentation_space(t["bins"])

    def dump(space):
        return {k: ([float(x) for x in v.tolist()] if v.ndim > 0 else None, s) for k, (v, s) in space.items()}

    aa = AutoAugment()._augmentation_space(10, (t["height"], t["width"]))
    index["tables"].append({"randaugment": dump(ra), "trivialaugment": dump(ta), "autoaugment": dump(aa)})

from torchvision.transforms import AutoAugmentPolicy
index["policies"] = {p.value: [[list(op) for op in sub] for sub in AutoAugment(p).policies] for p in AutoAugmentPolicy}
index["torch"] = torch.__version__
json.dump(index, open(os.path.join(out_dir, "index.json"), "w"))
print(f"autoaugment_reference: {len(spec['cases'])} cases, {len(spec.get('tables', []))} tables")
