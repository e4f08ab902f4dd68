"""Memory creep across repeated passes: does resident memory keep growing call after call?

A long job calls ``predict`` many times; allocator fragmentation and caches that are never
released (keras-team/keras#13118, tensorflow/tensorflow#44711) make resident memory climb pass
after pass. The worker reads the resident size after every timed pass; this module turns that
series into a growth per pass and a verdict. Pure: no TensorFlow, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MIN_PASSES_FOR_RATE = 3  # the first pass is left out (it allocates what every pass reuses)
MIN_PASSES_FOR_FLAG = 5
CREEP_SHARE_PER_PASS = 0.01  # growth per pass, as a share of the peak, that counts as creeping


def creep_bytes_per_pass(rss_per_pass: Sequence[float]) -> float:
    """Least-squares growth of resident memory per pass, over the passes after the first.

    NaN with fewer than :data:`MIN_PASSES_FOR_RATE` passes (two points after the first pass are
    the fewest a slope needs), never 0 for "not measured".
    """
    values = [float(v) for v in rss_per_pass]
    if len(values) < MIN_PASSES_FOR_RATE or any(not math.isfinite(v) for v in values):
        return float("nan")
    y = np.asarray(values[1:], dtype=np.float64)
    x = np.arange(len(y), dtype=np.float64)
    x -= x.mean()
    return float(np.dot(x, y - y.mean()) / np.dot(x, x))


def is_creeping(rss_per_pass: Sequence[float], peak_bytes: float | None = None) -> bool | None:
    """True when memory grew by more than 1 % of the peak per pass over at least 5 passes.

    ``peak_bytes`` is the trial's peak (default: the largest resident size in the series).
    None (not known) with fewer than :data:`MIN_PASSES_FOR_FLAG` passes.
    """
    if len(rss_per_pass) < MIN_PASSES_FOR_FLAG:
        return None
    rate = creep_bytes_per_pass(rss_per_pass)
    peak = float(max(rss_per_pass)) if peak_bytes is None or not math.isfinite(peak_bytes) else float(peak_bytes)
    if math.isnan(rate) or peak <= 0:
        return None
    return bool(rate > CREEP_SHARE_PER_PASS * peak)
