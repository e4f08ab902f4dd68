"""Throughput with its spread in real trial processes (a tiny real CNN, real TensorFlow).

No timing claims: these check what is recorded and how it hangs together (the passes, their
median and spread, the re-measure rule, interleaved repeats), never how fast anything ran.
"""

from __future__ import annotations

import json
import statistics

import pytest

from workbench.analysis import aggregate_repeats
from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, TimingSpec, TrialConfig
from workbench.engine.runner import run_trial
from workbench.render.report import write_report
from workbench.results import RESULTS_FILE, load_results

pytestmark = pytest.mark.slow


def test_a_default_timing_trial_records_every_pass_their_median_and_spread():
    timing = TimingSpec(drift_samples=0)  # the user's default timing; drift says nothing here
    cfg = TrialConfig(ModelSpec("tiny", image_size=32), DataSpec("synthetic", count=250), batch_size=32,
                      timing=timing)
    r = run_trial(cfg)
    assert r is not None and r.ok, r and r.error
    passes = r.throughput_per_pass_ips
    # at least 5 whole passes and 3 s; each pass counted once, with all 250 images (a partial
    # last batch of 26 included)
    assert r.timed_passes == len(passes) == len(r.host_rss_per_pass_bytes) >= timing.min_passes
    assert r.timed_s >= timing.min_duration_s
    assert r.timed_images == 250 * r.timed_passes and r.timed_batches == 8 * r.timed_passes
    assert all(p > 0 for p in passes)
    # the throughput is the median of the passes, with their spread
    assert r.throughput_ips == pytest.approx(statistics.median(passes))
    assert r.throughput_cv == pytest.approx(statistics.stdev(passes) / statistics.fmean(passes))
    assert r.throughput_iqr_ips >= 0 and min(passes) <= r.throughput_ips <= max(passes)
    # unstable is the rule applied to what was recorded; a re-measure only for a noisy trial
    assert r.unstable is (r.throughput_cv > timing.max_cv)
    if r.unstable:  # noisy to the end: re-measured up to twice its minimum (itself 3 s or more)
        assert r.remeasured and r.timed_s >= timing.remeasure_factor * timing.min_duration_s
    if not r.remeasured:  # quiet at the minimum already
        assert r.unstable is False and r.throughput_cv <= timing.max_cv
    else:
        assert r.timed_passes > timing.min_passes
    # memory creep per pass still gets its verdict (5+ passes)
    assert r.host_creeping in (True, False) and r.host_creep_bytes_per_pass == r.host_creep_bytes_per_pass


def test_repeat_two_runs_the_sweep_twice_interleaved_with_distinct_keys(tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["sweep", "--model", "tiny", "--image-size", "32", "--data", "synthetic:64", "--batch-sizes", "4,16",
            "--min-passes", "3", "--min-batches", "1", "--min-duration", "0", "--warmup-batches", "1",
            "--drift-samples", "0", "--repeat", "2", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr()
    lines = [json.loads(line) for line in (out / RESULTS_FILE).read_text().splitlines()]
    trials = [t for t in lines if t["record"] == "trial"]
    # the whole sweep, then the whole sweep again: batch 4, 16, 4, 16
    assert [(t["batch_size"], t["repeat"]) for t in trials] == [(4, 0), (16, 0), (4, 1), (16, 1)]
    assert len({t["key"] for t in trials}) == 4
    assert all(t["status"] == "ok" and len(t["throughput_per_pass_ips"]) >= 3 for t in trials)
    assert lines[0]["sweep"]["repeat"] == 2

    df = load_results(out)
    folded = aggregate_repeats(df).set_index("batch_size")
    assert folded["repeats"].tolist() == [2, 2]
    for batch in (4, 16):
        runs = df[df["batch_size"] == batch]["throughput_ips"].tolist()
        assert folded.loc[batch, "throughput_ips"] == pytest.approx(statistics.median(runs))
        assert folded.loc[batch, "throughput_repeats_ips"] == runs

    # Running it again resumes: every run of every setting is already there.
    capsys.readouterr()
    assert main(argv) == 0
    assert len((out / RESULTS_FILE).read_text().splitlines()) == len(lines)

    page = write_report(out).read_text()
    assert "How much the numbers moved" in page and "2 setting(s) measured more than once" in page
