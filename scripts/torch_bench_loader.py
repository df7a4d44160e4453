#!/usr/bin/python3
"""What a PyTorch user runs instead of `tfkd precompute` on a folder: the reference of
`tfkd bench precompute --torch ARCH --torch-loader` (issue 25).

    /usr/bin/python3 scripts/torch_bench_loader.py --root DIR --arch resnet18 --batch 32 --threads 2
        --workers 1 [--rows 200] [--reps 1] [--weights M.pt]

ImageFolder(DIR) (sorted classes, PIL loader: Image.open(f).convert('RGB')) with torchvision's
ImageNet eval transform (Resize(256) + CenterCrop(224) + ToTensor + Normalize), the first --rows
files (torch.utils.data.Subset), DataLoader(batch_size=--batch, num_workers=--workers, shuffle=False),
the model in eval mode under torch.no_grad() with torch.set_num_threads(--threads), logits kept as
float32 numpy (what a user would write to disk; nothing is written). The loader's worker processes
are started once (persistent_workers) and warmed with one pass; each repetition is then one timed
pass over all rows. Prints one JSON line: {"img_per_s": [..per rep..], "rows", "workers", "threads", "torch"}.
"""
import argparse, json, time

import torch
import torchvision
import torchvision.transforms as T

p = argparse.ArgumentParser()
p.add_argument('--root', required=True)
p.add_argument('--arch', default='resnet18')
p.add_argument('--batch', type=int, default=32)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--workers', type=int, default=1)
p.add_argument('--rows', type=int, default=200)
p.add_argument('--reps', type=int, default=1)
p.add_argument('--weights', default=None)
a = p.parse_args()

torch.set_num_threads(a.threads)
tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
ds = torchvision.datasets.ImageFolder(a.root, transform=tf)
ds = torch.utils.data.Subset(ds, range(min(a.rows, len(ds))))
kw = {'persistent_workers': True} if a.workers > 0 else {}
dl = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=False, num_workers=a.workers, **kw)
model = getattr(torchvision.models, a.arch)(num_classes=1000).eval()
if a.weights:
    model.load_state_dict(torch.load(a.weights)['state_dict'])


def one_pass():
    n = 0
    with torch.no_grad():
        for x, _ in dl:
            model(x).numpy()
            n += x.shape[0]
    return n


one_pass()  # warm-up: worker start, allocator, kernel selection
rates = []
for _ in range(a.reps):
    t0 = time.perf_counter()
    n = one_pass()
    rates.append(n / (time.perf_counter() - t0))
print(json.dumps({'img_per_s': rates, 'rows': n, 'workers': a.workers, 'threads': a.threads, 'torch': torch.__version__}))
