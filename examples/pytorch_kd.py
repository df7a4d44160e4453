#!/usr/bin/env python3
"""Knowledge distillation in PyTorch from a tfkd cache: the teacher ran once (tfkd precompute), the
student trains here on torchvision's FashionMNIST with the teacher's logits of exactly its images.

    npx tfkd precompute --teacher models/fmnist-good.onnx --data fashion-mnist --out out/caches/good
    python3 examples/pytorch_kd.py out/caches/good [--epochs 2] [--alpha 0.9] [--tau 4] [--seed 0]

A cache of views (`--views 4 --augment crop:4,flip`) trains each epoch on the views tfkd's trainer
would pick for `--seed`, each with the teacher's logits of exactly that view.

Loss (Hinton et al. 2015; the official Tf-KD code's loss_fn_kd, docs/LOSSES.md "kd"):
    (1 − α) · CE(s, y) + α · τ² · KL(softmax(t/τ) ‖ softmax(s/τ))
The data set is the one the cache names (manifest data.spec): its IDX files are unpacked into the
layout torchvision reads, and tfkd_torch.WithTeacher checks every pixel and label against the
cache's data fingerprint before the first step.
"""
import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets, transforms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from tfkd_torch import WithTeacher  # noqa: E402

IDX = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def torchvision_layout(idx_dir, root):
    """IDX files (gzipped or not) of idx_dir → root/FashionMNIST/raw/, where torchvision reads them."""
    raw = os.path.join(root, "FashionMNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for name in IDX:
        src = os.path.join(idx_dir, name)
        if os.path.exists(src + ".gz"):
            with gzip.open(src + ".gz") as f, open(os.path.join(raw, name), "wb") as out:
                shutil.copyfileobj(f, out)
        else:
            shutil.copyfile(src, os.path.join(raw, name))


def student():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def kd_loss(s, y, t, alpha, tau):
    soft = F.kl_div(F.log_softmax(s / tau, dim=1), F.softmax(t / tau, dim=1), reduction="batchmean")
    return (1 - alpha) * F.cross_entropy(s, y) + alpha * tau * tau * soft


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cache", help="a tfkd cache of a Fashion-MNIST teacher (train split)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--tau", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)

    with open(os.path.join(a.cache, "manifest.json")) as f:
        data = json.load(f)["data"]
    kind, _, idx_dir = data["spec"].partition(":")
    if kind != "fashion-mnist" or not idx_dir:
        sys.exit(f"pytorch_kd.py: {a.cache} is a cache of {data['spec']}; this example trains on Fashion-MNIST")
    with tempfile.TemporaryDirectory() as root:
        torchvision_layout(idx_dir, root)
        tf = transforms.ToTensor()
        train = WithTeacher(datasets.FashionMNIST(root, train=(data["split"] == "train"), transform=tf), a.cache, seed=a.seed)
        test = datasets.FashionMNIST(root, train=False, transform=tf)
        teacher_acc = (train.teacher(range(len(train)), views=[0] * len(train)).argmax(1) == train.dataset.targets).float().mean().item()
        views = f", {train.cache.views} views of each image ({train.cache.manifest['augment']['spec']})" if train.augment else ""
        print(f"teacher (from {a.cache}): {len(train)} images{views}, verified against the data; its train accuracy {100 * teacher_acc:.2f} %")
        loader = torch.utils.data.DataLoader(train, batch_size=a.batch, shuffle=True, generator=torch.Generator().manual_seed(a.seed))
        model = student()
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
        for epoch in range(1, a.epochs + 1):
            t0, total, n = time.time(), 0.0, 0
            train.set_epoch(epoch - 1)  # a cache of views (--views V --augment crop:4,flip): this epoch's views
            model.train()
            for x, y, t in loader:
                loss = kd_loss(model(x), y, t, a.alpha, a.tau)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total, n = total + loss.item() * len(y), n + len(y)
            model.eval()
            with torch.no_grad():
                correct = sum((model(x).argmax(1) == y).sum().item() for x, y in torch.utils.data.DataLoader(test, batch_size=1000))
            print(f"epoch {epoch}: kd loss {total / n:.4f}, student test accuracy {100 * correct / len(test):.2f} % ({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
