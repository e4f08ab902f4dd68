"""Timing statistics from raw samples, and when the timed phase may stop.

Latency: percentiles of the per-batch samples. Throughput: the median of whole passes with
its spread (:mod:`workbench.spread`); a noisy trial is re-measured with more passes, up to
``remeasure_factor`` times the time its minimum took, before it is called unstable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from workbench.config import TimingSpec
from workbench.spread import NAN, cv, percentile  # noqa: F401  (percentile: this module's historical name)


def latency_stats(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99 and mean of per-batch latencies, in seconds."""
    return {
        "latency_p50_s": percentile(latencies_s, 50),
        "latency_p90_s": percentile(latencies_s, 90),
        "latency_p99_s": percentile(latencies_s, 99),
        "latency_mean_s": (sum(latencies_s) / len(latencies_s)) if latencies_s else NAN,
    }


def keep_measuring(timing: TimingSpec, per_pass_ips: Sequence[float], elapsed_s: float, minimum_s: float) -> bool:
    """After the minimum (passes, batches, seconds) was met in ``minimum_s``: time another pass?

    Yes while the passes' coefficient of variation is above ``timing.max_cv`` and the timed phase
    is shorter than ``timing.remeasure_factor * minimum_s`` (a burst of load elsewhere is diluted
    by more passes; noise that stays is reported, the trial marked unstable). Fewer than three
    passes have no spread: nothing to re-measure.
    """
    if elapsed_s >= timing.remeasure_factor * minimum_s:
        return False
    spread = cv(per_pass_ips)
    return not math.isnan(spread) and spread > timing.max_cv
