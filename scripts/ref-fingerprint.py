#!/usr/bin/env python3
"""Independent reference for src/data/fingerprint.ts on the Debian Fashion-MNIST files:
sha256 over b"tfkd-data/1\\n{kind}\\n{split}\\n{count}\\n{K}\\n{H}x{W}x{C}\\n", the labels as int32
little-endian, then every sample's HWC bytes. Prints the digests pinned in
test/data/fingerprint.test.ts.  Usage: python3 scripts/ref-fingerprint.py [DIR]"""
import gzip
import hashlib
import sys

import numpy as np

d = sys.argv[1] if len(sys.argv) > 1 else '/usr/share/datasets/fashion-mnist'
for split, prefix in (('train', 'train'), ('test', 't10k')):
    x = np.frombuffer(gzip.open(f'{d}/{prefix}-images-idx3-ubyte.gz').read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    y = np.frombuffer(gzip.open(f'{d}/{prefix}-labels-idx1-ubyte.gz').read(), np.uint8, offset=8)
    h = hashlib.sha256(f'tfkd-data/1\nfashion-mnist\n{split}\n{len(y)}\n10\n28x28x1\n'.encode())
    h.update(y.astype('<i4').tobytes())
    h.update(np.ascontiguousarray(x).tobytes())
    print(split, h.hexdigest())
