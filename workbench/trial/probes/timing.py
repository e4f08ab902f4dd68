"""Latency statistics computed from raw per-batch samples."""

from __future__ import annotations

import math
from collections.abc import Sequence

NAN = float("nan")


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method); NaN for no samples."""
    if not samples:
        return NAN
    data = sorted(samples)
    pos = (len(data) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def latency_stats(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99 and mean of per-batch latencies, in seconds."""
    return {
        "latency_p50_s": percentile(latencies_s, 50),
        "latency_p90_s": percentile(latencies_s, 90),
        "latency_p99_s": percentile(latencies_s, 99),
        "latency_mean_s": (sum(latencies_s) / len(latencies_s)) if latencies_s else NAN,
    }
