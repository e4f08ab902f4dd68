"""Throughput with its spread: the statistics, the re-measure and unstable rules, speed verdicts
only beyond noise, and settings run more than once folded into one row (no processes)."""

from __future__ import annotations

import math
import statistics

import pandas as pd
import pytest

from workbench.analysis import aggregate_repeats, recommend, speed_verdict, spread_notes
from workbench.config import DataSpec, ModelSpec, SweepConfig, TimingSpec, TrialConfig
from workbench.errors import ConfigError
from workbench.plan import expand
from workbench.render import plots
from workbench.results import TrialResult
from workbench.spread import cv, iqr, is_unstable, median, per_pass_throughput, throughput_stats
from workbench.trial.probes.timing import keep_measuring

from .test_analysis import MIB, frame, trial_row

PASSES = [100.0, 110.0, 90.0, 105.0, 95.0]


def test_the_median_of_the_passes_with_their_iqr_and_cv():
    stats = throughput_stats(PASSES)
    assert stats["throughput_ips"] == 100.0
    assert stats["throughput_iqr_ips"] == 10.0  # quartiles 95 and 105
    assert stats["throughput_cv"] == pytest.approx(statistics.stdev(PASSES) / 100.0) == pytest.approx(0.0790569)
    # One slow pass (a burst of load elsewhere) moves the median by little, the mean by much.
    assert median([*PASSES, 20.0]) == 97.5 and statistics.fmean([*PASSES, 20.0]) == pytest.approx(86.67, abs=0.01)


def test_fewer_than_three_passes_have_a_median_but_no_spread_never_zero():
    stats = throughput_stats([120.0, 80.0])
    assert stats["throughput_ips"] == 100.0
    assert math.isnan(stats["throughput_iqr_ips"]) and math.isnan(stats["throughput_cv"])
    assert is_unstable([120.0, 80.0], 0.05) is None
    assert math.isnan(median([])) and math.isnan(iqr([1.0, math.nan, 2.0])) and math.isnan(cv([]))


def test_each_whole_pass_counts_once_with_its_own_images():
    # 250 images a pass (a partial last batch of 26 at batch 32): images over that pass's seconds
    assert per_pass_throughput([250, 250, 250], [0.5, 0.25, 1.0]) == [500.0, 1000.0, 250.0]
    assert math.isnan(per_pass_throughput([250], [0.0])[0])


def test_unstable_means_a_cv_above_the_threshold():
    assert is_unstable(PASSES, 0.05) is True  # 7.9 %
    assert is_unstable(PASSES, 0.10) is False
    assert is_unstable([100.0, 101.0, 99.0, 100.0, 100.5], 0.05) is False


def test_a_noisy_trial_is_re_measured_up_to_the_factor_then_stops():
    timing = TimingSpec()  # 5 % CV, up to 2x the minimum
    assert keep_measuring(timing, PASSES, elapsed_s=4.0, minimum_s=3.2)  # noisy, room left
    assert not keep_measuring(timing, PASSES, elapsed_s=6.4, minimum_s=3.2)  # the limit: unstable
    assert not keep_measuring(timing, [100.0, 101.0, 99.0, 100.0, 100.5], 3.3, 3.2)  # quiet: done
    assert not keep_measuring(timing, [100.0, 150.0], 3.3, 3.2)  # two passes: no spread to judge
    assert not keep_measuring(TimingSpec(remeasure_factor=1), PASSES, 3.2, 3.2)  # never re-measure
    assert keep_measuring(TimingSpec(max_cv=0.07), PASSES, 3.3, 3.2)
    assert not keep_measuring(TimingSpec(max_cv=0.08), PASSES, 3.3, 3.2)


@pytest.mark.parametrize("field, value", [("min_passes", 0), ("max_cv", 0), ("max_cv", "nan"),
                                          ("remeasure_factor", 0.5), ("min_duration_s", "nan")])
def test_bad_timing_is_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        TimingSpec(**{field: value})


def _row(tput: float, spread: float = math.nan) -> dict:
    return {"throughput_ips": tput, "throughput_cv": spread}


