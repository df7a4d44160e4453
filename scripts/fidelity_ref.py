#!/usr/bin/python3
"""A model's fidelity to a teacher, as `tfkd eval --teacher-cache` reports it, computed
independently in PyTorch from the two caches' rows.

    /usr/bin/python3 scripts/fidelity_ref.py MODEL_CACHE TEACHER_CACHE SAMPLES.npy LABELS.npy [T]

MODEL_CACHE holds the evaluated model's logits (a cache made by `tfkd precompute` from it: its f32
rows are the model's outputs bit for bit), TEACHER_CACHE the teacher's; both are read with
python/tfkd_cache.py at view 0. SAMPLES: int64 [n], the data-set indices evaluated; LABELS: int64
[n], their labels. T: the model's logits are divided by T (float64) before the KL. Prints JSON:

  agreement   top-1 agreement of Stanton et al., "Does Knowledge Distillation Really Work?"
              (NeurIPS 2021): the mean of [first of a stable descending sort of the model's row ==
              that of the teacher's row] (ties by class index, torch.sort(stable=True))
  kl          mean KL(teacher ‖ model) in nats: F.kl_div(log_softmax(z / T), teacher,
              reduction="batchmean") in float64 — the teacher as log_softmax of its logits
              (log_target=True), or, for a top-k cache, its soft targets at τ = 1 as
              tfkd_cache.soft_targets gives them (the tail's stored mass spread evenly)
  teacher_accuracy   the teacher's top-1 accuracy on these samples
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import tfkd_cache  # noqa: E402


def first_max(z):
    return torch.sort(z, dim=1, descending=True, stable=True).indices[:, 0]


def main():
    model = tfkd_cache.open_cache(sys.argv[1])
    teacher = tfkd_cache.open_cache(sys.argv[2])
    samples = np.load(sys.argv[3]).astype(np.int64)
    labels = torch.from_numpy(np.load(sys.argv[4]).astype(np.int64))
    temp = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    z = torch.from_numpy(model.logits(samples))
    t = torch.from_numpy(teacher.logits(samples))
    log_q = F.log_softmax(z.double() / temp, dim=1)
    if teacher.topk is None:
        kl = F.kl_div(log_q, F.log_softmax(t.double(), dim=1), log_target=True, reduction="batchmean")
    else:
        p = torch.from_numpy(teacher.soft_targets(samples, 0, 1.0)).double()
        kl = F.kl_div(log_q, p, reduction="batchmean")
    pt = first_max(t)
    print(json.dumps({
        "n": len(samples),
        "agreement": first_max(z).eq(pt).double().mean().item(),
        "kl": kl.item(),
        "teacher_accuracy": pt.eq(labels).double().mean().item(),
    }))


if __name__ == "__main__":
    main()
