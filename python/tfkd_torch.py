"""PyTorch face of a tfkd cache: each sample of a data set together with its teacher's row.

    from torchvision import datasets
    from tfkd_torch import WithTeacher
    train = WithTeacher(datasets.ImageFolder("photos/train", transform=tf), "caches/r18")
    for x, y, t in torch.utils.data.DataLoader(train, batch_size=128, shuffle=True, num_workers=4):
        loss = kd_loss(student(x), y, t)       # t: the teacher's logits of exactly these images

Before any sample is served, WithTeacher checks that the data set is the one the cache was
computed on, in the same order: it computes tfkd's data fingerprint (tfkd_cache.py) from the data
set itself and compares it with the cache manifest's `data.fingerprint` —
  - torchvision ImageFolder / DatasetFolder: paths relative to the root, labels, class names and
    byte sizes (tfkd's `folder:` fingerprint; ImageFolder's order is tfkd's order);
  - torchvision MNIST / FashionMNIST / CIFAR10 / CIFAR100: every pixel and label (their `.data`
    and `.targets`), as tfkd fingerprints its IDX and CIFAR readers;
  - a torch Subset of any of these: the underlying data set is checked, and item i reads the
    teacher's row of `subset.indices[i]`.
Anything else needs `check="length"` (the lengths alone must agree: the caller vouches for the
order). A data set that differs raises tfkd_cache.CacheMismatch, naming what differs.

Caches of views (`tfkd precompute --views V --augment rrc,flip` or `crop:P,flip`): the teacher saw
V renderings of each sample, so the student must see one of exactly those. In epoch e (set with
`set_epoch(e)` before iterating, as with DistributedSampler; DataLoader workers copy the data set
when an iteration starts, so persistent_workers=True would keep epoch 0's views) item i is view
v = hashU32(seed, e, i) mod V — tfkd's trainer's choice for training seed `seed` — rendered here as
tfkd renders it: the RandomResizedCrop box of (i, v) cut from the loader's image and resized to
`size` with PIL's `interpolation` (torchvision's resized_crop), then mirrored when the view is
flipped; for `crop:P` specs on MNIST / FashionMNIST / CIFAR the zero-padded shifted crop and the
flip of the stored pixels; a policy in the spec (randaugment, trivialaugment, autoaugment) then runs
its drawn operations through torchvision's own `_apply_op`. View 0 is the eval rendering: `eval_view(image)` for rrc caches (e.g.
Resize + CenterCrop), the image as stored for `crop:P` ones. The data set's own transform and
target_transform are applied after. Views are byte-identical to `tfkd data views --out`'s.
Mixup/CutMix caches (`…,mixup:A,cutmix:A`): a mixed view is the mixture of item i's view v with
its partner's own view v, taken after the transform (which must make a C×H×W tensor through
per-pixel affine maps such as ToTensor and Normalize — the mixture tfkd takes on [0, 1] pixels),
and y is the mixed one-hot label (float [K], timm's mixup_target: λ′ on y_i, 1 − λ′ on y_j; a
view the mix-prob draw left alone gets its plain one-hot). `crop:P` caches of image folders are
refused; read those with tfkd_cache.Cache. A part of a job array (`--shard I/N`) covers only its samples:
merge the parts first (`tfkd merge`).
"""
import os

import numpy as np
import torch

from tfkd_cache import (Cache, CacheMismatch, cut_pixels, fingerprint_arrays, fingerprint_files, label_lambda, mix_params,
                        parse_augment, policy_ops, trainer_view, view_params)

__all__ = ["WithTeacher", "dataset_fingerprint", "TFKD_IMAGE_EXTENSIONS", "is_tfkd_image"]

# The extensions tfkd's `folder:` reads (src/data/folder.ts): torchvision's ImageFolder ones plus the
# other formats tfkd decodes. ImageFolder(root, is_valid_file=is_tfkd_image) lists what tfkd lists.
TFKD_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif", ".avif", ".heic", ".heif")


def is_tfkd_image(path):
    """True for the files tfkd's `folder:` takes as images: an image extension (any case), not hidden."""
    name = os.path.basename(path)
    return not name.startswith(".") and name.lower().endswith(TFKD_IMAGE_EXTENSIONS)


def _numpy(a):
    return a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def dataset_fingerprint(dataset, data):
    """tfkd's fingerprint of a torchvision data set, for the cache manifest's `data` (its kind and
    split name the hash); None when this kind of data set has no fingerprint here."""
    kind, split = data["kind"], data["split"]
    if hasattr(dataset, "samples") and hasattr(dataset, "root") and hasattr(dataset, "classes"):
        root = os.fspath(dataset.root)
        files = [os.path.relpath(p, root).replace(os.sep, "/") for p, _ in dataset.samples]
        labels = [c for _, c in dataset.samples]
        return fingerprint_files(kind, split, root, files, labels, list(dataset.classes))
    if hasattr(dataset, "data") and hasattr(dataset, "targets") and hasattr(dataset, "classes"):
        images = _numpy(dataset.data)
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            return None
        return fingerprint_arrays(kind, split, images, _numpy(dataset.targets), len(dataset.classes))
    return None


