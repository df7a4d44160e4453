#!/usr/bin/python3
"""Makes the small real PyTorch teacher used by tfkd's teacher tests (test/fixtures/torch-teacher/).

A seeded CNN for 28x28x1 Fashion-MNIST (NCHW), briefly trained on CPU on a few thousand training
images, exported with torch.onnx.export (opset 13, dynamic batch axis). Next to the model it writes
PyTorch's own logits for fixed inputs -- the first 64 test images preprocessed as x/255 -- both for
the float32 inputs and for the same inputs rounded to float16, plus the model's test accuracy, so
that tfkd's onnxruntime path can be checked against an independent implementation.

Run with Debian's interpreter (the one that has torch 1.13 and onnx):
    /usr/bin/python3 scripts/make_torch_teacher.py [--data /usr/share/datasets/fashion-mnist]
                                                   [--out test/fixtures/torch-teacher]
Deterministic for a given torch build: seeded, single-threaded.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the checkout
from idx import read_idx  # noqa: E402

SEED = 0
TRAIN_SAMPLES = 12000
EPOCHS = 4
BATCH = 64
REF_ROWS = 64


class SmallCnn(nn.Module):
    """conv3x3(8)-ReLU-pool2 -> conv3x3(16)-ReLU-pool2 -> dense 32 -> ReLU -> dense 10 (NCHW)."""

    def __init__(self, k=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, k))

    def forward(self, x):
        return self.head(self.features(x))


def to_input(images_u8):
    """The preprocessing tfkd applies by default: float32 = pixel / 255, NCHW with C = 1."""
    return torch.from_numpy(images_u8.astype(np.float32) / np.float32(255.0)).unsqueeze(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    ap.add_argument('--out', default='test/fixtures/torch-teacher')
    args = ap.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    t0 = time.time()

    x_train = read_idx(os.path.join(args.data, 'train-images-idx3-ubyte.gz'))
    y_train = read_idx(os.path.join(args.data, 'train-labels-idx1-ubyte.gz')).astype(np.int64)
    x_test = read_idx(os.path.join(args.data, 't10k-images-idx3-ubyte.gz'))
    y_test = read_idx(os.path.join(args.data, 't10k-labels-idx1-ubyte.gz')).astype(np.int64)
    pick = rng.permutation(len(x_train))[:TRAIN_SAMPLES]
    xt, yt = to_input(x_train[pick]), torch.from_numpy(y_train[pick])

    model = SmallCnn()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(EPOCHS):
        order = torch.from_numpy(rng.permutation(TRAIN_SAMPLES))
        total = 0.0
        for i in range(0, TRAIN_SAMPLES, BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f'epoch {epoch + 1}/{EPOCHS} loss {total / TRAIN_SAMPLES:.4f}')

    model.eval()
    with torch.no_grad():
        correct = 0
        for i in range(0, len(x_test), 1000):
            pred = model(to_input(x_test[i:i + 1000])).argmax(1).numpy()
            correct += int((pred == y_test[i:i + 1000]).sum())
        accuracy = correct / len(x_test)
        ref_in = to_input(x_test[:REF_ROWS])
        logits = model(ref_in).numpy()
        # The same inputs rounded to float16 (what a float16-input model receives), run in float32.
        logits_f16_inputs = model(ref_in.half().float()).numpy()
    print(f'test accuracy {accuracy:.4f} ({time.time() - t0:.1f}s)')

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, 'model.onnx')
    torch.onnx.export(
        model, ref_in[:1], onnx_path, opset_version=13, input_names=['input'], output_names=['logits'],
        dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, do_constant_folding=True)
    with open(onnx_path, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    ref = {
        'description': 'PyTorch logits of the first 64 Fashion-MNIST test images, input = pixel/255, NCHW',
        'model': 'model.onnx',
        'model_sha256': sha,
        'torch_version': torch.__version__,
        'opset': 13,
        'seed': SEED,
        'train_samples': TRAIN_SAMPLES,
        'epochs': EPOCHS,
        'test_accuracy': accuracy,
        'rows': REF_ROWS,
        'data_split': 'test',
        'preprocess': {'layout': 'NCHW', 'size': [28, 28], 'scale': 1 / 255, 'mean': [0], 'std': [1]},
        'labels': y_test[:REF_ROWS].tolist(),
        'logits': [[float(v) for v in row] for row in logits],
        'logits_f16_inputs': [[float(v) for v in row] for row in logits_f16_inputs],
    }
    with open(os.path.join(args.out, 'reference.json'), 'w') as f:
        json.dump(ref, f, indent=1)
        f.write('\n')
    print(f'wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes, sha256 {sha[:12]}) and reference.json')


if __name__ == '__main__':
    main()