def test_faster_or_slower_only_beyond_the_combined_spread():
    # 2 % spread each: the noise is hypot(2.2, 2.0) = 3.0 images/s
    assert speed_verdict(_row(110, 0.02), _row(100, 0.02)) == ("faster", pytest.approx(1.1))
    assert speed_verdict(_row(100, 0.02), _row(110, 0.02)) == ("slower", pytest.approx(100 / 110))
    assert speed_verdict(_row(102, 0.02), _row(100, 0.02)) == ("no measurable difference", pytest.approx(1.02))
    # Not measured (one pass, older results): 5 % each, so 4 % is within it, 10 % beyond
    assert speed_verdict(_row(104), _row(100))[0] == "no measurable difference"
    assert speed_verdict(_row(110), _row(100))[0] == "faster"
    # A tiny measured spread counts as 1 %: 1.2 % is noise, 1.5 % is not
    assert speed_verdict(_row(101.2, 0.001), _row(100, 0.001))[0] == "no measurable difference"
    assert speed_verdict(_row(101.5, 0.001), _row(100, 0.001))[0] == "faster"
    verdict, ratio = speed_verdict(_row(math.nan), _row(100, 0.01))
    assert verdict == "not measured" and math.isnan(ratio)


def test_the_verdict_reads_trial_results_and_series_alike():
    cfg = TrialConfig(ModelSpec("tiny"), DataSpec("synthetic", count=8))
    a, b = TrialResult.for_trial(cfg), TrialResult.for_trial(cfg)
    a.throughput_ips, a.throughput_cv, b.throughput_ips, b.throughput_cv = 1344.0, 0.04, 722.0, 0.30
    # 1.86x, but b's passes varied by 30 %: hypot(53.8, 216.6) = 223 < 622, still faster
    assert speed_verdict(a, b)[0] == "faster"
    assert speed_verdict(pd.Series(_row(1000, 0.3)), pd.Series(_row(800, 0.3)))[0] == "no measurable difference"


def runs(*rows: dict) -> pd.DataFrame:
    return frame([trial_row(**r) for r in rows]).assign(repeat=[r.get("repeat", 0) for r in rows])


def test_runs_of_one_setting_fold_into_their_median_and_larger_peak():
    df = runs(dict(batch=32, throughput_ips=100.0, throughput_cv=0.02, host_peak_bytes=900 * MIB, repeat=0),
              dict(batch=64, throughput_ips=180.0, throughput_cv=0.01, host_peak_bytes=1200 * MIB, repeat=0),
              dict(batch=32, throughput_ips=110.0, throughput_cv=0.01, host_peak_bytes=930 * MIB, repeat=1),
              dict(batch=64, throughput_ips=181.0, throughput_cv=0.01, host_peak_bytes=1190 * MIB, repeat=1),
              dict(batch=32, throughput_ips=104.0, throughput_cv=0.03, host_peak_bytes=910 * MIB, repeat=2))
    df.attrs["sweep"] = {"repeat": 3}
    folded = aggregate_repeats(df).set_index("batch_size")
    assert folded.attrs["sweep"] == {"repeat": 3}
    assert folded.loc[32, "throughput_ips"] == 104.0 and folded.loc[32, "repeats"] == 3
    assert folded.loc[32, "throughput_repeats_ips"] == [100.0, 110.0, 104.0]
    # The spread across the runs (CV 4.8 %) is larger than within them: it is the one kept.
    assert folded.loc[32, "throughput_cv"] == pytest.approx(statistics.stdev([100, 110, 104]) / statistics.fmean([100, 110, 104]))
    assert folded.loc[32, "throughput_iqr_ips"] == pytest.approx(5.0)  # quartiles 102 and 107
    assert folded.loc[32, "host_peak_bytes"] == 930 * MIB  # a budget must hold for every run
    assert folded.loc[32, "host_peak_spread_bytes"] == 30 * MIB
    assert folded.loc[64, "throughput_ips"] == 180.5 and folded.loc[64, "throughput_iqr_ips"] == 0.5
    assert not folded.loc[32, "unstable"] and not folded.loc[64, "unstable"]


def test_a_setting_that_failed_in_one_run_keeps_the_failure_and_nothing_repeated_is_untouched():
    df = runs(dict(batch=64, throughput_ips=180.0, host_peak_bytes=1200 * MIB, repeat=0),
              dict(batch=64, status="oom", repeat=1))
    folded = aggregate_repeats(df)
    assert len(folded) == 1 and folded.iloc[0]["status"] == "oom" and folded.iloc[0]["repeats"] == 2
    once = runs(dict(batch=8, throughput_ips=1.0), dict(batch=16, throughput_ips=2.0))
    assert aggregate_repeats(once) is once


