#!/usr/bin/env python3
"""Write the small Fashion-MNIST subset tfkd ships in data/fashion-mnist-subset/ (numpy only).

`tfkd demo` falls back to it when /usr/share/datasets/fashion-mnist is absent. It holds the first
N_TRAIN training and N_TEST test images of the real data set, in the same gzipped IDX layout and
file names, so the `fashion-mnist:DIR` reader opens it unchanged. Fashion-MNIST is MIT-licensed
(Zalando Research). Written with gzip mtime 0 so the bytes are reproducible.

Usage: python3 scripts/make_fmnist_subset.py [--src DIR] [--out data/fashion-mnist-subset]
"""
import argparse
import gzip
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no scripts/__pycache__ left in the checkout
from idx import read_idx  # noqa: E402

N_TRAIN, N_TEST = 3000, 1000


def write_idx(path, arr):
    header = struct.pack('>BBBB', 0, 0, 0x08, arr.ndim) + struct.pack('>' + 'I' * arr.ndim, *arr.shape)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as raw:
        with gzip.GzipFile(filename='', mode='wb', fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(header + arr.astype(np.uint8).tobytes())
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--src', default='/usr/share/datasets/fashion-mnist')
    ap.add_argument('--out', default='data/fashion-mnist-subset')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for prefix, n in (('train', N_TRAIN), ('t10k', N_TEST)):
        for kind in ('images-idx3', 'labels-idx1'):
            name = f'{prefix}-{kind}-ubyte.gz'
            write_idx(os.path.join(args.out, name), read_idx(os.path.join(args.src, name))[:n])
    print(f'wrote {N_TRAIN} train + {N_TEST} test samples to {args.out}')


if __name__ == '__main__':
    main()
