"""Numbers that describe a tensor on a web page: statistics and a histogram binned here, in Python, so the
page carries a few dozen counts per tensor instead of its raw values."""
from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_BINS = 30


def _number(x: float) -> float | None:
    """A float for JSON (which has no NaN or infinity: those become None)."""
    x = float(x)
    return x if np.isfinite(x) else None


def summarize(data: Any, bins: int = DEFAULT_BINS, clip: float | None = None) -> dict[str, Any]:
    """Statistics of an array (min, max, mean, std, fraction of zeros, count of non-finite values) and a
    histogram of its finite values: `{"lo", "hi", "counts"}`, `bins` equal bins from lo to hi.

    With `clip` (a percentage such as 0.5), the histogram spans the [clip, 100 - clip] percentiles and the
    values outside fall into the end bins, so one outlier does not squeeze everything into a single bar.
    The statistics always cover every value. Booleans count as 0 and 1.
    """
    values = np.asarray(data)
    if values.dtype == np.bool_:
        values = values.astype(np.float64)
    values = values.astype(np.float64, copy=False).ravel()
    out: dict[str, Any] = {"size": int(values.size)}
    finite = values[np.isfinite(values)]
    out["nonfinite"] = int(values.size - finite.size)
    if finite.size == 0:
        out.update(min=None, max=None, mean=None, std=None, zeros=None, hist=None)
        return out
    out.update(min=_number(finite.min()), max=_number(finite.max()), mean=_number(finite.mean()),
               std=_number(finite.std()), zeros=float(np.mean(values == 0.0)))
    lo, hi = (float(v) for v in np.percentile(finite, [clip, 100 - clip])) if clip else (out["min"], out["max"])
    if lo == hi:  # a constant: one bar around its value
        lo, hi = lo - 0.5, hi + 0.5
    counts, _ = np.histogram(np.clip(finite, lo, hi), bins=bins, range=(lo, hi))
    out["hist"] = {"lo": lo, "hi": hi, "counts": [int(c) for c in counts]}
    return out