class WithTeacher(torch.utils.data.Dataset):
    """dataset[i] = (x, y) → (x, y, t), t the teacher's float32 row for sample i.

    cache: a tfkd cache directory or an open tfkd_cache.Cache.
    targets: "logits" (default: the stored logits; for a top-k cache the kept ones and the tail
        classes at its mean, whose softmax is right at τ = 1) or "soft" (softmax(z / temperature),
        top-k caches included — docs/CACHE.md "Top-k caches").
    check: "fingerprint" (default; see the module's doc) or "length".
    Caches of views only: seed (the training seed that picks each epoch's views), size ((H, W) the
    student's input, rrc views), interpolation (PIL filter of the box resize: nearest, bilinear,
    bicubic, lanczos, box, hamming), eval_view (PIL image → PIL image for view 0, rrc views).
    """

    def __init__(self, dataset, cache, *, targets="logits", temperature=1.0, check="fingerprint",
                 seed=0, size=None, interpolation="bilinear", eval_view=None):
        if targets not in ("logits", "soft"):
            raise ValueError(f'targets must be "logits" or "soft", not {targets!r}')
        if check not in ("fingerprint", "length"):
            raise ValueError(f'check must be "fingerprint" or "length", not {check!r}')
        self.dataset = dataset
        self.cache = cache if isinstance(cache, Cache) else Cache(cache)
        self.targets, self.temperature = targets, temperature
        c, m = self.cache, self.cache.manifest
        self.seed, self.epoch, self.size, self.interpolation, self.eval_view = seed, 0, size, interpolation, eval_view
        self.augment = None
        aug = m.get("augment")
        if aug is not None:
            self.augment, self.augment_seed = parse_augment(aug["spec"]), aug["seed"]
        if m.get("part"):
            raise CacheMismatch(f"cache {c.path} is part {m['part']['index']}/{m['part']['count']} of a job array: merge the parts first (tfkd merge)")
        if targets == "soft" and c.topk is not None and temperature < 1:
            raise ValueError("top-k soft targets need temperature ≥ 1")
        base, self._index = dataset, None
        if isinstance(dataset, torch.utils.data.Subset):
            base, self._index = dataset.dataset, np.asarray(dataset.indices, dtype=np.int64)
        if len(base) != c.N:
            hint = ""
            if hasattr(base, "samples") and m["data"]["kind"] == "folder":
                hint = ("; tfkd's folder: also reads .gif .avif .heic .heif and skips hidden files, which torchvision's ImageFolder does not: "
                        "pass is_valid_file=tfkd_torch.is_tfkd_image")
            raise CacheMismatch(f"the data set has {len(base)} samples, cache {c.path} was computed on {c.N} ({m['data']['spec']}, {m['data']['split']}){hint}")
        if check == "fingerprint":
            fp = dataset_fingerprint(base, m["data"])
            if fp is None:
                raise CacheMismatch(f"cannot fingerprint a {type(base).__name__} (ImageFolder, DatasetFolder, MNIST, FashionMNIST and CIFAR can be): "
                                    'pass check="length" to accept it on its length alone, in the cache\'s sample order')
            if fp != m["data"]["fingerprint"]:
                raise CacheMismatch(f"the data set is not the one cache {c.path} was computed on ({m['data']['spec']}, {m['data']['split']}): "
                                    f"data fingerprint {fp[:16]}… ≠ {m['data']['fingerprint'][:16]}… (other files, labels, classes, pixels or order)")

        if self.augment is not None:
            self._check_views(base)

    def _check_views(self, base):
        a, c, spec = self.augment, self.cache, self.cache.manifest["augment"]["spec"]
        if a["mix"] and getattr(base, "target_transform", None) is not None:
            raise ValueError(f"cache {c.path} mixes views ({spec}): the label is the mixed one-hot of the two samples' classes, "
                             "so the data set's target_transform cannot apply: remove it")
        folder = hasattr(base, "samples") and hasattr(base, "loader")
        arrays = hasattr(base, "data") and hasattr(base, "targets")
        if a["rrc"] is not None:
            if not folder:
                raise CacheMismatch(f"cache {c.path} holds RandomResizedCrop views ({spec}): WithTeacher renders them from a data set with "
                                    f"a loader and samples (ImageFolder, DatasetFolder), not a {type(base).__name__}")
            if self.size is None or self.eval_view is None:
                raise ValueError(f"cache {c.path} holds RandomResizedCrop views ({spec}): pass size=(H, W), the student's input size, "
                                 "and eval_view, the rendering of view 0 (e.g. Resize + CenterCrop)")
        elif not arrays or folder:
            raise CacheMismatch(f"cache {c.path} holds crop/flip views ({spec}) of {self.cache.manifest['data']['spec']}: WithTeacher renders "
                                "those for MNIST, FashionMNIST and CIFAR data sets")
        from torchvision.transforms import InterpolationMode
        self._filter = InterpolationMode(self.interpolation)

    def set_epoch(self, epoch):
        """The epoch (0-based) whose views the items are: call it before iterating each epoch."""
        self.epoch = epoch

    def view_of(self, i):
        """The view item i is in the current epoch (0 for a cache without views)."""
        if self.augment is None:
            return 0
        return trainer_view(self.seed, self.epoch, self._sample(i), self.cache.views)

    def _sample(self, i):
        return int(self._index[i]) if self._index is not None else int(i)

    def _base(self):
        return self.dataset.dataset if self._index is not None else self.dataset

    def render(self, i, view):
        """(image, label) of view `view` of item i, before the data set's transform and before any
        mixing (a PIL image)."""
        return self._render(self._sample(i), view)

    def _render(self, s, view):
        from PIL import Image
        import torchvision.transforms.functional as F
        base, a = self._base(), self.augment
        if a["rrc"] is not None:
            path, y = base.samples[s]
            img = base.loader(path)
            if view == 0:
                return self.eval_view(img), y
            p = view_params(a, self.augment_seed, s, view, img.width, img.height)
            left, top, w, h = p["box"]
            img = F.resized_crop(img, top, left, h, w, list(self.size), self._filter)
            return self._policy(F.hflip(img) if p["flip"] else img, s, view), y
        x, y = _numpy(base.data[s]), int(base.targets[s])
        if view:
            P = a["crop"]
            p = view_params(a, self.augment_seed, s, view, x.shape[1], x.shape[0])
            dx, dy, W, H = p["box"]
            # out[y][x] = in[y + dy][x + dx], zero outside (the zero-padded crop), then the mirror.
            pad = np.pad(x, ((P, P), (P, P)) + ((0, 0),) * (x.ndim - 2))
            x = pad[P + dy:P + dy + H, P + dx:P + dx + W]
            if p["flip"]:
                x = x[:, ::-1]
        img = Image.fromarray(np.ascontiguousarray(x), mode="L" if x.ndim == 2 else None)
        return (self._policy(img, s, view) if view else img), y

    def _policy(self, img, s, view):
        """A policy's operations of (s, view) (RandAugment / TrivialAugmentWide / AutoAugment), through
        torchvision's own _apply_op, after the box or crop and the flip — as tfkd applies them."""
        ops = policy_ops(self.augment["auto"], self.augment_seed, s, view, img.height, img.width)
        if ops:
            from torchvision.transforms import InterpolationMode
            from torchvision.transforms.autoaugment import _apply_op
            for op, m in ops:
                img = _apply_op(img, op, float(m), interpolation=InterpolationMode.NEAREST, fill=None)
        return img

    def __len__(self):
        return len(self.dataset)

    def teacher(self, indices, views=None):
        """float32 tensor [n, K]: the teacher's rows of these items (indices into this data set), of
        `views` (default: each item's view this epoch)."""
        s = Cache._indices(indices, "item")
        v = np.array([self.view_of(i) for i in s], dtype=np.int64) if views is None else Cache._indices(views, "view")
        if self._index is not None:
            s = self._index[s]
        z = self.cache.logits(s, v) if self.targets == "logits" else self.cache.soft_targets(s, v, temperature=self.temperature)
        return torch.from_numpy(z)

    def __getitem__(self, i):
        if self.augment is None:
            x, y = self.dataset[i]
            return x, y, self.teacher([i])[0]
        return self.item(i, self.view_of(i))

    def item(self, i, v):
        """(x, y, t) of view v of item i, whatever the epoch (what __getitem__ returns for its view)."""
        s, base = self._sample(i), self._base()
        transform = getattr(base, "transform", None) or (lambda im: im)
        x, y = self._render(s, v)
        x, t = transform(x), self.teacher([i], [v])[0]
        if not self.augment["mix"]:
            if getattr(base, "target_transform", None) is not None:
                y = base.target_transform(y)
            return x, y, t
        # Mixed caches: the mixture of this view with the partner's own view v, taken after the
        # transform (ToTensor, Normalize: per-pixel affine maps, so the same as tfkd's mixture of
        # the pixels on [0, 1]), and the mixed one-hot label (timm's mixup_target).
        label = torch.zeros(self.cache.K, dtype=torch.float32)
        p = mix_params(self.augment["mix"], self.augment_seed, s, v, self.cache.N)
        if p is None:
            label[y] = 1
            return x, label, t
        if not isinstance(x, torch.Tensor) or x.ndim != 3:
            raise TypeError("a cache of mixed views needs a transform that makes a C×H×W tensor (e.g. ToTensor, Normalize)")
        xb, yb = self._render(p["partner"], v)
        xb = transform(xb)
        H, W = x.shape[1], x.shape[2]
        lam = label_lambda(p, H, W)
        if p["kind"] == "mixup":
            x = lam * x + (1 - lam) * xb
        else:
            x0, y0, x1, y1 = cut_pixels(p, H, W)
            x = x.clone()
            x[:, y0:y1, x0:x1] = xb[:, y0:y1, x0:x1]
        label[y] += lam
        label[yb] += 1 - lam
        return x, label, t
