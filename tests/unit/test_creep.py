"""Memory creep across timed passes: the statistic, the verdict, and how many passes run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.config import DataSpec, ModelSpec, TimingSpec, TrialConfig
from workbench.results import TrialResult
from workbench.trial.probes.creep import creep_bytes_per_pass, is_creeping
from workbench.trial.worker import enough_passes

MIB = 2**20


def test_growth_per_pass_leaves_out_the_first_pass():
    # the first pass allocates what every later pass reuses: a jump there is not creep
    assert creep_bytes_per_pass([600 * MIB, 700 * MIB, 700 * MIB, 700 * MIB]) == 0.0
    assert creep_bytes_per_pass([600 * MIB, 700 * MIB, 710 * MIB, 720 * MIB, 730 * MIB]) == pytest.approx(10 * MIB)


def test_growth_is_a_least_squares_slope():
    rss = [500, 100, 130, 110, 160]  # after the first: 100, 130, 110, 160 at x = 0..3
    x, y = np.arange(4.0), np.array([100.0, 130, 110, 160])
    assert creep_bytes_per_pass(rss) == pytest.approx(np.polyfit(x, y, 1)[0])
    assert creep_bytes_per_pass(rss) == pytest.approx(16.0)


def test_too_few_passes_is_not_measured_never_zero():
    assert math.isnan(creep_bytes_per_pass([]))
    assert math.isnan(creep_bytes_per_pass([700 * MIB, 800 * MIB]))
    assert is_creeping([700 * MIB, 710 * MIB, 720 * MIB, 730 * MIB]) is None  # 4 passes: no verdict


def test_creeping_means_more_than_one_percent_of_the_peak_per_pass():
    growing = [1000 * MIB + i * 15 * MIB for i in range(6)]  # 15 MiB a pass, peak 1075 MiB: 1.4 %
    assert is_creeping(growing) is True
    slow = [1000 * MIB + i * 5 * MIB for i in range(6)]  # 0.5 %
    assert is_creeping(slow) is False
    # measured against the trial's peak when given: a higher peak makes the same growth small
    assert is_creeping(growing, peak_bytes=2000 * MIB) is False


def _cfg(min_batches: int = 10, min_duration_s: float = 1.0, min_passes: int = 1) -> TrialConfig:
    return TrialConfig(ModelSpec("tiny"), DataSpec("synthetic", count=8),
                       timing=TimingSpec(min_batches=min_batches, min_duration_s=min_duration_s,
                                         min_passes=min_passes))


def test_small_data_gets_enough_passes_for_a_verdict():
    cfg = _cfg()  # 10 batches and 1 s, no minimum of passes
    # short passes (0.3 s): the minimums are met after 4, but the verdict needs 5
    assert not enough_passes(cfg, batches=40, passes=4, elapsed=1.2)
    assert enough_passes(cfg, batches=50, passes=5, elapsed=1.5)
    # long passes (3 s): one pass does, as before
    assert enough_passes(cfg, batches=300, passes=1, elapsed=3.0)
    # the minimums still rule: too few batches or too little time
    assert not enough_passes(cfg, batches=5, passes=5, elapsed=2.0)
    assert not enough_passes(cfg, batches=50, passes=5, elapsed=0.5)
    # no minimum duration (fast test timing): no extra passes
    assert enough_passes(_cfg(min_batches=2, min_duration_s=0.0), batches=2, passes=1, elapsed=0.01)


def test_the_default_timing_needs_five_passes_and_three_seconds_whichever_is_longer():
    cfg = TrialConfig(ModelSpec("tiny"), DataSpec("synthetic", count=8))
    assert (cfg.timing.min_passes, cfg.timing.min_duration_s) == (5, 3.0)
    assert not enough_passes(cfg, batches=400, passes=4, elapsed=12.0)  # long passes: still five
    assert enough_passes(cfg, batches=500, passes=5, elapsed=15.0)
    assert not enough_passes(cfg, batches=50, passes=5, elapsed=1.5)  # short passes: still 3 s
    assert enough_passes(cfg, batches=100, passes=10, elapsed=3.0)


def test_result_fields_are_missing_not_zero_by_default():
    r = TrialResult.for_trial(_cfg())
    assert r.host_rss_per_pass_bytes == [] and math.isnan(r.host_creep_bytes_per_pass)
    assert r.host_creeping is None
    back = TrialResult.from_dict(r.to_dict())  # NaN travels as null and comes back NaN
    assert math.isnan(back.host_creep_bytes_per_pass) and back.host_creeping is None
