#!/usr/bin/python3
"""PyTorch reference for `tfkd bench train` (issue 6): the same architectures (parameter counts
asserted) and the same training step, timed the same way.

One step = forward (train mode) + KD loss + backward + SGD(momentum 0.9) update, batch B of fixed
random inputs; KD loss (paper form, Hinton et al. 2015):
    (1 - a) * CE(z, y) + a * T^2 * KL(p_t || softmax(z / T))   with 'batchmean' KL, a = 0.5, T = 4,
against fixed random tempered teacher probabilities p_t. Warm-up steps are excluded; img/s is
reported per step (median, p10, p90, min, max) with the peak RSS.

Run with Debian's torch: /usr/bin/python3 scripts/torch_bench_train.py --model cnn [--json]
Debian's torch uses the system BLAS: install libopenblas0-pthread (3-4x faster than the reference
BLAS on `cnn`); the BLAS actually loaded is reported. 2 threads by default (torch.set_num_threads).
Architecture notes: ResNet 'same' padding for stride 2 differs from TF's (symmetric 1 vs 0/1):
same shapes, same multiply-adds, so the same cost.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # reported, not hidden: the caller prints this and exits 2
    sys.stderr.write(f"torch_bench_train: PyTorch is not importable ({e}); install Debian's python3-torch "
                     "(apt-get install python3-torch libopenblas0-pthread) and run with /usr/bin/python3\n")
    sys.exit(3)

EXPECTED_PARAMS = {  # trainable parameters; docs/ARCHITECTURE.md §4
    ("cnn", (28, 28, 1), 10): 1_199_882,
    ("resnet8", (32, 32, 3), 10): 78_042,
    ("resnet20", (32, 32, 3), 10): 272_474,
}


class Cnn(nn.Module):
    """Keras MNIST CNN: conv3x3 32 valid, ReLU, conv3x3 64 valid, ReLU, maxpool 2, flatten, dense 128 ReLU, dense K."""

    def __init__(self, h, w, c, k):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(64 * ((h - 4) // 2) * ((w - 4) // 2), 128)
        self.fc2 = nn.Linear(128, k)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:  # 1x1 conv + BN projection (option B)
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class Resnet(nn.Module):
    """CIFAR ResNet (He et al. 2016): conv 16 + BN + ReLU, 3 stages x n blocks (16/32/64), GAP, dense K."""

    def __init__(self, n, c, k):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for stage, cout in enumerate((16, 32, 64)):
            for b in range(n):
                layers.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, k)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build(name, h, w, c, k):
    if name.startswith("torchvision:"):
        # issue 19: the torchvision model an `onnx:FILE` student was exported from
        import torchvision
        from torchvision_student import CUSTOM  # vit, timm_vit, convnext_atto: this directory's builders
        arch = name.split(":", 1)[1]
        if arch in CUSTOM:
            return CUSTOM[arch](k, h)
        return getattr(torchvision.models, arch)(num_classes=k)
    if name == "cnn":
        return Cnn(h, w, c, k)
    depths = {"resnet8": 1, "resnet14": 2, "resnet20": 3, "resnet32": 5}
    if name in depths:
        return Resnet(depths[name], c, k)
    raise SystemExit(f"unknown model {name!r} (cnn, resnet8, resnet14, resnet20, resnet32)")


def kd_loss(z, y, p_t, alpha, tau):
    ce = F.cross_entropy(z, y)
    kl = F.kl_div(F.log_softmax(z / tau, dim=1), p_t, reduction="batchmean")
    return (1 - alpha) * ce + alpha * tau * tau * kl


def loaded_blas():
    try:
        with open("/proc/self/maps") as f:
            libs = {os.path.basename(l.split()[-1]) for l in f if ".so" in l}
        return sorted(l for l in libs if "blas" in l or "mkl" in l or "dnnl" in l) or ["(none found)"]
    except OSError:
        return ["(unknown)"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", default=None, help="HxWxC (default 28x28x1 for cnn, 32x32x3 otherwise)")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    h, w, c = (int(v) for v in (a.input or ("28x28x1" if a.model == "cnn" else "32x32x3")).split("x"))
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = build(a.model, h, w, c, a.classes)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    want = EXPECTED_PARAMS.get((a.model, (h, w, c), a.classes))
    assert want is None or trainable == want, f"{a.model}: {trainable} trainable parameters, docs/ARCHITECTURE.md says {want}"
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(a.batch, c, h, w)
    y = torch.randint(0, a.classes, (a.batch,))
    p_t = F.softmax(torch.randn(a.batch, a.classes) * 3 / 4, dim=1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = kd_loss(model(x), y, p_t, 0.5, 4.0)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    rates, times, cpu = [], [], []
    for i in range(a.steps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        v = step()
        dt = time.perf_counter() - t0
        cpu.append((time.process_time() - c0) * 1000)  # all threads of the process
        assert v == v, f"loss became NaN at step {i}"
        times.append(dt * 1000)
        rates.append(a.batch / dt)
    q = statistics.quantiles(rates, n=10, method="inclusive") if len(rates) > 1 else [rates[0]] * 9
    r = {
        "tool": "pytorch",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": loaded_blas(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "model": a.model,
        "input": [h, w, c],
        "classes": a.classes,
        "batch": a.batch,
        "steps": a.steps,
        "warmup": a.warmup,
        "params": {"trainable": trainable},
        "img_per_s": statistics.median(rates),
        "img_per_s_min": min(rates),
        "img_per_s_max": max(rates),
        "img_per_s_p10": q[0],
        "img_per_s_p90": q[8],
        "step_ms_median": statistics.median(times),
        "cpu_ms_median": statistics.median(cpu),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"bench train  {a.model} {h}x{w}x{c} K={a.classes}  batch {a.batch}  {trainable:,} trainable params")
        print(f"backend      PyTorch {torch.__version__} CPU, {r['threads']} threads, BLAS {', '.join(r['blas'])}")
        print(f"img/s        {r['img_per_s']:.1f} median over {a.steps} steps (p10 {r['img_per_s_p10']:.1f}, "
              f"p90 {r['img_per_s_p90']:.1f}, min {r['img_per_s_min']:.1f}, max {r['img_per_s_max']:.1f})")
        print(f"memory       peak RSS {r['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
