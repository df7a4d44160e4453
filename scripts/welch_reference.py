#!/usr/bin/env python3
"""Reference values for src/experiment/stats.ts, computed with scipy.

Student-t quantiles at integer and fractional degrees of freedom, and Welch 95 % (and 90 %)
confidence intervals for the difference of two means (Welch-Satterthwaite degrees of freedom)
on seeded samples shaped like report data (accuracies over 2-6 seeds). The interval is computed
twice, by hand from scipy.stats.t.ppf and by scipy.stats.ttest_ind(equal_var=False)
.confidence_interval; the script asserts they agree (1e-12) and writes

    test/fixtures/welch-scipy.json

which test/experiment/stats.test.ts compares with the TypeScript implementation (tolerance
1e-10, absolute on intervals, relative on quantiles).

    python3 scripts/welch_reference.py          # the `python3` with scipy (>= 1.11)
"""
import json
import os

import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(20240613)

quantiles = []
for df in [1, 1.5, 2, 2.3, 3, 3.7, 4, 5, 6.25, 8, 10, 13.9, 20, 30, 57.5, 100, 1000]:
    for p in [0.6, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995]:
        quantiles.append({"p": p, "df": df, "t": float(stats.t.ppf(p, df))})

cases = []
shapes = [(2, 2), (2, 3), (3, 3), (3, 5), (5, 5), (4, 6), (6, 2), (3, 4)]
for i in range(40):
    n1, n0 = shapes[i % len(shapes)]
    s1, s0 = rng.uniform(0.0005, 0.01, size=2)
    a = np.round(rng.normal(0.85 + rng.uniform(-0.01, 0.01), s1, n1), 4)
    b = np.round(rng.normal(0.85, s0, n0), 4)
    for level in ([0.95, 0.9] if i % 5 == 0 else [0.95]):
        va, vb = a.var(ddof=1) / n1, b.var(ddof=1) / n0
        se = np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (n1 - 1) + vb ** 2 / (n0 - 1))
        t = stats.t.ppf((1 + level) / 2, df)
        diff = a.mean() - b.mean()
        lo, hi = diff - t * se, diff + t * se
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence_level=level)
        assert abs(ci.low - lo) < 1e-12 and abs(ci.high - hi) < 1e-12, (ci, lo, hi)
        cases.append({"a": a.tolist(), "b": b.tolist(), "level": level, "diff": float(diff), "se": float(se), "df": float(df), "t": float(t), "lo": float(lo), "hi": float(hi)})

out = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "welch-scipy.json")
with open(out, "w") as f:
    json.dump({"source": f"scipy {scipy.__version__}, numpy {np.__version__}: scripts/welch_reference.py", "quantiles": quantiles, "welch": cases}, f, indent=1)
    f.write("\n")
print(f"wrote {os.path.normpath(out)}: {len(quantiles)} quantiles, {len(cases)} intervals (scipy {scipy.__version__})")
