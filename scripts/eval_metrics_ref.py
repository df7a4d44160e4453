#!/usr/bin/python3
"""The figures `tfkd eval` prints, computed independently in PyTorch from the same logits.

    /usr/bin/python3 scripts/eval_metrics_ref.py LOGITS.npy LABELS.npy   → JSON on stdout

LOGITS: float32 [n, K]; LABELS: int64 [n]. Prints n, K and
  top1, top5        the label among the first 1 / 5 of a stable descending sort (ties by class
                    index: torch.sort(stable=True)); top5 is null when K <= 5
  nll               mean cross-entropy, F.cross_entropy in float64
  confidence        mean largest softmax probability (float64)
  ece_guo           the expected calibration error exactly as Guo et al.'s code computes it
                    (github.com/gpleiss/temperature_scaling, temperature_scaling.py, _ECELoss:
                    float32 softmax, 15 bins from torch.linspace(0, 1, 16), a sample in bin
                    (lower, upper] when confidence > lower and <= upper)
  ece64             the same algorithm in float64 with boundaries b / 15
  reliability       per bin of ece64: n, mean confidence, accuracy (null when empty)
  near_boundary     samples whose float64 confidence is within 1e-6 of an inner boundary (where
                    the float32 and float64 bins may differ)
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

N_BINS = 15


def ece_guo(logits32, labels):
    """gpleiss/temperature_scaling's _ECELoss.forward, unchanged but for the return value."""
    bin_boundaries = torch.linspace(0, 1, N_BINS + 1)
    bin_lowers = bin_boundaries[:-1]
    bin_uppers = bin_boundaries[1:]
    softmaxes = F.softmax(logits32, dim=1)
    confidences, predictions = torch.max(softmaxes, 1)
    accuracies = predictions.eq(labels)
    ece = torch.zeros(1, device=logits32.device)
    for bin_lower, bin_upper in zip(bin_lowers, bin_uppers):
        in_bin = confidences.gt(bin_lower.item()) * confidences.le(bin_upper.item())
        prop_in_bin = in_bin.float().mean()
        if prop_in_bin.item() > 0:
            accuracy_in_bin = accuracies[in_bin].float().mean()
            avg_confidence_in_bin = confidences[in_bin].mean()
            ece += torch.abs(avg_confidence_in_bin - accuracy_in_bin) * prop_in_bin
    return ece.item()


def main():
    logits = torch.from_numpy(np.load(sys.argv[1]).astype(np.float32))
    labels = torch.from_numpy(np.load(sys.argv[2]).astype(np.int64))
    n, k = logits.shape
    order = torch.sort(logits, dim=1, descending=True, stable=True).indices
    hit = order.eq(labels[:, None])
    top1 = hit[:, :1].any(dim=1).double().mean().item()
    top5 = hit[:, :5].any(dim=1).double().mean().item() if k > 5 else None
    z = logits.double()
    nll = F.cross_entropy(z, labels).item()
    p = F.softmax(z, dim=1)
    conf = p.max(dim=1).values
    correct = order[:, 0].eq(labels)  # the stable sort's first = the first maximum, as tfkd's argmax
    bounds = torch.arange(N_BINS + 1, dtype=torch.float64) / N_BINS
    ece64 = 0.0
    reliability = []
    for b in range(N_BINS):
        in_bin = (conf > bounds[b]) & (conf <= bounds[b + 1])
        m = int(in_bin.sum())
        c = conf[in_bin].mean().item() if m else None
        a = correct[in_bin].double().mean().item() if m else None
        if m:
            ece64 += (m / n) * abs(a - c)
        reliability.append({"n": m, "confidence": c, "accuracy": a})
    inner = bounds[1:-1]  # 0 and 1 bound every bin scheme alike
    near = int((conf[:, None] - inner[None, :]).abs().lt(1e-6).any(dim=1).sum())
    print(json.dumps({
        "n": n, "K": k, "top1": top1, "top5": top5, "nll": nll, "confidence": conf.mean().item(),
        "ece_guo": ece_guo(logits, labels), "ece64": ece64, "reliability": reliability,
        "near_boundary": near,
    }))


if __name__ == "__main__":
    main()
