#!/usr/bin/python3
"""Makes a torchvision ImageNet-shaped classifier with seeded random weights and exports it to ONNX.

A stand-in for a pretrained torchvision teacher (no pretrained weights can be downloaded here):
the real architecture (torchvision.models.<arch>, 1000 classes, NCHW float32 [N,3,224,224]) with
torchvision's own seeded initialisation, then made to give *spread* logits on real photographs
(an untrained net's eval-mode logits are nearly constant across images) and to be numerically
well behaved (an untrained BatchNorm net is chaotic: float32 rounding grows ~1.3x per block, and
an untouched random mobilenet_v2 differs from its own float64 run by 3e-4 on the logits, from
onnxruntime by 8e-4 -- more than the 1e-4 a "same logits" test allows). Nothing is trained and
no labels are used:

1. Conditioning, before calibration (both are BatchNorm affine parameters, so they live in the
   state dict and in the ONNX graph): the weight (gamma) of each residual branch's last BatchNorm
   is scaled by --residual-gain (0.25; torchvision's zero_init_residual would be 0), so residual
   blocks stay close to the identity; the bias (beta) of every other BatchNorm, each followed by
   ReLU/ReLU6/Hardswish, is set to --bn-bias (1.0), so most units sit on the activation's linear
   side.
2. BatchNorm calibration: every BatchNorm2d gets momentum=None (cumulative average) and fresh
   running statistics, then the net runs forward in train mode, without gradients, over the photos
   of --data (torchvision's ImageNet eval transform) and seeded random crops of them
   (RandomResizedCrop(224) + horizontal flip, --crops per photo). Running mean/var are then the
   average batch statistics of real images, so eval-mode activations are roughly normalised.
   The original momentum is put back afterwards (it is not part of the state dict).
3. Head standardisation: with f the eval-mode input of the last nn.Linear over the photos
   (the un-augmented ones), its bias becomes b - W.mean(f) (the part of the logits common to all images is
   removed, so the top-1 class follows the image) and W, b are scaled so that the logits over the
   photos have std --logit-std (default 2).

Measured on test/fixtures/photos (seed 0): onnxruntime-node 1.30 (CPU, 1 thread) vs these PyTorch
logits, max |diff| over 35 images x 1000 classes: resnet18 ~1e-5, mobilenet_v3_small and
mobilenet_v2 ~4e-5, for both the imagenet and the timm recipe of torchvision_reference.py.

Then torch.onnx.export (opset --opset, default 17; input `input` [batch,3,224,224] float32, output
`logits` [batch,1000], dynamic batch axis; the exporter folds BatchNorm into the convolutions),
checked with onnx.checker (full check) when the onnx package is importable. Next to M.onnx it
writes M.pt, {"format": "tfkd-torchvision-teacher/1", "arch", "seed", "num_classes",
"state_dict"}, so that scripts/torchvision_reference.py can run the very same weights in PyTorch
when the onnxruntime Python package is missing (the .pt has the unfolded module weights).

Deterministic for a given seed, data folder and torch build: seeded, one intra-op thread by
default (--threads; results can differ in the last bits with another thread count). The eval
logits are computed twice and must be identical.

Run with Debian's interpreter (torch 1.13, torchvision 0.14, onnx):
    /usr/bin/python3 scripts/torchvision_teacher.py --arch resnet18|mobilenet_v3_small|mobilenet_v2
        --out M.onnx [--seed 0] [--data test/fixtures/photos] [--crops 2] [--logit-std 2]
        [--residual-gain 0.25] [--bn-bias 1] [--opset 17] [--threads 1] [--no-pt]
        [--metadata-json '{"key": "value"}' | FILE]
Prints one JSON line: arch, files written, sha256, seconds per phase, and the logits' spread on
the photos (std, mean per-image std, distinct top-1 classes, top-1 per photo).
Runtime on 2 shared cores: resnet18 ~15 s, mobilenet_v3_small ~5 s, mobilenet_v2 ~20 s.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torchvision
from torchvision import transforms as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the checkout
from file_sha256 import sha256_file  # noqa: E402

ARCHS = ("resnet18", "mobilenet_v3_small", "mobilenet_v2")
NUM_CLASSES = 1000
FORMAT = "tfkd-torchvision-teacher/1"
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def build(arch, seed):
    torch.manual_seed(seed)
    return getattr(torchvision.models, arch)(weights=None, num_classes=NUM_CLASSES)


def load_pt(path):
    """The inverse of what main() saves: (arch, model in eval mode). Used by torchvision_reference.py."""
    ck = torch.load(path, map_location="cpu")
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} checkpoint")
    model = getattr(torchvision.models, ck["arch"])(weights=None, num_classes=ck["num_classes"])
    model.load_state_dict(ck["state_dict"])
    return ck["arch"], model.eval()


def residual_branch_bns(model):
    """The BatchNorm that ends each residual branch (torchvision's zero_init_residual targets):
    ResNet BasicBlock.bn2 / Bottleneck.bn3, and the last BatchNorm of each MobileNet
    InvertedResidual that has a skip connection (use_res_connect)."""
    from torchvision.models.resnet import BasicBlock, Bottleneck
    out = []
    for m in model.modules():
        if isinstance(m, BasicBlock):
            out.append(m.bn2)
        elif isinstance(m, Bottleneck):
            out.append(m.bn3)
        elif getattr(m, "use_res_connect", False):
            out.append([b for b in m.modules() if isinstance(b, nn.modules.batchnorm._BatchNorm)][-1])
    return out


def damp_residuals(model, gain):
    """Scales the initial weight (gamma) of every residual branch's last BatchNorm by `gain`
    (torchvision's zero_init_residual sets it to 0). A random BatchNorm net is chaotic: float32
    rounding grows by a roughly constant factor per block (about 1.3x per MobileNetV2 block), so an
    untouched random mobilenet_v2 differs from its own float64 run by ~3e-4 on its logits; damped
    residual blocks are closer to the identity and pass less of that on (measured: 1.3e-4 with
    gain 0.25 alone, ~4e-5 together with shift_bn_bias). Returns how many BatchNorms were scaled."""
    bns = residual_branch_bns(model)
    with torch.no_grad():
        for b in bns:
            b.weight.mul_(gain)
    return len(bns)


def shift_bn_bias(model, bias):
    """Sets the initial bias (beta) of every BatchNorm except the residual branches' last ones to
    `bias`. Nearly all of them feed a ReLU/ReLU6/Hardswish, whose units then mostly sit on the
    linear side, which makes the random net less chaotic (see damp_residuals)."""
    ends = {id(b) for b in residual_branch_bns(model)}
    bns = [b for b in model.modules() if isinstance(b, nn.modules.batchnorm._BatchNorm) and id(b) not in ends]
    with torch.no_grad():
        for b in bns:
            b.bias.fill_(bias)
    return len(bns)


def last_linear(model):
    lin = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return lin[-1]


def calibration_batches(data, crops, batch):
    """Returns (list of float32 NCHW batches, number of photos): every photo through the ImageNet eval transform, then `crops`
    seeded random-resized crops (+ flips) of each photo. Uses the global torch RNG (seeded)."""
    eval_tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(MEAN, STD)])
    aug_tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
    ds = torchvision.datasets.ImageFolder(data)  # PIL images, convert('RGB'), ImageFolder order
    images = [ds[i][0] for i in range(len(ds))]
    xs = [eval_tf(im) for im in images]
    for _ in range(crops):
        xs += [aug_tf(im) for im in images]
    x = torch.stack(xs)
    return [x[i:i + batch] for i in range(0, len(x), batch)], len(images)


def calibrate_bn(model, batches):
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over all calibration batches
    model.train()
    with torch.no_grad():
        for xb in batches:
            model(xb)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()
    return len(bns)


def standardise_head(model, photos, logit_std):
    """Re-centres and scales the last Linear so that the eval logits on the photos spread."""
    lin = last_linear(model)
    feats = []
    hook = lin.register_forward_hook(lambda mod, inp, out: feats.append(inp[0].detach()))
    with torch.no_grad():
        model(photos)
    hook.remove()
    f = torch.cat(feats).double()
    with torch.no_grad():
        w, b = lin.weight.double(), lin.bias.double()
        b = b - w @ f.mean(0)
        logits = f @ w.t() + b
        scale = logit_std / logits.std().item()
        lin.weight.copy_((w * scale).float())
        lin.bias.copy_((b * scale).float())


def spread(logits):
    top1 = logits.argmax(1).tolist()
    return {
        "images": len(top1),
        "std": round(logits.std().item(), 4),
        "mean_per_image_std": round(logits.std(1).mean().item(), 4),
        "std_across_images_mean": round(logits.std(0).mean().item(), 4),
        "min": round(logits.min().item(), 3),
        "max": round(logits.max().item(), 3),
        "distinct_top1": len(set(top1)),
        "top1": top1,
    }


def read_metadata(arg):
    if arg is None:
        return {}
    text = open(arg, encoding="utf-8").read() if os.path.exists(arg) else arg
    meta = json.loads(text)
    if not isinstance(meta, dict):
        raise SystemExit("torchvision_teacher: --metadata-json must be a JSON object")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", required=True, choices=ARCHS)
    ap.add_argument("--out", required=True, help="M.onnx (M.pt is written next to it)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="test/fixtures/photos", help="ImageFolder tree for calibration")
    ap.add_argument("--crops", type=int, default=2, help="random crops per photo for BN calibration")
    ap.add_argument("--batch", type=int, default=36)
    ap.add_argument("--logit-std", type=float, default=2.0)
    ap.add_argument("--residual-gain", type=float, default=0.25,
                    help="initial gamma of each residual branch's last BatchNorm (1 = torchvision's init)")
    ap.add_argument("--bn-bias", type=float, default=1.0,
                    help="initial beta of the BatchNorms followed by an activation (0 = torchvision's init)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--metadata-json", help="JSON object (or a file holding one) for ONNX metadata_props")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-pt", action="store_true", help="do not write the M.pt state dict")
    args = ap.parse_args()
    if not args.out.endswith(".onnx"):
        raise SystemExit("torchvision_teacher: --out must end in .onnx")
    meta = read_metadata(args.metadata_json)
    torch.set_num_threads(args.threads)
    times = {}

    t0 = time.time()
    model = build(args.arch, args.seed)
    batches, n_photos = calibration_batches(args.data, args.crops, args.batch)
    times["load"] = time.time() - t0

    t0 = time.time()
    n_damped = damp_residuals(model, args.residual_gain)
    n_shifted = shift_bn_bias(model, args.bn_bias)
    n_bn = calibrate_bn(model, batches)
    photos = torch.cat(batches)[:n_photos]  # the un-augmented photos come first
    standardise_head(model, photos, args.logit_std)
    times["calibrate"] = time.time() - t0

    with torch.no_grad():
        logits = model(photos)
        again = model(photos)
    assert torch.equal(logits, again), "eval logits are not deterministic"

    t0 = time.time()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.onnx.export(
        model, photos[:2], args.out, opset_version=args.opset, do_constant_folding=True,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    checked = None
    try:
        import onnx
    except ImportError:
        onnx = None
    if onnx is not None:
        m = onnx.load(args.out)
        if meta:
            onnx.helper.set_model_props(m, {**{p.key: p.value for p in m.metadata_props}, **meta})
            onnx.save(m, args.out)
        onnx.checker.check_model(m, full_check=True)
        checked = f"onnx {onnx.__version__} full_check ok"
        ins = [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input]
        outs = [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output]
        assert ins == [("input", ["batch", 3, 224, 224])] and outs == [("logits", ["batch", NUM_CLASSES])], (ins, outs)
    elif meta:
        raise SystemExit("torchvision_teacher: --metadata-json needs the onnx package (python3-onnx)")
    pt = None
    if not args.no_pt:
        pt = args.out[: -len(".onnx")] + ".pt"
        torch.save({"format": FORMAT, "arch": args.arch, "seed": args.seed, "num_classes": NUM_CLASSES,
                    "state_dict": model.state_dict()}, pt)
    times["export"] = time.time() - t0

    print(json.dumps({
        "arch": args.arch, "seed": args.seed, "onnx": args.out, "onnx_sha256": sha256_file(args.out),
        "pt": pt, "opset": args.opset, "batchnorms_calibrated": n_bn,
        "residual_gain": args.residual_gain, "residual_batchnorms_damped": n_damped,
        "bn_bias": args.bn_bias, "batchnorm_biases_set": n_shifted,
        "calibration_images": sum(len(b) for b in batches), "photos": n_photos, "checked": checked,
        "metadata_props": meta or None, "threads": args.threads, "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "seconds": {k: round(v, 2) for k, v in times.items()},
        "spread_on_photos": spread(logits),
    }))


if __name__ == "__main__":
    sys.exit(main())
