#!/usr/bin/env python3
"""Make the Fashion-MNIST ONNX teachers tfkd ships in models/ (run with Debian's /usr/bin/python3).

Two teachers of one small CNN architecture, trained with PyTorch on the real Fashion-MNIST files:
  * fmnist-good.onnx  — trained normally (3 epochs);
  * fmnist-poor.onnx  — the same recipe stopped after 15 steps: a *defective* teacher for
                        De-KD (docs/PAPER.md: a poorly trained teacher still helps the student).
Each gets a provenance JSON beside it (command, seed, steps/epochs, test accuracy measured here,
sha256 of the .onnx). Inputs are NCHW float32 pixels · 1/255; the expected preprocessing is stored
in the model's metadata (key `tfkd.preprocess`) so `tfkd precompute` needs no --preprocess.

Usage: /usr/bin/python3 scripts/make_teachers.py [--data DIR] [--out models]
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the checkout
from idx import read_idx  # noqa: E402


def load(data_dir, split):
    prefix = 'train' if split == 'train' else 't10k'
    x = read_idx(os.path.join(data_dir, f'{prefix}-images-idx3-ubyte.gz'))
    y = read_idx(os.path.join(data_dir, f'{prefix}-labels-idx1-ubyte.gz'))
    return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


class SmallCNN(nn.Module):
    """conv5x5 16 → ReLU → maxpool2 → conv5x5 32 → ReLU → maxpool2 → dense 128 → ReLU → dense 10 (≈ 80k parameters)."""

    def __init__(self, k=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.fc1 = nn.Linear(32 * 4 * 4, 128)
        self.fc2 = nn.Linear(128, k)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = 0
    for i in range(0, len(x), 1000):
        correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def train(seed, steps, xtr, ytr, batch=128, lr=0.05):
    torch.manual_seed(seed)
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    done = 0
    while done < steps:
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(perm) - batch + 1, batch):
            if done >= steps:
                break
            idx = perm[i:i + batch]
            model.train()
            opt.zero_grad()
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
            done += 1
    return model


def export(model, path, name, provenance):
    model.eval()
    tmp = path + '.tmp'
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), tmp, input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=13)
    m = onnx.load(tmp)
    pre = {'layout': 'NCHW', 'size': [28, 28], 'scale': 1 / 255, 'mean': [0.0], 'std': [1.0]}
    for k, v in (('tfkd.preprocess', json.dumps(pre)), ('tfkd.teacher', name)):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = 'tfkd scripts/make_teachers.py'
    onnx.checker.check_model(m)
    with open(tmp, 'wb') as f:
        f.write(m.SerializeToString())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    provenance['sha256'] = hashlib.sha256(open(path, 'rb').read()).hexdigest()
    provenance['bytes'] = os.path.getsize(path)
    with open(path[:-5] + '.json', 'w') as f:
        json.dump(provenance, f, indent=2)
        f.write('\n')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    ap.add_argument('--out', default='models')
    ap.add_argument('--seed', type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    xtr, ytr = load(args.data, 'train')
    xte, yte = load(args.data, 'test')
    steps_per_epoch = len(xtr) // 128
    recipes = {
        'fmnist-good': dict(steps=3 * steps_per_epoch, lr=0.05),
        # A deliberately poor teacher: the same recipe stopped after 15 steps (≈ 20 % accurate,
        # the regime of the paper's De-KD teacher at 15.48 %).
        'fmnist-poor': dict(steps=15, lr=0.05),
    }
    os.makedirs(args.out, exist_ok=True)
    for name, r in recipes.items():
        model = train(args.seed, r['steps'], xtr, ytr, lr=r['lr'])
        acc = accuracy(model, xte, yte)
        prov = {
            'name': name,
            'command': 'scripts/make_teachers.py ' + ' '.join(sys.argv[1:]),
            'framework': f'torch {torch.__version__}',
            'architecture': SmallCNN.__doc__,
            'parameters': sum(p.numel() for p in model.parameters()),
            'data': 'fashion-mnist (train split, 60000)',
            'seed': args.seed,
            'optimizer': f'SGD lr={r["lr"]} momentum=0.9 batch=128',
            'steps': r['steps'],
            'epochs': round(r['steps'] / steps_per_epoch, 4),
            'test_accuracy': acc,
            'test_split': 'fashion-mnist test (10000)',
            'input': {'name': 'input', 'layout': 'NCHW', 'shape': ['batch', 1, 28, 28], 'preprocess': 'pixel / 255'},
        }
        export(model, os.path.join(args.out, name + '.onnx'), name, prov)
        print(f'{name}: test accuracy {acc:.4f}, {prov["parameters"]} parameters, steps {r["steps"]}')


if __name__ == '__main__':
    main()
