#!/usr/bin/python3
"""Golden trajectories for tfkd's weight average (test/student/ema.test.ts, src/student/ema.ts).

timm's ModelEmaV3 update (timm/utils/model_ema.py, as timm 1.0 has it; timm is not packaged by
Debian, so its two methods are written out here): get_decay(step) with update_after_step 0,
warmup_gamma 1, warmup_power 2/3, min_decay 0, and the non-foreach update, ema_v.lerp_(model_v,
weight=1 - decay) over every floating state_dict entry. The "model" is a few float32 tensors that
move by seeded random steps between updates, as trained weights do. Records the start, every
step's weights and the average after every update. Writes test/fixtures/golden/ema.json.

Run: /usr/bin/python3 scripts/golden_ema.py   (Debian torch 1.13)
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_optim import f32, write_golden  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'golden', 'ema.json')
SHAPES = {'w0': (3, 4), 'b0': (4,), 'running_var': (4,)}  # a Dense(4) and a BatchNorm's moving variance
STEPS = 12
CONFIGS = [
    {'decay': 0.9, 'warmup': False},
    {'decay': 0.999, 'warmup': True},
    {'decay': 0.3, 'warmup': True},  # the warm-up's curve passes d = 0.3 at the second step: capped from then on
]


def get_decay(step, decay, use_warmup, update_after_step=0, warmup_gamma=1.0, warmup_power=2 / 3, min_decay=0.0):
    step = max(0, step - update_after_step - 1)
    if step <= 0:
        return 0.0
    if use_warmup:
        d = 1 - (1 + step / warmup_gamma) ** -warmup_power
        return max(min(d, decay), min_decay)
    return decay


def main():
    rng = np.random.default_rng(11)
    start = {n: rng.standard_normal(s).astype(np.float32) for n, s in SHAPES.items()}
    walk = [start]
    for _ in range(STEPS):
        walk.append({n: (v + rng.standard_normal(v.shape) * 0.1).astype(np.float32) for n, v in walk[-1].items()})
    runs = []
    for c in CONFIGS:
        ema = {n: torch.tensor(v) for n, v in start.items()}  # deepcopy(model) at the start
        trace = []
        for t in range(1, STEPS + 1):
            d = get_decay(t, c['decay'], c['warmup'])
            for n, e in ema.items():
                e.lerp_(torch.tensor(walk[t][n]), weight=1. - d)
            trace.append({'decay': d, 'ema': {n: f32(e.numpy()) for n, e in ema.items()}})
        runs.append({'config': c, 'trace': trace})
    doc = {'generator': 'scripts/golden_ema.py', 'torch': torch.__version__, 'shapes': {n: list(s) for n, s in SHAPES.items()},
           'weights': [{n: f32(v) for n, v in w.items()} for w in walk], 'runs': runs}
    write_golden(OUT, doc, '%d runs x %d steps' % (len(runs), STEPS))


if __name__ == '__main__':
    main()
