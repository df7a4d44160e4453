#!/usr/bin/python3
"""timm's gradient accumulation (train.py::train_one_epoch, --grad-accum-steps, timm 1.0), restated
for tfkd's `cnn` in float64, for test/student/trainer/accum-vs-torch.test.ts.

timm is not packaged for Debian, so the loop's accumulation logic is written out here as timm has it:

    last_accum_steps = len(loader) % accum_steps
    last_batch_idx_to_accum = len(loader) - last_accum_steps
    for batch_idx, (input, target) in enumerate(loader):
        need_update = last_batch or (batch_idx + 1) % accum_steps == 0
        if batch_idx >= last_batch_idx_to_accum:
            accum_steps = last_accum_steps
        loss = loss_fn(model(input), target)
        if accum_steps > 1:
            loss /= accum_steps
        loss.backward()
        if need_update:
            dispatch_clip_grad(...); optimizer.step()
            num_updates += 1; optimizer.zero_grad()
            model_ema.update(model, step=num_updates)
            lr_scheduler.step_update(num_updates=num_updates)

with label-smoothed cross-entropy (F.cross_entropy(label_smoothing=ε), timm's
LabelSmoothingCrossEntropy), torch.optim.SGD with momentum and weight decay,
clip_grad_norm_, and timm's ModelEmaV3 (get_decay from golden_ema.py, lerp_).

Input folder: job.json {N, B, A, H, W, C, K, epochs, lrs (one per update, from tfkd's schedule),
momentum, weightDecay, epsilon, clipGrad (null: none), ema, orders (per epoch, positions of the N samples in the
order the trainer visits them), weights}, pixels.u8, labels.i32, one <name>.f32 per weight (tfjs
layout). Writes each weight's final value as <name>.final.f64, its average as <name>.ema.f64, and
result.json {updates, grad_norms (before clipping, per update)}.

Run: /usr/bin/python3 scripts/torch_accum_loop.py DIR
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_ema import get_decay  # noqa: E402
from torch_loss_step import cnn, read_loop_job  # noqa: E402


def main(d):
    job, w, x, y = read_loop_job(d)
    N, B = job['N'], job['B']
    params = list(w.values())
    ema = {n: t.detach().clone() for n, t in w.items()}  # deepcopy(model)
    opt = torch.optim.SGD(params, lr=job['lrs'][0], momentum=job['momentum'], weight_decay=job['weightDecay'])
    num_updates = 0
    norms = []
    batches = math.ceil(N / B)
    for epoch in range(job['epochs']):
        order = job['orders'][epoch]
        accum_steps = job['A']
        last_accum_steps = batches % accum_steps
        last_batch_idx_to_accum = batches - last_accum_steps
        for batch_idx in range(batches):
            last_batch = batch_idx == batches - 1
            need_update = last_batch or (batch_idx + 1) % accum_steps == 0
            if batch_idx >= last_batch_idx_to_accum:
                accum_steps = last_accum_steps
            idx = torch.tensor(order[batch_idx * B:(batch_idx + 1) * B])
            loss = F.cross_entropy(cnn(w, x[idx]), y[idx], label_smoothing=job['epsilon'])
            if accum_steps > 1:
                loss /= accum_steps
            loss.backward()
            if need_update:
                if job.get('clipGrad') is not None:
                    norms.append(float(torch.nn.utils.clip_grad_norm_(params, job['clipGrad'])))
                for g in opt.param_groups:
                    g['lr'] = job['lrs'][num_updates]
                opt.step()
                num_updates += 1
                opt.zero_grad()
                decay = get_decay(num_updates, job['ema'], False)
                with torch.no_grad():
                    for n, e in ema.items():
                        e.lerp_(w[n], weight=1. - decay)
    assert num_updates == len(job['lrs']), (num_updates, len(job['lrs']))
    for name, t in w.items():
        t.detach().numpy().astype('<f8').tofile(os.path.join(d, name.replace('/', '__') + '.final.f64'))
        ema[name].numpy().astype('<f8').tofile(os.path.join(d, name.replace('/', '__') + '.ema.f64'))
    json.dump({'updates': num_updates, 'grad_norms': norms}, open(os.path.join(d, 'result.json'), 'w'))
    print(f'accumulation: {job["epochs"]} epochs, {num_updates} updates, last loss {float(loss):.6f}')


if __name__ == '__main__':
    main(sys.argv[1])
