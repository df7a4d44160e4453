"""IDX (LeCun's MNIST format) with numpy alone, for the scripts that read Fashion-MNIST
(make_torch_teacher.py, make_fp16_teacher.py, make_teachers.py, make_fmnist_subset.py)."""
import gzip

import numpy as np


def read_idx(path):
    """magic (two zero bytes, dtype, ndim), big-endian uint32 dims, raw uint8 data; gzipped when the name ends in .gz."""
    with (gzip.open if path.endswith('.gz') else open)(path, 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
