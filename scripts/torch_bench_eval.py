#!/usr/bin/env python3
"""PyTorch eval throughput of a torchvision classifier: the reference of `tfkd bench precompute --torch`.

    /usr/bin/python3 scripts/torch_bench_eval.py --arch resnet18 --batch 32 --threads 2 --seconds 10 [--size 224]

Eval mode, torch.no_grad(), float32, NCHW, intra-op threads = --threads (like onnxruntime's), the same
batch on every iteration (a fixed random tensor: the speed of a forward pass does not depend on the
weights or the pixels). One warm-up batch, then as many batches as fit in --seconds (at least 3).
Prints one JSON line: {"arch", "batch", "threads", "img_per_s", "batches", "torch"}.
"""
import argparse, json, time

import torch
import torchvision

p = argparse.ArgumentParser()
p.add_argument('--arch', required=True)
p.add_argument('--batch', type=int, default=32)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--seconds', type=float, default=10.0)
p.add_argument('--size', type=int, default=224)
a = p.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = getattr(torchvision.models, a.arch)(num_classes=1000).eval()
x = torch.rand(a.batch, 3, a.size, a.size)
with torch.no_grad():
    model(x)  # warm-up
    n = 0
    t0 = time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < a.seconds:
        model(x)
        n += 1
    dt = time.perf_counter() - t0
print(json.dumps({'arch': a.arch, 'batch': a.batch, 'threads': a.threads, 'img_per_s': n * a.batch / dt, 'batches': n, 'torch': torch.__version__}))
