#!/usr/bin/python3
"""The figures `tfkd eval` prints, computed independently in PyTorch from the same logits.

    /usr/bin/python3 scripts/eval_metrics_ref.py LOGITS.npy LABELS.npy [T]   → JSON on stdout

LOGITS: float32 [n, K]; LABELS: int64 [n]; T: the figures below are of softmax(LOGITS / T) (the
division in float64; Guo's float32 ECE gets the quotient rounded to float32). Prints n, K and
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
  temperature_fit   of the logits as given (not divided by T): the temperature minimising the mean
                    cross-entropy, found as the root of its derivative in β = 1/T — the derivative
                    by autograd in float64, the root by 200 bisections of [0.01, 100] (geometric
                    middles) — with `bound` 'low' / 'high' when the derivative does not change sign
                    there; `gpleiss`: what Guo et al.'s code (temperature_scaling.py,
                    ModelWithTemperature.set_temperature) finds: L-BFGS on T from 1.5, lr 0.01,
                    50 iterations, float32
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


def dnll_dbeta(z64, labels, beta):
    """d/dβ of the mean cross-entropy of softmax(β·z), by autograd (float64)."""
    b = torch.tensor(beta, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(z64 * b, labels)
    (g,) = torch.autograd.grad(loss, b)
    return g.item()


def temperature_fit(logits32, labels):
    z = logits32.double()
    lo, hi = 0.01, 100.0
    if dnll_dbeta(z, labels, hi) <= 0:
        fit = {"temperature": 1 / hi, "bound": "low"}
    elif dnll_dbeta(z, labels, lo) >= 0:
        fit = {"temperature": 1 / lo, "bound": "high"}
    else:
        for _ in range(200):
            mid = (lo * hi) ** 0.5
            if dnll_dbeta(z, labels, mid) < 0:
                lo = mid
            else:
                hi = mid
        fit = {"temperature": 2 / (lo + hi), "bound": None}
    # Guo et al.'s ModelWithTemperature.set_temperature, on the logits it would have collected.
    t = torch.nn.Parameter(torch.ones(1) * 1.5)
    opt = torch.optim.LBFGS([t], lr=0.01, max_iter=50)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits32 / t, labels)
        loss.backward()
        return loss

    opt.step(closure)
    fit["gpleiss"] = t.item()
    return fit


def main():
    raw = torch.from_numpy(np.load(sys.argv[1]).astype(np.float32))
    labels = torch.from_numpy(np.load(sys.argv[2]).astype(np.int64))
    temp = float(sys.argv[3]) if len(sys.argv) > 3 else None
    logits = raw if temp is None else (raw.double() / temp).float()
    n, k = logits.shape
    order = torch.sort(raw, dim=1, descending=True, stable=True).indices  # T > 0 keeps every ranking
    hit = order.eq(labels[:, None])
    top1 = hit[:, :1].any(dim=1).double().mean().item()
    top5 = hit[:, :5].any(dim=1).double().mean().item() if k > 5 else None
    z = raw.double() if temp is None else raw.double() / temp
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
        "near_boundary": near, "temperature_fit": temperature_fit(raw, labels),
    }))


if __name__ == "__main__":
    main()