def test_runs_that_differ_by_more_than_five_percent_are_unstable_together():
    df = runs(dict(batch=32, throughput_ips=100.0, throughput_cv=0.01, unstable=False, repeat=0),
              dict(batch=32, throughput_ips=120.0, throughput_cv=0.01, unstable=False, repeat=1))
    assert bool(aggregate_repeats(df).iloc[0]["unstable"]) is True


def test_the_recommendation_says_no_measurable_difference_within_the_spread():
    df = frame([trial_row("in_memory", "float32", 32, throughput_ips=100.0, throughput_cv=0.03, host_peak_bytes=MIB),
                trial_row("in_memory", "mixed_bfloat16", 32, throughput_ips=102.0, throughput_cv=0.03,
                          host_peak_bytes=MIB)])
    reason = recommend(df).reason
    assert "no measurable difference in throughput from float32 at batch 32 (1x" in reason
    df.loc[1, "throughput_ips"] = 150.0
    assert "1.5x the throughput of float32 at batch 32 (150 images/s, faster beyond the spread)" in recommend(df).reason


def test_the_recommendation_takes_the_median_of_a_repeated_setting():
    df = runs(dict(batch=32, throughput_ips=100.0, host_peak_bytes=MIB, repeat=0),
              dict(batch=64, throughput_ips=101.0, host_peak_bytes=MIB, repeat=0),
              dict(batch=32, throughput_ips=140.0, host_peak_bytes=MIB, repeat=1),
              dict(batch=64, throughput_ips=99.0, host_peak_bytes=MIB, repeat=1))
    rec = recommend(df)
    assert rec.row["batch_size"] == 32 and rec.row["throughput_ips"] == 120.0 and rec.row["repeats"] == 2


def test_spread_notes_say_how_much_the_numbers_moved():
    df = runs(dict(batch=32, throughput_ips=100.0, throughput_cv=0.02, unstable=False, host_peak_bytes=900 * MIB),
              dict(batch=32, throughput_ips=110.0, throughput_cv=0.08, unstable=True, host_peak_bytes=930 * MIB,
                   repeat=1))
    within, between = spread_notes(df)
    assert "varied by 5.0 % (median CV; largest 8.0 %); 1 of 2 trials stayed above the 5 % threshold" in within
    assert "1 setting(s) measured more than once: throughput differed by up to 10.0 %" in between
    assert "the budget peak moved by up to 30.00 MiB (3.3 %)" in between


def test_the_throughput_plot_draws_the_spread_as_error_bars():
    df = frame([trial_row(batch=b, throughput_ips=t, throughput_cv=0.05) for b, t in ((8, 100.0), (32, 300.0))])
    df["throughput_iqr_ips"] = [6.0, math.nan]
    ax = plots.throughput_vs_batch(df)
    bars = [c for c in ax.collections if c.get_gid() == "spread:in_memory · float32"]
    assert len(bars) == 1
    drawn = [seg for seg in bars[0].get_segments() if len(seg)]
    assert [(seg[0][1], seg[1][1]) for seg in drawn] == [(97.0, 103.0)]  # the median +- half the IQR; none for NaN


def test_repeat_runs_the_whole_sweep_again_interleaved_each_run_with_its_own_key():
    sweep = SweepConfig(ModelSpec("tiny"), DataSpec("synthetic", count=8), batch_sizes=(1, 8), repeat=2)
    trials = expand(sweep)
    assert [(t.batch_size, t.repeat) for t in trials] == [(1, 0), (8, 0), (1, 1), (8, 1)]
    assert len({t.key() for t in trials}) == 4
    assert trials[2].describe().endswith("batch 1 | repeat 2")
    once = expand(SweepConfig(ModelSpec("tiny"), DataSpec("synthetic", count=8), batch_sizes=(1, 8)))
    assert [t.key() for t in once] == [t.key() for t in trials[:2]]  # the first run keeps its key


@pytest.mark.parametrize("repeat", [0, -1, "two", 1.5, 101, True])
def test_bad_repeat_is_refused(repeat):
    with pytest.raises(ConfigError, match="repeat"):
        SweepConfig(ModelSpec("tiny"), DataSpec("synthetic", count=8), repeat=repeat)
