#!/usr/bin/python3
"""PS-KD's official training loop (lgcnsai/PS-KD-Pytorch main.py::train and
loss/pskd_loss.py::Custom_CrossEntropy_PSKD @ 9aa0828d099f2faed16bbac258e4153902a55021), restated
for tfkd's `cnn` in float64, for test/student/trainer/pskd-vs-torch.test.ts.

Input folder: job.json {N, B, H, W, C, K, epochs, lr, momentum, weightDecay, alphaT, orders (per
epoch, the positions of the N samples in the order the trainer visits them), weights}, pixels.u8 (the
N images, NHWC), labels.i32, one <name>.f32 per weight (tfjs layout; see torch_loss_step.py). Runs
`epochs` epochs of torch.optim.SGD with the PS-KD targets and writes each weight's final value as
<name>.final.f64.

Run: /usr/bin/python3 scripts/torch_pskd_loop.py DIR
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_loss_step import cnn, read_loop_job  # noqa: E402


def main(d):
    job, w, x, y = read_loop_job(d)
    N, B, K = job['N'], job['B'], job['K']
    opt = torch.optim.SGD(list(w.values()), lr=job['lr'], momentum=job['momentum'], weight_decay=job['weightDecay'])
    all_predictions = torch.zeros(N, K)
    identity_matrix = torch.eye(K)
    for epoch in range(job['epochs']):
        alpha_t = max(0, job['alphaT'] * ((epoch + 1) / job['epochs']))
        order = job['orders'][epoch]
        for s in range(0, N, B):
            input_indices = torch.tensor(order[s:s + B])
            targets = y[input_indices]
            targets_one_hot = identity_matrix[targets]
            if epoch == 0:
                all_predictions[input_indices] = targets_one_hot
            soft_targets = ((1 - alpha_t) * targets_one_hot) + (alpha_t * all_predictions[input_indices])
            outputs = cnn(w, x[input_indices])
            softmax_output = F.softmax(outputs, dim=1)
            loss = (- soft_targets * F.log_softmax(outputs, dim=1)).mean(0).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            all_predictions[input_indices] = softmax_output.detach()
    for name, t in w.items():
        t.detach().numpy().astype('<f8').tofile(os.path.join(d, name.replace('/', '__') + '.final.f64'))
    print(f'ps-kd: {job["epochs"]} epochs, final loss {float(loss):.6f}')


if __name__ == '__main__':
    main(sys.argv[1])
