"""The memory model with the dataset-size term, on synthetic results with exactly known terms.

peak = fixed + per image x batch + per dataset image x N: the fit must recover planted terms,
say "not measured" (NaN) when one N was measured, show its residuals, and fit a bent curve
only over the batch range where a line holds.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import workbench as wb
from workbench import analysis
from workbench.analysis.memory_model import STRAIGHT_TOLERANCE, peak_at
from workbench.errors import ConfigError
from workbench.render import plots

from .test_analysis import MIB, trial_row


def frame(rows: list[dict]) -> pd.DataFrame:
    """Results rows with every column they name (``images``, ``host_peak_all_bytes`` included)."""
    return pd.DataFrame(rows)

KB = 1000
FIXED, PER_IMAGE, PER_DATASET = 700 * MIB, 300 * KB, 6600  # runtime, activations, outputs + copies


def plane(batches=(1, 8, 32, 128), sizes=(1000, 4000, 16000), *, pipeline="stream", model="cnn",
          fixed=FIXED, per_image=PER_IMAGE, per_dataset=PER_DATASET, **extra) -> list[dict]:
    return [trial_row(pipeline, "float32", b, model=model, images=n,
                      host_peak_bytes=float(fixed + per_image * b + per_dataset * n), **extra)
            for n in sizes for b in batches]


def test_two_axis_fit_recovers_each_term_exactly():
    fit = analysis.fit_memory_model(frame(plane())).iloc[0]
    assert fit["fixed_bytes"] == pytest.approx(FIXED, rel=1e-9)
    assert fit["per_image_bytes"] == pytest.approx(PER_IMAGE, rel=1e-9)
    assert fit["per_dataset_image_bytes"] == pytest.approx(PER_DATASET, rel=1e-9)
    assert fit["r2"] == pytest.approx(1.0)
    assert (fit["n_points"], fit["min_batch"], fit["max_batch"]) == (12, 1, 128)
    assert (fit["min_images"], fit["max_images"]) == (1000, 16000)
    assert fit["max_residual_bytes"] < 1e-3 * MIB
    assert fit["note"] == ""


def test_terms_are_described_in_bytes_with_what_they_stand_for():
    fixed, per_image, per_dataset = analysis.describe_terms(analysis.fit_memory_model(frame(plane())).iloc[0])
    assert fixed.startswith("fixed 700.00 MiB: the runtime and the weights")
    assert per_image.startswith("per image of a batch 292.97 KiB (over batches 1-128): the input copy and activations")
    assert per_dataset.startswith("per dataset image 6.45 KiB (measured from 1,000 to 16,000 images): the outputs and data copies")


def test_one_dataset_size_leaves_the_n_term_not_measured_never_zero():
    df = frame(plane(sizes=(600,)))
    fit = analysis.fit_memory_model(df).iloc[0]
    assert math.isnan(fit["per_dataset_image_bytes"])
    # The fixed part holds the 600 images' outputs and copies: it cannot be told apart.
    assert fit["fixed_bytes"] == pytest.approx(FIXED + PER_DATASET * 600, rel=1e-9)
    assert fit["per_image_bytes"] == pytest.approx(PER_IMAGE, rel=1e-9)
    assert "per dataset image not measured: every trial predicted 600 images" in fit["note"]
    assert "not measured (one dataset size at 600 images" in analysis.describe_terms(fit)[2]
    # At the size measured the answer is known; at any other it is not.
    at_600 = wb.predict_peak(df, pipeline="stream", precision="float32", batch_size=256, images=600)
    assert at_600 == pytest.approx(FIXED + PER_IMAGE * 256 + PER_DATASET * 600, rel=1e-9)
    assert math.isnan(wb.predict_peak(df, pipeline="stream", precision="float32", batch_size=256, images=1_200_000))


def test_results_without_a_size_column_say_the_size_is_unknown():
    df = frame([trial_row(batch=b, host_peak_bytes=float(FIXED + PER_IMAGE * b)) for b in (1, 8, 32)])
    fit = analysis.fit_memory_model(df).iloc[0]
    assert math.isnan(fit["per_dataset_image_bytes"]) and math.isnan(fit["min_images"])
    assert "the dataset size is unknown" in fit["note"]


def test_predict_peak_at_the_users_size_and_where_it_cannot_say():
    df = frame(plane() + plane(model="other", fixed=2 * FIXED))
    target = FIXED + PER_IMAGE * 64 + PER_DATASET * 1_200_000
    got = wb.predict_peak(df, pipeline="stream", precision="float32", batch_size=64, images=1_200_000, model="cnn")
    assert got == pytest.approx(target, rel=1e-9)
    with pytest.raises(ConfigError, match="several models"):
        wb.predict_peak(df, pipeline="stream", precision="float32", batch_size=64, images=1000)
    assert math.isnan(wb.predict_peak(df, pipeline="in_memory", precision="float32", batch_size=64,
                                      images=1000, model="cnn"))  # never measured
    # The older form, kept for existing callers: fixed + per image x batch.
    assert analysis.predict_peak(100.0, 2.0, 10) == 120.0


def test_one_batch_size_predicts_at_that_batch_only():
    df = frame(plane(batches=(64,)))
    fit = analysis.fit_memory_model(df).iloc[0]
    assert math.isnan(fit["per_image_bytes"])
    assert fit["per_dataset_image_bytes"] == pytest.approx(PER_DATASET, rel=1e-9)
    assert "per image of a batch not measured: every trial used batch 64" in fit["note"]
    assert peak_at(fit, 64, 64_000) == pytest.approx(FIXED + PER_IMAGE * 64 + PER_DATASET * 64_000, rel=1e-9)
    assert math.isnan(peak_at(fit, 128, 64_000))


def bent(batches=(1, 4, 16, 64, 256), dip=60 * MIB) -> list[dict]:
    """A straight line from batch 16 up; batches 1 and 4 sit ``dip`` below it (the curve bends)."""
    return [trial_row(batch=b, images=1000, host_peak_bytes=float(800 * MIB + MIB * b - (dip if b < 16 else 0)))
            for b in batches]


def test_a_bent_curve_is_fitted_over_the_batch_range_where_a_line_holds():
    df = frame(bent())
    fit = analysis.fit_memory_model(df).iloc[0]
    assert (fit["min_batch"], fit["max_batch"], fit["n_points"]) == (16, 256, 3)
    assert fit["per_image_bytes"] == pytest.approx(MIB, rel=1e-9)
    assert fit["fixed_bytes"] == pytest.approx(800 * MIB, rel=1e-9)
    assert "does not fit below batch 16" in fit["note"] and "fitted over batches 16-256" in fit["note"]
    residuals = analysis.memory_residuals(df)
    assert residuals["batch_size"].tolist() == [1, 4, 16, 64, 256]
    assert residuals["used"].tolist() == [False, False, True, True, True]
    assert residuals["residual_bytes"].tolist() == pytest.approx([-60 * MIB, -60 * MIB, 0, 0, 0], abs=1e-3 * MIB)
    assert (residuals["peak_bytes"] - residuals["predicted_bytes"]).tolist() == residuals["residual_bytes"].tolist()


def test_a_straight_line_or_a_small_bend_keeps_every_batch():
    for dip in (0.0, 0.5 * STRAIGHT_TOLERANCE * 800 * MIB):  # within tolerance: noise, not a bend
        fit = analysis.fit_memory_model(frame(bent(dip=dip))).iloc[0]
        assert (fit["min_batch"], fit["n_points"]) == (1, 5), dip
        assert "does not fit" not in fit["note"]


def test_the_batch_range_is_never_cut_below_three_sizes():
    fit = analysis.fit_memory_model(frame(bent(batches=(4, 16, 64)))).iloc[0]
    assert (fit["min_batch"], fit["n_points"]) == (4, 3)
    assert "misses a point by" in fit["note"]  # the fit says it is off, rather than hide it


def test_residuals_of_the_two_axis_fit():
    rows = plane()
    rows[5]["host_peak_bytes"] += 3 * MIB  # one point off the plane
    res = analysis.memory_residuals(frame(rows))
    assert len(res) == 12 and res["used"].all()
    assert res["residual_bytes"].abs().max() < 3 * MIB
    assert res["residual_bytes"].sum() == pytest.approx(0, abs=1e-3 * MIB)  # least squares with a constant
    assert res["images"].tolist() == [1000] * 4 + [4000] * 4 + [16000] * 4


def test_the_model_fits_the_budget_peak_by_default():
    rows = plane(sizes=(1000, 2000))
    for r in rows:  # every pass crept 50 MiB above the first
        r["host_peak_all_bytes"] = r["host_peak_bytes"] + 50 * MIB
    df = frame(rows)
    assert analysis.fit_memory_model(df).iloc[0]["fixed_bytes"] == pytest.approx(FIXED + 50 * MIB, rel=1e-9)
    one_pass = analysis.fit_memory_model(df, column="host_peak_bytes").iloc[0]
    assert one_pass["fixed_bytes"] == pytest.approx(FIXED, rel=1e-9)


def test_largest_batch_at_a_dataset_size():
    fit = analysis.fit_memory_model(frame(plane())).iloc[0]
    budget, images = 2 * 10**9, 100_000
    best = analysis.max_batch_at(fit, budget, images=images, margin=0.1)
    limit = budget * 0.9
    assert peak_at(fit, best, images) <= limit < peak_at(fit, best + 1, images)
    assert best == math.floor((limit - FIXED - PER_DATASET * images) / PER_IMAGE)
    assert analysis.max_batch_at(fit, budget, images=1_000_000) == 0  # the outputs alone are over
    one_size = analysis.fit_memory_model(frame(plane(sizes=(600,)))).iloc[0]
    assert analysis.max_batch_at(one_size, budget, images=100_000) is None  # cannot say
    assert analysis.max_batch_at(one_size, budget, images=600) == math.floor(
        (limit - FIXED - PER_DATASET * 600) / PER_IMAGE)
    # The older form still answers for the size measured.
    assert analysis.max_batch_for_budget(FIXED, PER_IMAGE, budget, 0.1) == math.floor((limit - FIXED) / PER_IMAGE)


def test_memory_plot_draws_the_largest_size_only_and_says_so():
    df = frame(plane(batches=(1, 8, 32), sizes=(1000, 16000)))
    ax = plots.memory_vs_batch(df)
    lines = [ln for ln in ax.get_lines() if ln.get_label() == "stream · float32"]
    assert len(lines) == 1
    expected = [(FIXED + PER_IMAGE * b + PER_DATASET * 16000) / MIB for b in (1, 8, 32)]
    assert lines[0].get_xdata().tolist() == [1, 8, 32]
    assert lines[0].get_ydata().tolist() == pytest.approx(expected)
    assert "16,000 images" in ax.get_title()


def test_recommendation_answers_for_the_largest_size():
    df = frame(plane(batches=(8, 32), sizes=(1000, 16000), throughput_ips=100.0))
    rec = analysis.recommend(df, host_budget_bytes=10**10)
    assert rec.row is not None and rec.row["images"] == 16000
    assert any("this answer is for the largest, 16,000 images" in n for n in rec.notes)


def test_budget_peak_is_the_larger_of_one_pass_and_all_passes():
    rows = [trial_row(host_peak_bytes=100.0, host_peak_all_bytes=150.0),
            trial_row(host_peak_bytes=200.0, host_peak_all_bytes=120.0),  # the all-passes figure lost: keep the larger
            trial_row(host_peak_bytes=90.0),
            trial_row(host_peak_all_bytes=80.0),
            trial_row()]
    df = frame(rows)
    got = analysis.budget_peak(df).tolist()
    assert got[:4] == [150.0, 200.0, 90.0, 80.0] and math.isnan(got[4])
    assert analysis.budget_peak({"host_peak_bytes": 100.0, "host_peak_all_bytes": 150.0}) == 150.0
    assert math.isnan(analysis.budget_peak({"host_peak_bytes": None}))
    result = wb.TrialResult(key="k", model="m", dataset="d", pipeline="stream", precision="float32", batch_size=1,
                            host_peak_bytes=10.0, host_peak_all_bytes=12.0)
    assert analysis.budget_peak(result) == 12.0
    gpu = frame([trial_row(gpu_peak_bytes=5.0, gpu_peak_all_bytes=7.0, gpu_device_peak_bytes=99.0),
                 trial_row(gpu_device_peak_bytes=99.0)])  # no allocator figure: NVML's
    assert analysis.budget_peak(gpu, "gpu").tolist() == [7.0, 99.0]
    with pytest.raises(ValueError, match="'host' or 'gpu'"):
        analysis.budget_peak(df, "disk")


def test_report_shows_each_term_and_the_largest_batch_at_the_largest_size():
    from workbench.render.report import build_report

    df = frame(plane(sizes=(1000, 16000), throughput_ips=100.0) + plane(pipeline="in_memory", sizes=(600,),
                                                                         throughput_ips=90.0))
    html = build_report(df, host_budget_bytes=2 * 10**9)
    assert "per dataset image" in html and "6.45 KiB" in html  # the stream series' N term
    limit = 2 * 10**9 * 0.9
    stream_best = math.floor((limit - FIXED - PER_DATASET * 16000) / PER_IMAGE)
    assert f"{stream_best} at 16,000 images" in html
    assert "not measured" in html and "every trial predicted 600 images" in html  # in_memory: one size
    in_memory_best = math.floor((limit - FIXED - PER_DATASET * 600) / PER_IMAGE)
    assert f"{in_memory_best} at 600 images" in html


def test_the_search_judges_probes_by_the_budget_peak(tmp_path):
    """One pass fits, the passes after it creep 100 MiB higher: the search must answer for the
    creep (the budget peak), not for the first pass."""
    from workbench.config import DataSpec, ModelSpec, TrialConfig
    from workbench.engine.search import search_batch

    fixed, per, creep = 600 * MIB, 1.5 * MIB, 100 * MIB
    budget = int((fixed + per * 200.5) / 0.9)  # one-pass peaks fit up to batch 200

    def probe(cfg):
        result = wb.TrialResult.for_trial(cfg)
        result.host_peak_bytes = fixed + per * cfg.batch_size
        result.host_peak_all_bytes = result.host_peak_bytes + creep
        return result

    template = TrialConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=4096))
    found = search_batch(template, tmp_path, host_budget_bytes=budget, probe=probe, max_probes=30)
    limit = budget * 0.9
    assert found.batch_size == math.floor((limit - fixed - creep) / per)  # 133, not 200
    assert all(p <= limit for (_, _, p), fits in zip(found.probes, found.fits, strict=True) if fits)
    assert all(p == fixed + per * b + creep for b, _, p in found.probes)  # the probes record the budget peak
