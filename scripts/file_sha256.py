"""The sha256 of a file, read 1 MiB at a time: what the scripts that record or check a model's or a
photo's hash (torchvision_teacher.py, torchvision_reference.py, make_photos.py) print."""
import hashlib


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
