#!/usr/bin/python3
"""Golden trajectories for tfkd's optimizers (test/student/optim-golden.test.ts).

torch.optim.SGD / Adam / AdamW (float32, CPU) on seeded random parameters, fed seeded random
gradients for a few steps with a different learning rate each step (the schedule drives lr).
Records the initial parameters, every step's gradients and lr, and the parameters and optimizer
state after every step. Writes test/fixtures/golden/optim.json.

Run: /usr/bin/python3 scripts/golden_optim.py   (Debian torch 1.13)
"""
import json
import os
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'golden', 'optim.json')
SHAPES = {'w0': (3, 4), 'b0': (4,), 'w1': (2, 2, 3)}
STEPS = 5
LRS = [0.1, 0.05, 0.2, 0.0, 0.01]  # includes lr = 0 (warm-up start): state still advances

CONFIGS = [
    ('sgd-plain', {'kind': 'sgd'}, lambda p: torch.optim.SGD(p, lr=1.0)),
    ('sgd-official', {'kind': 'sgd', 'momentum': 0.9, 'weightDecay': 5e-4},
     lambda p: torch.optim.SGD(p, lr=1.0, momentum=0.9, weight_decay=5e-4)),
    ('sgd-nesterov', {'kind': 'sgd', 'momentum': 0.9, 'nesterov': True, 'weightDecay': 1e-2},
     lambda p: torch.optim.SGD(p, lr=1.0, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ('sgd-dampening', {'kind': 'sgd', 'momentum': 0.5, 'dampening': 0.1},
     lambda p: torch.optim.SGD(p, lr=1.0, momentum=0.5, dampening=0.1)),
    ('adam-default', {'kind': 'adam'}, lambda p: torch.optim.Adam(p, lr=1.0)),
    ('adam-l2', {'kind': 'adam', 'beta1': 0.8, 'beta2': 0.99, 'epsilon': 1e-6, 'weightDecay': 1e-2},
     lambda p: torch.optim.Adam(p, lr=1.0, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)),
    ('adamw', {'kind': 'adamw', 'weightDecay': 0.05}, lambda p: torch.optim.AdamW(p, lr=1.0, weight_decay=0.05)),
]

# timm's recipe pieces, as the trainer uses them: a parameter group without weight decay
# (timm.optim.param_groups_weight_decay puts biases and norms there) and clip_grad_norm_ before
# the step. Each: (name, config, no-decay names, clip max norm or None, factory over (decay, no-decay)).
GROUPED = [
    ('adamw-no-decay', {'kind': 'adamw', 'weightDecay': 0.05}, ['b0'], None,
     lambda d, n: torch.optim.AdamW([{'params': d}, {'params': n, 'weight_decay': 0.0}], lr=1.0, weight_decay=0.05)),
    ('sgd-no-decay-clip', {'kind': 'sgd', 'momentum': 0.9, 'weightDecay': 5e-2}, ['b0', 'w1'], 1.0,
     lambda d, n: torch.optim.SGD([{'params': d}, {'params': n, 'weight_decay': 0.0}], lr=1.0, momentum=0.9, weight_decay=5e-2)),
    # A threshold the gradients' norms (1.8–2.6) stay below on all steps but the fourth: the no-op path too.
    ('adamw-clip-loose', {'kind': 'adamw', 'weightDecay': 0.01}, [], 2.4,
     lambda d, n: torch.optim.AdamW(d + n, lr=1.0, weight_decay=0.01)),
]

# Per-parameter learning rates (timm's layer-wise decay: a param group's lr_scale, which timm's
# scheduler multiplies into the group's lr at every step). Each: (name, config, {param: scale},
# no-decay names, factory over the groups).
SCALED = [
    ('adamw-lr-scale', {'kind': 'adamw', 'weightDecay': 0.05}, {'w0': 0.25, 'b0': 0.5, 'w1': 1.0}, ['b0'],
     lambda groups: torch.optim.AdamW(groups, lr=1.0, weight_decay=0.05)),
    ('sgd-lr-scale', {'kind': 'sgd', 'momentum': 0.9, 'nesterov': True, 'weightDecay': 1e-2}, {'w0': 0.65 ** 2, 'b0': 0.65, 'w1': 1.0}, [],
     lambda groups: torch.optim.SGD(groups, lr=1.0, momentum=0.9, nesterov=True, weight_decay=1e-2)),
]


def f32(a):
    return [float(str(v)) for v in np.asarray(a, dtype=np.float32).ravel()]


def main():
    rng = np.random.default_rng(7)
    init = {n: rng.standard_normal(s).astype(np.float32) for n, s in SHAPES.items()}
    grads = [{n: (rng.standard_normal(s) * 0.5).astype(np.float32) for n, s in SHAPES.items()} for _ in range(STEPS)]
    grads[2]['b0'] = None  # a variable without a gradient this step: PyTorch skips it entirely
    runs = []
    cases = [(name, config, [], None, lambda d, n, make=make: make(d + n)) for name, config, make in CONFIGS] + GROUPED
    cases += [(name, dict(config, lrScale=scales), no_decay, None, (scales, make)) for name, config, scales, no_decay, make in SCALED]
    for name, config, no_decay, clip, make in cases:
        params = {n: torch.nn.Parameter(torch.tensor(v)) for n, v in init.items()}
        if isinstance(make, tuple):
            scales, factory = make
            opt = factory([{'params': [p], 'lr_scale': scales[n], **({'weight_decay': 0.0} if n in no_decay else {})} for n, p in params.items()])
        else:
            opt = make([p for n, p in params.items() if n not in no_decay], [p for n, p in params.items() if n in no_decay])
        trace = []
        norms = []
        for t in range(STEPS):
            for g in opt.param_groups:
                g['lr'] = LRS[t] * g.get('lr_scale', 1.0)
            for n, p in params.items():
                p.grad = None if grads[t][n] is None else torch.tensor(grads[t][n])
            if clip is not None:
                norms.append(float(torch.nn.utils.clip_grad_norm_([p for p in params.values() if p.grad is not None], clip)))
            opt.step()
            state = {}
            steps = {n: int(opt.state[p]['step']) for n, p in params.items() if 'step' in opt.state.get(p, {})}
            for n, p in params.items():
                for k, v in opt.state.get(p, {}).items():
                    if k != 'step' and v is not None:
                        state['%s#%s' % (n, k)] = f32(v.numpy())
            trace.append({'params': {n: f32(p.detach().numpy()) for n, p in params.items()}, 'state': state, 'variableSteps': steps})
        run = {'name': name, 'config': dict(config, **({'noDecay': no_decay} if no_decay else {})), 'trace': trace}
        if clip is not None:
            run['clip'] = {'maxNorm': clip, 'totalNorms': norms}
        runs.append(run)
    doc = {'generator': 'scripts/golden_optim.py', 'torch': torch.__version__, 'shapes': {n: list(s) for n, s in SHAPES.items()},
           'lrs': LRS, 'init': {n: f32(v) for n, v in init.items()},
           'grads': [{n: (None if g is None else f32(g)) for n, g in step.items()} for step in grads], 'runs': runs}
    write_golden(OUT, doc, '%d runs x %d steps' % (len(runs), STEPS))


def write_golden(out, doc, what):
    """The fixture as compact JSON, atomically (temp, fsync, rename); one line on stderr."""
    with open(out + '.tmp', 'w') as f:
        json.dump(doc, f, separators=(',', ':'))
        f.flush()
        os.fsync(f.fileno())
    os.replace(out + '.tmp', out)
    print('%s: %s, %d bytes' % (out, what, os.path.getsize(out)), file=sys.stderr)


if __name__ == '__main__':
    main()
