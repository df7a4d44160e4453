#!/usr/bin/python3
"""PyTorch reference logits (and preprocessed crops) for an image folder, computed the way a user's
PyTorch evaluation script computes them.

    ds = torchvision.datasets.ImageFolder(DIR, transform)   # default loader: Image.open(f).convert('RGB')
    for x, y in DataLoader(ds, batch_size=B, shuffle=False): logits = model(x)   # eval, no_grad, float32

Recipes (--recipe):
  imagenet   torchvision's classic ImageNet eval transform (the one torchvision's V1 weights'
             `.transforms()` apply, and every torchvision/examples script):
             Resize(256) [bilinear, torchvision's default; on PIL images Pillow always antialiases,
             torchvision's `antialias` flag only matters for tensors] -> CenterCrop(224) ->
             ToTensor() -> Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]).
  timm:FILE  a timm pretrained config, either bare (the pretrained_cfg dict) or a Hugging Face hub
             `config.json` whose "pretrained_cfg" holds it, resolved as
             `timm.data.resolve_data_config({}, pretrained_cfg=cfg)` and turned into transforms as
             `timm.data.create_transform(**data_config)` (is_training=False) ->
             `transforms_imagenet_eval` do. timm is not installable here, so that eval branch is
             reimplemented below with torchvision ops, following timm's source line by line
             (huggingface/pytorch-image-models at commit aa4b5850c1543fa488abf260f18390eda46cf85d:
             timm/data/config.py resolve_data_config, timm/data/transforms_factory.py
             create_transform + transforms_imagenet_eval, timm/data/transforms.py
             str_to_interp_mode, ResizeKeepRatio, CenterCropOrPad, MaybeToTensor;
             timm/models/_hub.py _parse_model_cfg for the config.json layout).

Model (--model): an .onnx runs through onnxruntime when the Python package is importable;
otherwise the .pt that scripts/torchvision_teacher.py writes next to it (same stem) is loaded into
the torchvision architecture and run in PyTorch. A .pt can also be given directly.

Output (--out OUT.json): {recipe, data_config (timm), transforms (each transform's repr, in order),
files (paths relative to DIR, ImageFolder order), classes, labels, images (per file: PIL mode and
size as opened, size after the resize step), logits (per image, K floats: float32 values written
exactly), model {path, sha256, runner}, skipped (files in class folders that ImageFolder's
extension filter left out: '.gif' is not in torchvision's IMG_EXTENSIONS), versions, seconds}.
With --dump-crops DIR, for each image i the uint8 HWC RGB crop PIL produced right before
ToTensor (the transforms up to the crop applied to the loader's image, np.asarray) is written as
raw bytes DIR/<i>.rgb, and "crops" in the JSON lists {file, shape [H, W, 3]}; the script checks
that ToTensor of each dumped crop is exactly the tensor the dataset's full transform produced.

--selftest (alone) checks the timm resolution on six configs worked out by hand from timm's source.
--extensions: 'torchvision' (default: ImageFolder's own IMG_EXTENSIONS filter, as a user's script
gets), 'all' (those plus .gif), or a comma list such as '.jpg,.png,.gif' (ImageFolder's
is_valid_file). --self-check also runs the model a second time and requires identical logits.

usage: /usr/bin/python3 scripts/torchvision_reference.py --model M.onnx|M.pt --data DIR
           --recipe imagenet|timm:FILE --out OUT.json [--dump-crops DIR] [--batch 16]
           [--extensions torchvision|all|.ext,...] [--threads 1] [--self-check]
       /usr/bin/python3 scripts/torchvision_reference.py --selftest
exit 0 ok · 1 the work failed · 2 bad usage or bad input
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import PIL
import torch
import torchvision
from torchvision import transforms as T
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the checkout
from file_sha256 import sha256_file  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class UsageError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# timm's eval preprocessing, reimplemented (timm itself is not installable here).
# ---------------------------------------------------------------------------------------------
# timm/data/constants.py
TIMM_DEFAULT_CROP_PCT = 0.875
TIMM_DEFAULT_CROP_MODE = "center"

# timm/data/transforms.py: _torch_interpolation_to_str / str_to_interp_mode (torchvision has
# InterpolationMode, so timm maps its strings to those)
TIMM_STR_TO_INTERP = {
    "nearest": InterpolationMode.NEAREST,
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "box": InterpolationMode.BOX,
    "hamming": InterpolationMode.HAMMING,
    "lanczos": InterpolationMode.LANCZOS,
}


def timm_str_to_interp_mode(mode_str):
    """timm/data/transforms.py str_to_interp_mode (a KeyError there for unknown names)."""
    if mode_str not in TIMM_STR_TO_INTERP:
        raise UsageError(f"timm interpolation {mode_str!r} unknown (timm knows {sorted(TIMM_STR_TO_INTERP)})")
    return TIMM_STR_TO_INTERP[mode_str]


class TimmResizeKeepRatio:
    """timm/data/transforms.py ResizeKeepRatio, eval use (random_scale_prob = random_aspect_prob = 0,
    so ratio_factor = (1, 1)). Note Python's round() (half to even) on the target size."""

    def __init__(self, size, longest=0.0, interpolation="bilinear"):
        self.size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        self.interpolation = timm_str_to_interp_mode(interpolation)
        self.longest = float(longest)

    def __call__(self, img):
        img_h, img_w = img_size = F.get_dimensions(img)[1:]
        target_h, target_w = self.size
        ratio_h = img_h / target_h
        ratio_w = img_w / target_w
        ratio = max(ratio_h, ratio_w) * self.longest + min(ratio_h, ratio_w) * (1.0 - self.longest)
        ratio_factor = (1.0, 1.0)
        size = [round(x * f / ratio) for x, f in zip(img_size, ratio_factor)]
        return F.resize(img, size, self.interpolation)

    def __repr__(self):  # as timm's, minus the random_* fields that are 0 here
        inv = {v: k for k, v in TIMM_STR_TO_INTERP.items()}
        return (f"ResizeKeepRatio(size={self.size}, interpolation={inv[self.interpolation]}, "
                f"longest={self.longest:.3f})")


