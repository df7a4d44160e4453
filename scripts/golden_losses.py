#!/usr/bin/python3
"""Golden values for tfkd's losses (test/student/losses-golden.test.ts).

An independent PyTorch implementation of every loss x fidelity mode, written from docs/PAPER.md and the
official my_loss_function.py (F.cross_entropy, nn.KLDivLoss with reduction 'mean' / 'batchmean',
F.log_softmax), evaluated in float64 on seeded float32 inputs; gradients w.r.t. the student logits
by autograd. Writes test/fixtures/golden/losses.json.

Run: /usr/bin/python3 scripts/golden_losses.py   (Debian torch 1.13; deterministic, no GPU)
"""
import json
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'golden', 'losses.json')


def f32_list(a):
    # float32 values printed with the shortest repr that round-trips through float32.
    return [float(str(v)) for v in np.asarray(a, dtype=np.float32).ravel()]


def g_list(a):
    return [float('%.8g' % v) for v in np.asarray(a, dtype=np.float64).ravel()]


def make_fixture(fid, b, k, seed, scale, teacher_scale, zeros=False):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((b, k)) * scale).astype(np.float32)
    labels = rng.integers(0, k, size=b).astype(np.int64)
    fx = {'id': fid, 'B': b, 'K': k, 'logits': f32_list(logits), 'labels': labels.tolist()}
    if zeros:
        # Given soft targets with exact zeros (what f16 caches produce when a teacher is confident):
        # tests 0 · log 0 = 0. Normalised in float32 so JS and torch see the same numbers.
        soft = rng.random((b, k)).astype(np.float32)
        soft[rng.random((b, k)) < 0.4] = 0
        soft[np.arange(b), labels] += 1  # every row keeps mass
        soft = (soft / soft.sum(1, keepdims=True)).astype(np.float32)
        soft[0, :] = 0
        soft[0, labels[0]] = 1  # one row is an exact one-hot teacher
        fx['soft'] = f32_list(soft)
    else:
        t = (rng.standard_normal((b, k)) * teacher_scale).astype(np.float32)
        t[np.arange(b), labels] += teacher_scale  # a teacher that mostly agrees with the labels
        fx['teacherLogits'] = f32_list(t)
    return fx


def tensors(fx):
    b, k = fx['B'], fx['K']
    z = torch.tensor(np.array(fx['logits'], dtype=np.float32).reshape(b, k), dtype=torch.float64, requires_grad=True)
    y = torch.tensor(fx['labels'], dtype=torch.int64)
    return z, y


def soft_targets(fx, tau):
    b, k = fx['B'], fx['K']
    if 'soft' in fx:
        return torch.tensor(np.array(fx['soft'], dtype=np.float32).reshape(b, k), dtype=torch.float64)
    t = torch.tensor(np.array(fx['teacherLogits'], dtype=np.float32).reshape(b, k), dtype=torch.float64)
    # The float32 soft targets the JS side is handed (its temperedProbs rounds a double softmax to
    # float32): the reference takes the same input, so the comparison isolates the loss function.
    return F.softmax(t / tau, dim=1).float().double()


def kl(log_student, target, fidelity):
    # official: nn.KLDivLoss() default reduction 'mean' (over B*K); paper: 'batchmean'.
    return nn.KLDivLoss(reduction='mean' if fidelity == 'official' else 'batchmean')(log_student, target)


def loss_ce(z, y, fx, o, fidelity):
    return F.cross_entropy(z, y)


def loss_lsr(z, y, fx, o, fidelity):
    b, k = z.shape
    eps = o['epsilon']
    if fidelity == 'official':
        sm = torch.full((b, k), eps / (k - 1), dtype=torch.float64)
        sm.scatter_(1, y.unsqueeze(1), 1 - eps)
    else:
        sm = (1 - eps) * F.one_hot(y, k).double() + eps / k
    return -torch.sum(F.log_softmax(z, dim=1) * sm) / b


def loss_kd_like(z, y, fx, o, fidelity, mult):
    a, tau = o['alpha'], o['temperature']
    soft = soft_targets(fx, tau)
    return (1 - a) * F.cross_entropy(z, y) + a * kl(F.log_softmax(z / tau, dim=1), soft, fidelity) * tau * tau * mult


def loss_kd(z, y, fx, o, fidelity):
    return loss_kd_like(z, y, fx, o, fidelity, 1.0)


def loss_self(z, y, fx, o, fidelity):
    return loss_kd_like(z, y, fx, o, fidelity, o['multiplier'])


def loss_reg(z, y, fx, o, fidelity):
    b, k = z.shape
    a, tau, m, cp = o['alpha'], o['temperature'], o['multiplier'], o['correctProb']
    pd = torch.ones((b, k), dtype=torch.float64) * (1 - cp) / (k - 1)
    for i in range(b):
        pd[i, y[i]] = cp
    if fidelity == 'official':
        teacher = F.softmax(pd / tau, dim=1)
        return (1 - a) * F.cross_entropy(z, y) + a * kl(F.log_softmax(z, dim=1), teacher, 'official') * m
    teacher = F.softmax(torch.log(pd) / tau, dim=1)
    return (1 - a) * F.cross_entropy(z, y) + a * kl(F.log_softmax(z / tau, dim=1), teacher, 'paper') * tau * tau * m


