#!/usr/bin/python3
"""One full-batch SGD step of tfkd's `cnn` in PyTorch, with a loss restated from its authors' code
(scripts/golden_authors_losses.py), for test/student/trainer/step-vs-torch.test.ts.

Input (a folder written by the test): job.json {loss, options, epoch, epochs, lr, B, H, W, C, K,
weights: [{name, shape}]}, pixels.u8 (B·H·W·C bytes, NHWC), labels.i32, teacher.f32 (B·K raw teacher
logits, as the cache stores them), and one <name>.f32 per weight in tfjs's layout (conv kernels
[kh, kw, in, out], dense kernels [in, out]). The Keras-MNIST CNN is built in float64 with those
weights (the flatten in NHWC order, as tfjs does), the loss is evaluated on x = pixels / 255, and
the update −lr·∂loss/∂w of every weight is written as <name>.update.f64 (plain SGD: no momentum, no
weight decay), in the tfjs layout.

Run: /usr/bin/python3 scripts/torch_loss_step.py DIR
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_authors_losses as A  # noqa: E402

LOSSES = {
    'dkd': lambda z, zt, y, o, e, n: A.loss_dkd(z, zt, y, o, e, False),
    'dkd-ls': lambda z, zt, y, o, e, n: A.loss_dkd(z, zt, y, o, e, True),
    'kd-ls': lambda z, zt, y, o, e, n: A.loss_kd_ls(z, zt, y, o, e, True),
    'dist': lambda z, zt, y, o, e, n: A.loss_dist(z, zt, y, o, e, False),
    'nkd': lambda z, zt, y, o, e, n: A.loss_nkd(z, zt, y, o, e, False),
    'wsld': lambda z, zt, y, o, e, n: A.loss_wsld(z, zt, y, o, e, False),
    'zipf-ls': lambda z, zt, y, o, e, n: A.loss_zipf(z, zt, y, o, e, False),
    'hard-kd': lambda z, zt, y, o, e, n: A.loss_hard_kd(z, zt, y, o, e, False),
}


def read_weights(d, job, dtype=np.float64):
    """The weights in tfjs's layout, as float64 leaves (or `dtype`)."""
    w = {}
    for e in job['weights']:
        a = np.fromfile(os.path.join(d, e['name'].replace('/', '__') + '.f32'), dtype='<f4').reshape(e['shape'])
        w[e['name']] = torch.tensor(a.astype(dtype), requires_grad=True)
    return w


def read_inputs(d, n, H, W, C, dtype=torch.float64):
    x = torch.tensor(np.fromfile(os.path.join(d, 'pixels.u8'), dtype=np.uint8).reshape(n, H, W, C).astype(np.float32) / np.float32(255)).to(dtype)
    y = torch.tensor(np.fromfile(os.path.join(d, 'labels.i32'), dtype='<i4').astype(np.int64))
    return x, y


def read_loop_job(d):
    """A training-loop job (torch_pskd_loop.py, torch_accum_loop.py): job.json, the N samples and
    the weights, in float64 — or in float32 with TORCH_LOOP_DTYPE=float32: the same loop in
    PyTorch's own float32, whose distance from float64 is the rounding a float32 trainer cannot
    avoid (a test's tolerance is stated against it)."""
    job = json.load(open(os.path.join(d, 'job.json')))
    single = os.environ.get('TORCH_LOOP_DTYPE') == 'float32'
    torch.set_default_dtype(torch.float32 if single else torch.float64)
    w = read_weights(d, job, np.float32 if single else np.float64)
    x, y = read_inputs(d, job['N'], job['H'], job['W'], job['C'], torch.float32 if single else torch.float64)
    return job, w, x, y


def cnn(w, x):
    """tfkd's `cnn` (student/zoo/cnn.ts) on NHWC inputs with tfjs-layout weights."""
    conv = lambda h, name: F.relu(F.conv2d(h, w[f'{name}/kernel'].permute(3, 2, 0, 1), w[f'{name}/bias']))
    h = conv(x.permute(0, 3, 1, 2), 'conv1')
    h = conv(h, 'conv2')
    h = F.max_pool2d(h, 2, 2)
    h = h.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # tfjs flattens NHWC
    h = F.relu(h @ w['fc1/kernel'] + w['fc1/bias'])
    return h @ w['logits/kernel'] + w['logits/bias']


def main(d):
    job = json.load(open(os.path.join(d, 'job.json')))
    B, H, W, C, K = job['B'], job['H'], job['W'], job['C'], job['K']
    torch.set_default_dtype(torch.float64)
    w = read_weights(d, job)
    x, y = read_inputs(d, B, H, W, C)
    zt = torch.tensor(np.fromfile(os.path.join(d, 'teacher.f32'), dtype='<f4').reshape(B, K).astype(np.float64))
    z = cnn(w, x)
    loss = LOSSES[job['loss']](z, zt, y, job['options'], job['epoch'], job['epochs'])
    loss.backward()
    for name, t in w.items():
        (-job['lr'] * t.grad).numpy().astype('<f8').tofile(os.path.join(d, name.replace('/', '__') + '.update.f64'))
    print(f"{job['loss']}: loss {float(loss):.6f}")


if __name__ == '__main__':
    main(sys.argv[1])
