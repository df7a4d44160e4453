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

Caches whose rows are not the teacher on the plain samples are refused: augmented views
(`--augment crop:…`, mixup/cutmix) are the teacher on crops or mixtures, which `dataset[i]` does not
give; read those with tfkd_cache.Cache. A part of a job array (`--shard I/N`) covers only its
samples: merge the parts first (`tfkd merge`).
"""
import os

import numpy as np
import torch

from tfkd_cache import Cache, CacheMismatch, fingerprint_arrays, fingerprint_files

__all__ = ["WithTeacher", "dataset_fingerprint", "TFKD_IMAGE_EXTENSIONS", "is_tfkd_image"]

# The extensions tfkd's `folder:` reads (src/data/folder.ts): torchvision's ImageFolder ones plus the
# other formats tfkd decodes. ImageFolder(root, is_valid_file=is_tfkd_image) lists what tfkd lists.
TFKD_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif", ".avif", ".heic", ".heif")


def is_tfkd_image(path):
    """True for the files tfkd's `folder:` takes as images: an image extension (any case), not hidden."""
    name = os.path.basename(path)
    return not name.startswith(".") and name.lower().endswith(TFKD_IMAGE_EXTENSIONS)


def _as_uint8(a):
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
        images = _as_uint8(dataset.data)
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            return None
        return fingerprint_arrays(kind, split, images, _as_uint8(dataset.targets), len(dataset.classes))
    return None


class WithTeacher(torch.utils.data.Dataset):
    """dataset[i] = (x, y) → (x, y, t), t the teacher's float32 row for sample i.

    cache: a tfkd cache directory or an open tfkd_cache.Cache.
    targets: "logits" (default: the stored logits; for a top-k cache the kept ones and the tail
        classes at its mean, whose softmax is right at τ = 1) or "soft" (softmax(z / temperature),
        top-k caches included — docs/CACHE.md "Top-k caches").
    check: "fingerprint" (default; see the module's doc) or "length".
    """

    def __init__(self, dataset, cache, *, targets="logits", temperature=1.0, check="fingerprint"):
        if targets not in ("logits", "soft"):
            raise ValueError(f'targets must be "logits" or "soft", not {targets!r}')
        if check not in ("fingerprint", "length"):
            raise ValueError(f'check must be "fingerprint" or "length", not {check!r}')
        self.dataset = dataset
        self.cache = cache if isinstance(cache, Cache) else Cache(cache)
        self.targets, self.temperature = targets, temperature
        c, m = self.cache, self.cache.manifest
        if m.get("augment") is not None:
            raise CacheMismatch(f"cache {c.path} holds the teacher on augmented views ({m['augment']['spec']}, seed {m['augment']['seed']}), "
                                "not on dataset[i]: read it with tfkd_cache.Cache, or precompute without --augment")
        if c.views != 1:
            raise CacheMismatch(f"cache {c.path} has {c.views} views per sample: WithTeacher serves one-view caches")
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

    def __len__(self):
        return len(self.dataset)

    def teacher(self, indices):
        """float32 tensor [n, K]: the teacher's rows of these items (indices into this data set)."""
        s = np.asarray(indices, dtype=np.int64)
        if self._index is not None:
            s = self._index[s]
        z = self.cache.logits(s) if self.targets == "logits" else self.cache.soft_targets(s, temperature=self.temperature)
        return torch.from_numpy(z)

    def __getitem__(self, i):
        x, y = self.dataset[i]
        return x, y, self.teacher([i])[0]