class TimmCenterCropOrPad(torch.nn.Module):
    """timm/data/transforms.py CenterCropOrPad / center_crop_or_pad: pad (left/top get the floor
    half) with `fill`, then crop at int(round((H - h) / 2)), int(round((W - w) / 2))."""

    def __init__(self, size, fill=0, padding_mode="constant"):
        super().__init__()
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.fill = fill
        self.padding_mode = padding_mode

    def forward(self, img):
        crop_height, crop_width = self.size
        _, image_height, image_width = F.get_dimensions(img)
        if crop_width > image_width or crop_height > image_height:
            padding_ltrb = [
                (crop_width - image_width) // 2 if crop_width > image_width else 0,
                (crop_height - image_height) // 2 if crop_height > image_height else 0,
                (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
                (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
            ]
            img = F.pad(img, padding_ltrb, fill=self.fill, padding_mode=self.padding_mode)
            _, image_height, image_width = F.get_dimensions(img)
            if crop_width == image_width and crop_height == image_height:
                return img
        crop_top = int(round((image_height - crop_height) / 2.0))
        crop_left = int(round((image_width - crop_width) / 2.0))
        return F.crop(img, crop_top, crop_left, crop_height, crop_width)

    def __repr__(self):
        return f"CenterCropOrPad(size={self.size}, fill={self.fill})"


def timm_pretrained_cfg(raw):
    """timm/models/_hub.py _parse_model_cfg: a config.json holds the cfg under "pretrained_cfg";
    the legacy single-dict form is the pretrained cfg itself."""
    if not isinstance(raw, dict):
        raise UsageError("timm config must be a JSON object")
    cfg = raw["pretrained_cfg"] if "pretrained_cfg" in raw else raw
    if not isinstance(cfg, dict):
        raise UsageError("timm config: 'pretrained_cfg' must be an object")
    return cfg


def timm_resolve_data_config(pretrained_cfg):
    """timm/data/config.py resolve_data_config(args={}, pretrained_cfg=cfg, use_test_size=False):
    with no args, each field comes from the pretrained cfg or timm's default. Note the defaults:
    interpolation 'bicubic' (not transforms_imagenet_eval's 'bilinear'), crop_pct 0.875, crop_mode
    'center'; `input_size` is tested with `is not None`, the others for truthiness, as in timm.
    test_input_size / test_crop_pct are ignored (use_test_size=False is the default)."""
    in_chans = 3
    input_size = (in_chans, 224, 224)
    if pretrained_cfg.get("input_size", None) is not None:
        input_size = pretrained_cfg["input_size"]
    data_config = {"input_size": tuple(input_size)}
    data_config["interpolation"] = "bicubic"
    if pretrained_cfg.get("interpolation", None):
        data_config["interpolation"] = pretrained_cfg["interpolation"]
    data_config["mean"] = IMAGENET_MEAN
    if pretrained_cfg.get("mean", None):
        data_config["mean"] = pretrained_cfg["mean"]
    data_config["std"] = IMAGENET_STD
    if pretrained_cfg.get("std", None):
        data_config["std"] = pretrained_cfg["std"]
    crop_pct = TIMM_DEFAULT_CROP_PCT
    if pretrained_cfg.get("crop_pct", None):
        crop_pct = pretrained_cfg["crop_pct"]
    data_config["crop_pct"] = crop_pct
    crop_mode = TIMM_DEFAULT_CROP_MODE
    if pretrained_cfg.get("crop_mode", None):
        crop_mode = pretrained_cfg["crop_mode"]
    data_config["crop_mode"] = crop_mode
    return data_config


def timm_eval_transforms(data_config):
    """timm/data/transforms_factory.py create_transform(**data_config) with is_training=False ->
    transforms_imagenet_eval(img_size, crop_pct, crop_mode, interpolation, mean, std) (no
    crop_border_pixels, no prefetcher, normalize=True, no naflex). Returns (pil_part, tensor_part)."""
    input_size = data_config["input_size"]
    # create_transform: a (C, H, W) input_size becomes img_size = (H, W)
    img_size = tuple(input_size[-2:]) if isinstance(input_size, (tuple, list)) else input_size
    interpolation = data_config["interpolation"]
    mean, std = tuple(data_config["mean"]), tuple(data_config["std"])
    crop_mode = data_config["crop_mode"]
    # transforms_imagenet_eval
    crop_pct = data_config["crop_pct"] or TIMM_DEFAULT_CROP_PCT
    if isinstance(img_size, (tuple, list)):
        assert len(img_size) == 2
        scale_size = tuple([math.floor(x / crop_pct) for x in img_size])
    else:
        scale_size = math.floor(img_size / crop_pct)
        scale_size = (scale_size, scale_size)
    tfl = []
    if crop_mode == "squash":
        # squash: each edge to 1/pct of target, aspect ratio not preserved, then crop
        tfl += [T.Resize(scale_size, interpolation=timm_str_to_interp_mode(interpolation)),
                T.CenterCrop(img_size)]
    elif crop_mode == "border":
        # longest edge to 1/pct of target, pad with the mean colour, then crop
        fill = [round(255 * v) for v in mean]
        tfl += [TimmResizeKeepRatio(scale_size, interpolation=interpolation, longest=1.0),
                TimmCenterCropOrPad(img_size, fill=fill)]
    else:
        # default 'center' (timm takes any other value as center too)
        if scale_size[0] == scale_size[1]:
            # shortest edge to scale_size with torchvision's Resize (scalar size)
            tfl += [T.Resize(scale_size[0], interpolation=timm_str_to_interp_mode(interpolation))]
        else:
            # non-square target: timm calls ResizeKeepRatio(scale_size) WITHOUT passing the
            # interpolation, so it is bilinear whatever the config says (faithfully kept)
            tfl += [TimmResizeKeepRatio(scale_size)]
        tfl += [T.CenterCrop(img_size)]
    # MaybeToTensor() is ToTensor for PIL input; Normalize(mean=torch.tensor(mean), std=torch.tensor(std))
    tensor_part = [T.ToTensor(), T.Normalize(mean=torch.tensor(mean), std=torch.tensor(std))]
    return tfl, tensor_part


def imagenet_transforms():
    return ([T.Resize(256), T.CenterCrop(224)],
            [T.ToTensor(), T.Normalize(mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))])


def build_recipe(recipe):
    """Returns (pil_part, tensor_part, recipe record for the JSON)."""
    if recipe == "imagenet":
        pil_part, tensor_part = imagenet_transforms()
        return pil_part, tensor_part, {"recipe": "imagenet"}
    if recipe.startswith("timm:"):
        path = recipe[len("timm:"):]
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise UsageError(f"--recipe {recipe}: cannot read the timm config: {e}")
        data_config = timm_resolve_data_config(timm_pretrained_cfg(raw))
        pil_part, tensor_part = timm_eval_transforms(data_config)
        dc = {k: list(v) if isinstance(v, tuple) else v for k, v in data_config.items()}
        return pil_part, tensor_part, {"recipe": recipe, "recipe_file": os.path.basename(path), "data_config": dc}
    raise UsageError(f"--recipe must be imagenet or timm:FILE, not {recipe!r}")


def transform_text(t):
    """repr of one transform, with Normalize's tensors shown as plain lists."""
    if isinstance(t, T.Normalize):
        # both recipes normalise in float32 (F.normalize casts to the image's dtype): show the
        # shortest decimal of each float32 value
        def f32(v):
            return [float(str(np.float32(x))) for x in (v.tolist() if torch.is_tensor(v) else v)]
        return f"Normalize(mean={f32(t.mean)}, std={f32(t.std)})"
    return repr(t)


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------
def load_runner(model_path):
    """Returns (run(x: float32 NCHW tensor) -> float32 numpy [N, K], record)."""
    if not os.path.exists(model_path):
        raise UsageError(f"--model {model_path}: no such file")
    if model_path.endswith(".onnx"):
        try:
            import onnxruntime as ort
        except ImportError:
            ort = None
        if ort is not None:
            sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
            name = sess.get_inputs()[0].name

            def run_ort(x):
                return sess.run(None, {name: x.numpy()})[0]
            return run_ort, {"path": model_path, "sha256": sha256_file(model_path),
                             "runner": f"onnxruntime {ort.__version__} CPUExecutionProvider"}
        pt = model_path[: -len(".onnx")] + ".pt"
        if not os.path.exists(pt):
            raise UsageError(f"--model {model_path}: the onnxruntime Python package is not installed and "
                             f"there is no {os.path.basename(pt)} next to it (scripts/torchvision_teacher.py "
                             "writes one); pass the .pt or install onnxruntime")
        rec = {"path": model_path, "sha256": sha256_file(model_path), "weights": pt, "weights_sha256": sha256_file(pt)}
        model_path = pt
    elif model_path.endswith(".pt"):
        rec = {"path": model_path, "sha256": sha256_file(model_path)}
    else:
        raise UsageError(f"--model must be an .onnx or a .pt, not {model_path!r}")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the checkout
    from torchvision_teacher import load_pt
    try:
        arch, model = load_pt(model_path)
    except (ValueError, KeyError, RuntimeError) as e:
        raise UsageError(f"cannot load {model_path}: {e}")
    model.eval()

    def run_torch(x):
        with torch.no_grad():
            return model(x.float()).numpy()
    rec.update({"arch": arch, "runner": f"torch {torch.__version__} (eval, no_grad, float32) on {os.path.basename(model_path)}"})
    return run_torch, rec


# ---------------------------------------------------------------------------------------------
def selftest():
    """--selftest: the recipe resolution against values worked out by hand from timm's source."""
    def names(cfg):
        pil_part, _ = timm_eval_transforms(timm_resolve_data_config(timm_pretrained_cfg(cfg)))
        return [transform_text(t) for t in pil_part]
    cases = [
        ({}, ["Resize(size=256, interpolation=bicubic, max_size=None, antialias=None)", "CenterCrop(size=(224, 224))"]),
        ({"pretrained_cfg": {"input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.95,
                             "test_input_size": [3, 288, 288], "test_crop_pct": 1.0}},
         ["Resize(size=235, interpolation=bicubic, max_size=None, antialias=None)", "CenterCrop(size=(224, 224))"]),
        ({"input_size": [3, 288, 288], "crop_pct": 1.0, "interpolation": "bilinear"},
         ["Resize(size=288, interpolation=bilinear, max_size=None, antialias=None)", "CenterCrop(size=(288, 288))"]),
        ({"input_size": [3, 224, 256], "crop_pct": 0.9, "interpolation": "bicubic"},  # non-square: bilinear!
         ["ResizeKeepRatio(size=(248, 284), interpolation=bilinear, longest=0.000)", "CenterCrop(size=(224, 256))"]),
        ({"input_size": [3, 224, 224], "crop_pct": 0.9, "crop_mode": "squash"},
         ["Resize(size=(248, 248), interpolation=bicubic, max_size=None, antialias=None)", "CenterCrop(size=(224, 224))"]),
        ({"input_size": [3, 224, 224], "crop_pct": 1.0, "crop_mode": "border", "interpolation": "bilinear"},
         ["ResizeKeepRatio(size=(224, 224), interpolation=bilinear, longest=1.000)",
          "CenterCropOrPad(size=(224, 224), fill=[124, 116, 104])"]),
    ]
    for cfg, want in cases:
        got = names(cfg)
        assert got == want, f"{cfg}: got {got}, want {want}"
    # the sizes those steps produce on a 500x333 PIL image
    img = PIL.Image.new("RGB", (500, 333), (10, 20, 30))
    assert TimmResizeKeepRatio((248, 284))(img).size == (372, 248)  # ratio min(333/248, 500/284)
    bordered = T.Compose([TimmResizeKeepRatio((224, 224), longest=1.0), TimmCenterCropOrPad((224, 224), fill=[124, 116, 104])])(img)
    assert bordered.size == (224, 224) and bordered.getpixel((0, 0)) == (124, 116, 104)
    assert bordered.getpixel((112, 112)) == (10, 20, 30)
    pil_part, _ = imagenet_transforms()
    assert T.Compose(pil_part)(img).size == (224, 224) and pil_part[0](img).size == (384, 256)  # int(256*500/333)
    assert pil_part[0](PIL.Image.new("RGB", (300, 256))).size == (300, 256)
    print(f"torchvision_reference: selftest ok ({len(cases)} timm configs, resize/crop sizes)")
    return 0


def valid_file_filter(spec):
    """None: ImageFolder's own IMG_EXTENSIONS filter; else is_valid_file for the given extensions."""
    if spec == "torchvision":
        return None, list(IMG_EXTENSIONS)
    exts = list(IMG_EXTENSIONS) + [".gif"] if spec == "all" else [e.strip().lower() for e in spec.split(",") if e.strip()]
    if not exts or not all(e.startswith(".") for e in exts):
        raise UsageError("--extensions: 'torchvision', 'all' or a comma list of '.ext'")
    exts = tuple(exts)
    return (lambda p: p.lower().endswith(exts)), list(exts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    if argv is None:
        argv = sys.argv[1:]
    if argv == ["--selftest"]:
        return selftest()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dump-crops")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--extensions", default="torchvision")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--self-check", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t_start = time.time()

    pil_part, tensor_part, record = build_recipe(args.recipe)
    is_valid_file, exts = valid_file_filter(args.extensions)
    if not os.path.isdir(args.data):
        raise UsageError(f"--data {args.data}: not a folder")
    transform = T.Compose(pil_part + tensor_part)
    # the user's dataset: ImageFolder with its default PIL loader (Image.open(f).convert('RGB'))
    try:
        ds = torchvision.datasets.ImageFolder(args.data, transform=transform, is_valid_file=is_valid_file)
    except FileNotFoundError as e:  # no class folder, or a class folder without a valid file
        raise UsageError(f"--data {args.data}: {e}")
    files = [os.path.relpath(p, args.data).replace(os.sep, "/") for p, _ in ds.samples]
    taken = set(files)
    skipped = sorted(os.path.relpath(os.path.join(r, f), args.data).replace(os.sep, "/")
                     for c in ds.classes for r, _, fs in os.walk(os.path.join(args.data, c)) for f in fs
                     if os.path.relpath(os.path.join(r, f), args.data).replace(os.sep, "/") not in taken)

    run, model_rec = load_runner(args.model)

    t0 = time.time()
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch, shuffle=False, num_workers=0)
    logits, labels = [], []
    for x, y in loader:
        out = run(x)
        if out.dtype != np.float32:
            raise RuntimeError(f"model output is {out.dtype}, expected float32")
        logits.append(out)
        labels += y.tolist()
    logits = np.concatenate(logits)
    t_model = time.time() - t0
    if args.self_check:
        again = np.concatenate([run(x) for x, _ in torch.utils.data.DataLoader(ds, batch_size=args.batch)])
        if not np.array_equal(again, logits):
            raise RuntimeError(f"self-check: a second run gave other logits (max diff {np.abs(again - logits).max()})")

    # per image: the PIL image as opened and as loaded, the size after the resize step, the crop
    images, crops = [], []
    pil_only = T.Compose(pil_part)
    to_tensor = T.Compose(tensor_part[:1])
    tensor_tail = T.Compose(tensor_part)
    if args.dump_crops:
        os.makedirs(args.dump_crops, exist_ok=True)
    for i, (path, _) in enumerate(ds.samples):
        with open(path, "rb") as f:
            opened = PIL.Image.open(f)
            mode, size = opened.mode, list(opened.size)
        img = ds.loader(path)
        resized = pil_part[0](img)
        images.append({"mode": mode, "size": size, "resized": list(resized.size)})
        if args.dump_crops:
            crop_img = pil_only(img)
            crop = np.asarray(crop_img)
            if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
                raise RuntimeError(f"{path}: crop is {crop.dtype} {crop.shape}, expected uint8 HxWx3")
            name = f"{i}.rgb"
            with open(os.path.join(args.dump_crops, name), "wb") as f:
                f.write(np.ascontiguousarray(crop).tobytes())
            crops.append({"file": name, "shape": list(crop.shape)})
            # the dumped crop is exactly what the dataset fed to ToTensor
            x_full = ds[i][0]
            if not torch.equal(tensor_tail(crop_img), x_full):
                raise RuntimeError(f"{path}: transforms applied in two steps differ from the dataset's")
            assert torch.equal(to_tensor(crop_img), torch.from_numpy(crop.copy()).permute(2, 0, 1).float().div(255))

    out = {
        "description": "PyTorch reference: torchvision ImageFolder (PIL loader, convert('RGB')) + transforms -> model",
        **record,
        "transforms": [transform_text(t) for t in pil_part + tensor_part],
        "data": os.path.abspath(args.data),
        "extensions": exts,
        "files": files,
        "skipped": skipped,
        "classes": ds.classes,
        "labels": labels,
        "images": images,
        "model": model_rec,
        "num_classes": int(logits.shape[1]),
        "logits": [[float(v) for v in row] for row in logits],
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "Pillow": PIL.__version__,
                     "numpy": np.__version__},
        "threads": args.threads,
        "batch": args.batch,
        "seconds": {"model": round(t_model, 2), "total": round(time.time() - t_start, 2)},
    }
    if args.dump_crops:
        out["crops_dir"] = os.path.abspath(args.dump_crops)
        out["crops"] = crops
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(out, f)
    os.replace(tmp, args.out)
    top1 = logits.argmax(1)
    print(f"torchvision_reference: {len(files)} images ({len(skipped)} skipped by the extension filter), "
          f"K={logits.shape[1]}, logits std {logits.std():.3f}, {len(set(top1.tolist()))} distinct top-1, "
          f"{model_rec['runner']}, {out['seconds']['total']}s -> {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UsageError as e:
        print(f"torchvision_reference: {e}", file=sys.stderr)
        sys.exit(2)