LOSSES = {'ce': loss_ce, 'lsr': loss_lsr, 'kd': loss_kd, 'tfkd-self': loss_self, 'tfkd-reg': loss_reg}
NEUTRAL = {'alpha': 0.0, 'temperature': 1.0, 'multiplier': 1.0, 'correctProb': 0.99, 'epsilon': 0.0}


def option_sets(loss):
    """Hyperparameter grid per loss: tau in {1,4,20}, alpha in {0.1,0.5,0.95}, paired to stay small."""
    if loss == 'ce':
        return [{}]
    if loss == 'lsr':
        return [{'epsilon': 0.1}, {'epsilon': 0.3}]
    pairs = [(1.0, 0.5), (4.0, 0.1), (20.0, 0.95)]
    if loss == 'kd':
        return [{'temperature': t, 'alpha': a} for t, a in pairs]
    if loss == 'tfkd-self':
        return [{'temperature': t, 'alpha': a, 'multiplier': m} for (t, a), m in zip(pairs, [1.0, 50.0, 3.0])]
    return [{'temperature': t, 'alpha': a, 'multiplier': m, 'correctProb': cp}
            for (t, a), m, cp in zip(pairs, [1.0, 100.0, 2.0], [0.99, 0.9, 0.5])]


def soft_target_golden():
    """Soft-target sources in plain numpy (float64): tempered probabilities of each teacher, their
    ensemble mean, and the virtual teacher in both modes (test/student/soft-targets.test.ts)."""
    rng = np.random.default_rng(11)
    n, k = 3, 5
    teachers = [(rng.standard_normal((n, k)) * s).astype(np.float32) for s in (2.0, 6.0)]
    teachers[1][2, 0] = 200.0  # a confident row: other classes underflow at tau = 1

    def softmax(x):
        e = np.exp(x - x.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    out = {'n': n, 'K': k, 'teachers': [f32_list(t) for t in teachers], 'tempered': [], 'virtual': []}
    for tau in (1.0, 4.0, 20.0):
        probs = [softmax(t.astype(np.float64) / tau) for t in teachers]
        out['tempered'].append({'temperature': tau, 'each': [g_list(p) for p in probs], 'ensemble': g_list(np.mean(probs, axis=0))})
    labels = [0, 3, 4]
    for kk, a, tau in ((5, 0.99, 20.0), (100, 0.99, 20.0), (10, 0.9, 4.0), (10, 1.0, 20.0)):
        pd = np.full((len(labels), kk), (1 - a) / (kk - 1))
        pd[np.arange(len(labels)), labels] = a
        with np.errstate(divide='ignore'):
            paper = softmax(np.log(pd) / tau)
        official = softmax(pd / tau)
        out['virtual'].append({'K': kk, 'correctProb': a, 'temperature': tau, 'labels': labels,
                               'paper': [float('%.9g' % paper[0, 0]), float('%.9g' % paper[0, 1])],
                               'official': [float('%.9g' % official[0, 0]), float('%.9g' % official[0, 1])]})
    return out


def main():
    warnings.filterwarnings('ignore', message="reduction: 'mean' divides")  # 'mean' is the point here
    torch.set_default_dtype(torch.float64)
    fixtures = [
        make_fixture('b8k10', 8, 10, seed=1, scale=2.0, teacher_scale=3.0),
        make_fixture('b4k100', 4, 100, seed=2, scale=3.0, teacher_scale=4.0),
        make_fixture('b16k10-peaked', 16, 10, seed=3, scale=8.0, teacher_scale=60.0),  # f32 softmax underflows to 0 at tau=1
        make_fixture('b1k2', 1, 2, seed=4, scale=1.0, teacher_scale=1.0),
        make_fixture('b6k10-zeros', 6, 10, seed=5, scale=2.0, teacher_scale=0.0, zeros=True),
    ]
    cases = []
    for fx in fixtures:
        for loss, fn in LOSSES.items():
            if 'soft' in fx and loss not in ('kd', 'tfkd-self'):
                continue
            for fidelity in ('paper', 'official'):
                for o in option_sets(loss):
                    opts = dict(NEUTRAL, **o)
                    z, y = tensors(fx)
                    value = fn(z, y, fx, opts, fidelity)
                    value.backward()
                    cases.append({'fixture': fx['id'], 'loss': loss, 'fidelity': fidelity, 'options': opts,
                                  'value': float('%.12g' % value.item()), 'grad': g_list(z.grad.numpy())})
    doc_soft = soft_target_golden()
    doc = {'generator': 'scripts/golden_losses.py', 'softTargets': doc_soft, 'torch': torch.__version__, 'dtype': 'float64 reference on float32 inputs',
           'fixtures': fixtures, 'cases': cases}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT + '.tmp', 'w') as f:
        json.dump(doc, f, separators=(',', ':'))
        f.flush()
        os.fsync(f.fileno())
    os.replace(OUT + '.tmp', OUT)
    print('%s: %d fixtures, %d cases, %d bytes' % (OUT, len(fixtures), len(cases), os.path.getsize(OUT)), file=sys.stderr)


if __name__ == '__main__':
    main()
