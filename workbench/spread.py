"""Throughput with its spread: per-pass statistics, shared by the trial and the analysis.

One timed pass is noise on a shared machine (the same setting measured 722 and 1,344-1,406
images/s here), so a trial times several whole passes over the data and reports their
**median** with its **spread**: the interquartile range and the coefficient of variation (CV,
the sample standard deviation over the mean). A trial whose CV stays above the threshold after
its re-measure is marked ``unstable``.

Pure standard library (the worker imports it; pandas would cost the trial memory it measures).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

NAN = float("nan")
MIN_PASSES_FOR_SPREAD = 3  # fewer passes: no spread (an IQR of two numbers is no statistic)


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method); NaN for no samples."""
    if not samples:
        return NAN
    data = sorted(samples)
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    """The median of the finite values; NaN when there are none."""
    data = _finite(values)
    return float(statistics.median(data)) if data else NAN


def iqr(values: Sequence[float]) -> float:
    """75th minus 25th percentile; NaN with fewer than :data:`MIN_PASSES_FOR_SPREAD` values."""
    data = _finite(values)
    if len(data) < MIN_PASSES_FOR_SPREAD:
        return NAN
    return percentile(data, 75) - percentile(data, 25)


def cv(values: Sequence[float], minimum: int = MIN_PASSES_FOR_SPREAD) -> float:
    """Coefficient of variation: sample standard deviation / mean; NaN with fewer than
    ``minimum`` values or a mean that is not positive."""
    data = _finite(values)
    if len(data) < max(minimum, 2):
        return NAN
    mean = statistics.fmean(data)
    return statistics.stdev(data) / mean if mean > 0 else NAN


def per_pass_throughput(images_per_pass: Sequence[int], seconds_per_pass: Sequence[float]) -> list[float]:
    """Images per second of each whole pass (a pass that took no measurable time: NaN)."""
    return [n / s if s > 0 else NAN for n, s in zip(images_per_pass, seconds_per_pass, strict=True)]


def throughput_stats(per_pass_ips: Sequence[float]) -> dict[str, float]:
    """``throughput_ips`` (median of the passes), ``throughput_iqr_ips`` and ``throughput_cv``
    (NaN with fewer than three passes: a spread needs them)."""
    return {"throughput_ips": median(per_pass_ips), "throughput_iqr_ips": iqr(per_pass_ips),
            "throughput_cv": cv(per_pass_ips)}


def is_unstable(per_pass_ips: Sequence[float], max_cv: float) -> bool | None:
    """True when the passes' CV is above ``max_cv``; None (not known) with fewer than three."""
    spread = cv(per_pass_ips)
    return None if math.isnan(spread) else bool(spread > max_cv)
