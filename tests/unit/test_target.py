"""Answers at the user's real dataset size (the target N), on results with exactly known terms.

peak = fixed + per image x batch + per dataset image x N is planted per pipeline, so every
prediction at the target has an exact expected value; the recommendation, the report, the plot
and the panel must give it, say how far it reaches beyond the sizes measured, and, where the N
term was not measured, say the peak cannot be predicted instead of reusing the sample's.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from workbench import analysis
from workbench.analysis.target import reach, settings_at
from workbench.config import DataSpec, ModelSpec, SweepConfig, format_bytes
from workbench.errors import ConfigError
from workbench.render import plots
from workbench.render.report import build_report, write_report
from workbench.results import ResultStore, TrialResult, load_results

from ..helpers import write_npy
from .test_analysis import MIB, trial_row

KB = 1000
FIXED, PER_IMAGE = 700 * MIB, 300 * KB
PER_DATASET = {"stream": 8000, "in_memory": 35000}  # outputs kept; in_memory also holds the array
SIZES, BATCHES = (1000, 2000, 4000), (1, 8, 32, 64)
GIB = 2**30


def planted(pipeline: str, batch: int, n: int) -> float:
    return float(FIXED + PER_IMAGE * batch + PER_DATASET[pipeline] * n)


def results(sizes=SIZES) -> pd.DataFrame:
    """in_memory is faster (so it wins on the sample) and holds 35 kB an image (so it loses at N)."""
    return pd.DataFrame([trial_row(p, "float32", b, images=n, host_peak_bytes=planted(p, b, n),
                                   throughput_ips=float(b) * (2.0 if p == "in_memory" else 1.0))
                         for p in PER_DATASET for n in sizes for b in BATCHES])


@pytest.mark.parametrize(("target", "sizes", "words"), [
    (1_200_000, [1000, 4000], "predicted at 1,200,000 images, 300x beyond the 4,000 measured: an extrapolation"),
    (16_000, [1000, 4000], "predicted at 16,000 images, 4x the 4,000 measured"),  # 4x is not yet "beyond"
    (17_000, [1000, 4000], "predicted at 17,000 images, 4.2x beyond the 4,000 measured: an extrapolation"),
    (2_500, [1000, 4000], "predicted at 2,500 images, within the sizes measured (1,000-4,000)"),
    (500, [1000, 4000], "predicted at 500 images, below the smallest size measured (1,000)"),
    (4000, [1000, 4000], "at 4,000 images, a size measured"),
])
def test_reach_says_how_far_a_prediction_goes_beyond_the_sizes_measured(target, sizes, words):
    assert reach(target, sizes) == words


def test_each_setting_is_predicted_at_the_target_from_the_planted_terms():
    df, target = results(), 100_000
    budget = 3 * GIB
    at = settings_at(df, target, host_budget_bytes=budget, margin=0.1)
    assert len(at) == 2 * len(BATCHES) and set(at["images"]) == {4000}  # the settings measured at the largest size
    for _, row in at.iterrows():
        expected = planted(row["pipeline"], int(row["batch_size"]), target)
        assert row["predicted_host_bytes"] == pytest.approx(expected, rel=1e-9)
        assert bool(row["fits"]) == (expected <= budget * 0.9)
    # in_memory needs 35 kB x 100,000 = 3.3 GB more: none of it fits; stream's 0.8 GB does.
    assert set(at.loc[at["fits"], "pipeline"]) == {"stream"}


def test_the_recommendation_changes_when_it_answers_for_the_target():
    df, budget = results(), 3 * GIB
    sample = analysis.recommend(df, host_budget_bytes=budget)
    assert sample.label() == "batch 64, float32, in_memory" and sample.target_images is None
    at = analysis.recommend(df, host_budget_bytes=budget, target_images=100_000)
    assert at.label() == "batch 64, float32, stream" and at.target_images == 100_000
    predicted = planted("stream", 64, 100_000)
    assert at.row["predicted_host_bytes"] == pytest.approx(predicted, rel=1e-9)
    assert f"predicted peak host {format_bytes(predicted)} at 100,000 images of your 3.00 GiB budget" in at.reason
    assert f"(measured {format_bytes(planted('stream', 64, 4000))} at 4,000)" in at.reason
    assert "predicted at 100,000 images, 25x beyond the 4,000 measured: an extrapolation" in at.notes
    # The largest batch at the target is the planted line solved for the limit.
    largest = math.floor((budget * 0.9 - FIXED - PER_DATASET["stream"] * 100_000) / PER_IMAGE)
    assert any(f"at 100,000 images is {largest:,} (" in n for n in at.notes), at.notes
    assert any(n.startswith("4 of 8 settings measured are predicted not to fit") and "in_memory" in n
               for n in at.notes), at.notes
    assert json.loads(json.dumps(at.to_dict()))["target_images"] == 100_000


def test_a_target_that_was_measured_is_answered_from_the_measurement():
    df = results()
    rec = analysis.recommend(df[df["batch_size"] != 64], host_budget_bytes=3 * GIB, target_images=2000)
    assert rec.label() == "batch 32, float32, in_memory"
    assert f"peak host {format_bytes(planted('in_memory', 32, 2000))} at 2,000 images of your 3.00 GiB budget (measured)" in rec.reason
    assert "at 2,000 images, a size measured" in rec.notes


def test_nothing_predicted_to_fit_names_the_least_and_the_target():
    rec = analysis.recommend(results(), host_budget_bytes=GIB, target_images=1_200_000)
    assert rec.row is None
    least = planted("stream", 1, 1_200_000)
    assert rec.reason == (f"nothing is predicted to fit 90 % of your 1.00 GiB host budget at 1,200,000 images: the "
                          f"least predicted was {format_bytes(least)} (batch 1, float32, stream); try a larger "
                          "budget, a smaller batch, the stream pipeline, or a smaller job")


def test_one_size_measured_says_the_peak_at_the_target_cannot_be_predicted():
    df = results(sizes=(600,))
    rec = analysis.recommend(df, host_budget_bytes=64 * GIB, target_images=1_200_000)
    # Every sample peak is far under 64 GiB, but the sample's peak does not hold for the job.
    assert rec.row is None and rec.candidates == 0
    assert rec.reason.startswith("nothing to recommend at 1,200,000 images: the peak of cnn · ")
    assert "every trial predicted 600 images" in rec.reason and "--images 150,300,600" in rec.reason
    assert len([n for n in rec.notes if "cannot be predicted" in n]) == 1  # the other series
    # Without a budget the best measured is named, and its peak at the target is not guessed.
    free = analysis.recommend(df, target_images=1_200_000)
    assert free.label() == "batch 64, float32, in_memory"
    assert "peak host at 1,200,000 images cannot be predicted (measured" in free.reason
    assert math.isnan(free.to_dict()["row"]["predicted_host_bytes"] or math.nan)


@pytest.mark.parametrize("bad", [0, -5, "1.5M", "many"])
def test_a_bad_target_is_refused(bad):
    with pytest.raises(ConfigError, match="target images"):
        analysis.recommend(results(), target_images=bad)


# ---------------------------------------------------------------- the plot


def test_peak_vs_images_draws_points_the_fitted_line_and_the_target():
    df, target = results(), 100_000
    ax = plots.memory_vs_images(df, target_images=target, budget_bytes=4 * GIB, margin=0.1)
    lines = {ln.get_gid(): ln for ln in ax.get_lines()}
    assert ax.get_ylabel() == "peak host memory (GiB)"  # in_memory reaches 3.95 GiB at the target
    div = 2**30
    measured = lines["measured:in_memory · float32"]
    assert list(measured.get_xdata()) == list(SIZES)
    assert list(measured.get_ydata()) == pytest.approx([planted("in_memory", 64, n) / div for n in SIZES])
    star = lines["predicted:stream · float32"]
    assert list(star.get_xdata()) == [target]
    assert star.get_ydata()[0] == pytest.approx(planted("stream", 64, target) / div)
    ext = lines["extrapolated:stream · float32"]
    x, y = np.asarray(ext.get_xdata()), np.asarray(ext.get_ydata())
    assert x[0] == pytest.approx(4000) and x[-1] == pytest.approx(target)
    assert y == pytest.approx([planted("stream", 64, int(v)) / div for v in x], rel=1e-6)
    assert list(lines["target"].get_xdata()) == [target, target]
    assert lines["budget"].get_ydata()[0] == pytest.approx(4 * GIB / div)
    assert ax.get_xscale() == "log"  # 1,000 to 100,000 images
    assert "batch 64" in ax.get_title() and "not-measured" not in {t.get_gid() for t in ax.texts}


def test_peak_vs_images_where_the_n_term_was_not_measured():
    df = pd.concat([results()[lambda d: d["pipeline"] == "stream"],
                    results(sizes=(600,))[lambda d: d["pipeline"] == "in_memory"]])
    ax = plots.memory_vs_images(df, target_images=16_000)
    gids = {ln.get_gid() for ln in ax.get_lines()}
    assert "predicted:stream · float32" in gids and "predicted:in_memory · float32" not in gids
    assert "extrapolated:in_memory · float32" not in gids and "measured:in_memory · float32" in gids
    words = [t.get_text() for t in ax.texts if t.get_gid() == "not-measured"]
    assert len(words) == 1 and "cannot predict at 16,000 images" in words[0] and "in_memory" in words[0]
    assert ax.get_xscale() == "log"  # 600 to 16,000 images: 27x


# ---------------------------------------------------------------- the report


def write_sweep(out, df: pd.DataFrame, sweep: SweepConfig) -> None:
    store = ResultStore(out)
    store.ensure_header(sweep.to_dict(), env={})
    for i, row in df.iterrows():
        r = TrialResult(key=f"k{i}", model="cnn", dataset="d", pipeline=row["pipeline"], precision="float32",
                        batch_size=int(row["batch_size"]), images=int(row["images"]))
        r.host_peak_bytes, r.throughput_ips = row["host_peak_bytes"], row["throughput_ips"]
        store.append(r)


def test_report_answers_at_the_target(tmp_path):
    write_sweep(tmp_path, results(), SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=4000)))
    html = build_report(load_results(tmp_path), host_budget_bytes=3 * GIB, target_images=100_000)
    section = re.search(r'<section id="target">(.*?)</section>', html, re.S).group(1)
    assert "At your size: 100,000 images" in section and "the target you gave" in section
    assert "predicted at 100,000 images, 25x beyond the 4,000 measured: an extrapolation" in section
    stream = format_bytes(planted("stream", 64, 100_000))
    assert f"<td>stream · float32 · batch 64</td><td class=\"num\">{format_bytes(planted('stream', 64, 4000))} at 4,000</td><td class=\"num\">{stream}</td><td>yes</td>" in section
    assert "<td>in_memory · float32 · batch 64</td>" in section and "<td>no</td>" in section
    assert "batch 64, float32, stream" in html  # the recommendation is for the target too
    assert "Peak host memory vs number of images: stream" in html and "Peak host memory vs number of images: in_memory" in html


def test_report_target_defaults_to_the_sweeps_then_to_the_npy_count(tmp_path):
    npy = tmp_path / "images.npy"
    write_npy(npy, 5000, size=8)
    df = results()
    write_sweep(tmp_path / "a", df, SweepConfig(model=ModelSpec("tiny"), data=DataSpec("npy", path=str(npy)),
                                                target_images=1_200_000))
    assert "At your size: 1,200,000 images" in write_report(tmp_path / "a").read_text()
    write_sweep(tmp_path / "b", df, SweepConfig(model=ModelSpec("tiny"), data=DataSpec("npy", path=str(npy))))
    html = write_report(tmp_path / "b").read_text()
    assert "At your size: 5,000 images" in html and "the full count of npy:images.npy" in html
    assert "predicted at 5,000 images, 1.2x the 4,000 measured" in html
    # The given target wins; synthetic data without one answers for the largest size measured.
    assert "At your size: 7,000 images" in write_report(tmp_path / "b", target_images=7000).read_text()
    write_sweep(tmp_path / "c", df, SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic")))
    assert 'id="target"' not in write_report(tmp_path / "c").read_text()


def test_report_where_the_n_term_was_not_measured(tmp_path):
    write_sweep(tmp_path, results(sizes=(600,)), SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic")))
    html = build_report(load_results(tmp_path), host_budget_bytes=64 * GIB, target_images=1_200_000)
    assert "nothing to recommend at 1,200,000 images" in html
    assert html.count("<td class=\"num\">cannot be predicted</td>") == 2 * len(BATCHES)
    assert "every trial predicted 600 images" in html


@pytest.mark.parametrize("target", [None, 100_000])
def test_no_objective_measured_and_no_budget_says_so_in_one_line(target):
    """Every throughput missing and no budget: once a pandas "all NA" error at the target."""
    df = results().assign(throughput_ips=np.nan)
    rec = analysis.recommend(df, target_images=target)
    assert rec.row is None
    assert rec.reason.startswith("nothing to recommend for throughput: no finished trial measured it")
    assert "n/a" not in rec.reason
