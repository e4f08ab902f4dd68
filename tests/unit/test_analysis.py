"""Pareto frontier, recommendation and memory model on hand-built results with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from workbench import analysis
from workbench.config import format_bytes
from workbench.errors import ConfigError
from workbench.results import COLUMNS

MIB = 2**20
GB = 10**9


def trial_row(pipeline="in_memory", precision="float32", batch=1, status="ok", *, model="cnn", **figures) -> dict:
    """One results row as load_results gives it: every column, NaN where not measured."""
    row = {c: math.nan for c in COLUMNS}
    row.update(model=model, dataset="synthetic:256", pipeline=pipeline, precision=precision,
               batch_size=batch, status=status, error=None if status == "ok" else f"{status} here")
    row.update(figures)
    return row


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def budget_table() -> pd.DataFrame:
    """float32 and mixed_bfloat16 at batch 32/64/128 with a 2 GB budget (1.8 GB after the margin).

    mixed_bfloat16 at batch 64 is 1.8x float32 at batch 64 and fits; at 128 it went over budget;
    float32 at 128 fits the budget but not the margin.
    """
    rows = [
        trial_row(precision="float32", batch=32, throughput_ips=100.0, latency_p50_s=0.30, host_peak_bytes=0.9 * GB),
        trial_row(precision="float32", batch=64, throughput_ips=120.0, latency_p50_s=0.50, host_peak_bytes=1.3 * GB),
        trial_row(precision="float32", batch=128, throughput_ips=130.0, latency_p50_s=0.90, host_peak_bytes=1.9 * GB),
        trial_row(precision="mixed_bfloat16", batch=32, throughput_ips=180.0, latency_p50_s=0.20,
                  host_peak_bytes=0.8 * GB, top1_agreement=0.995),
        trial_row(precision="mixed_bfloat16", batch=64, throughput_ips=216.0, latency_p50_s=0.29,
                  host_peak_bytes=1.2 * GB, top1_agreement=0.99),
        trial_row(precision="mixed_bfloat16", batch=128, status="over_budget", host_peak_bytes=2.01 * GB),
    ]
    return frame(rows)


def test_pareto_frontier_keeps_only_undominated_ok_trials_sorted_by_memory():
    df = frame([
        trial_row(batch=1, host_peak_bytes=100.0, throughput_ips=10.0),   # beaten by batch 2 (same memory)
        trial_row(batch=2, host_peak_bytes=100.0, throughput_ips=12.0),
        trial_row(batch=3, host_peak_bytes=150.0, throughput_ips=5.0),    # more memory, less speed
        trial_row(batch=4, host_peak_bytes=200.0, throughput_ips=30.0),
        trial_row(batch=5, host_peak_bytes=300.0, throughput_ips=25.0),
        trial_row(batch=6, host_peak_bytes=300.0, throughput_ips=40.0),
        trial_row(batch=7, status="oom", host_peak_bytes=50.0),           # failed: never on it
        trial_row(batch=8, host_peak_bytes=math.nan, throughput_ips=99.0),  # memory unknown
    ])
    front = analysis.pareto_frontier(df)
    assert front["batch_size"].tolist() == [2, 4, 6]
    assert front["host_peak_bytes"].is_monotonic_increasing
    assert front["throughput_ips"].is_monotonic_increasing


def test_pareto_frontier_on_gpu_memory_column():
    df = frame([
        trial_row(batch=1, gpu_peak_bytes=300.0, throughput_ips=10.0),
        trial_row(batch=2, gpu_peak_bytes=200.0, throughput_ips=20.0),
        trial_row(batch=3, gpu_peak_bytes=400.0, throughput_ips=30.0),
    ])
    assert analysis.pareto_frontier(df, memory_col="gpu_peak_bytes")["batch_size"].tolist() == [2, 3]


def test_recommend_throughput_under_budget_names_the_gain_and_what_went_over():
    rec = analysis.recommend(budget_table(), host_budget_bytes=2 * GB)
    assert rec.row is not None
    assert (rec.row["batch_size"], rec.row["precision"]) == (64, "mixed_bfloat16")
    assert rec.candidates == 4  # float32 at 128 (1.9 GB) is outside the 10 % margin
    assert rec.reason.startswith("batch 64, mixed_bfloat16, in_memory: 1.8x the throughput of float32 at batch 64")
    assert f"peak host {format_bytes(1.2 * GB)} of your {format_bytes(2 * GB)} budget" in rec.reason
    assert rec.reason.endswith("batch 128 went over budget")
    assert any("99.0 %" in note for note in rec.notes)  # drift is part of the decision
    assert (f"2 of 6 trials did not fit the budget less the 10 % margin: batch 128, mixed_bfloat16, "
            f"in_memory (over_budget); batch 128, float32, in_memory ({format_bytes(1.9 * GB)})") in rec.notes
    json.dumps(rec.to_dict(), allow_nan=False)


def test_recommend_margin_decides_and_is_explained():
    df = budget_table()
    df = df[df["precision"] == "float32"]
    rec = analysis.recommend(df, host_budget_bytes=2 * GB, margin=0.1)
    assert rec.row["batch_size"] == 64
    assert "batch 128 (" in rec.reason and "fit the budget but not the 10 % margin" in rec.reason
    assert analysis.recommend(df, host_budget_bytes=2 * GB, margin=0.0).row["batch_size"] == 128


def test_recommend_latency_and_memory_objectives():
    df = budget_table()
    latency = analysis.recommend(df, host_budget_bytes=2 * GB, objective="latency")
    assert (latency.row["batch_size"], latency.row["precision"]) == (32, "mixed_bfloat16")
    assert "median batch latency 200.0 ms" in latency.reason
    memory = analysis.recommend(df, host_budget_bytes=2 * GB, objective="memory")
    assert memory.row["host_peak_bytes"] == 0.8 * GB
    assert "the least memory of the 4 settings that fit" in memory.reason


def test_recommend_without_budget_takes_the_best_measured():
    rec = analysis.recommend(budget_table())
    assert (rec.row["batch_size"], rec.row["precision"]) == (64, "mixed_bfloat16")
    assert any("no memory budget" in n for n in rec.notes)


def test_recommend_nothing_fits_says_so_and_what_to_try():
    rec = analysis.recommend(budget_table(), host_budget_bytes=0.5 * GB)
    assert rec.row is None and rec.candidates == 0
    assert rec.reason.startswith("nothing fits 90 % of your")
    assert format_bytes(0.8 * GB) in rec.reason  # the least measured
    assert "try a larger budget" in rec.reason
    assert rec.label() == "nothing fits"


def test_recommend_gpu_budget_without_gpu_figures_cannot_fit():
    rec = analysis.recommend(budget_table(), gpu_budget_bytes=8 * GB)
    assert rec.row is None
    assert "GPU memory was not measured" in rec.reason


def test_recommend_gpu_budget_uses_gpu_peaks():
    # Fake GPU figures (this machine has no GPU): the GPU budget must drive the choice.
    df = budget_table()
    df["gpu_peak_bytes"] = [1e9, 2e9, 4e9, 1e9, 3e9, math.nan]
    rec = analysis.recommend(df, gpu_budget_bytes=2.5 * GB)
    assert (rec.row["batch_size"], rec.row["precision"]) == (32, "mixed_bfloat16")
    assert f"peak gpu {format_bytes(1e9)} of your {format_bytes(2.5 * GB)} budget" in rec.reason


def test_recommend_all_failed():
    df = frame([trial_row(batch=1, status="error"), trial_row(batch=2, status="oom")])
    rec = analysis.recommend(df, host_budget_bytes=GB)
    assert rec.row is None and "no trial finished (1 error, 1 oom)" in rec.reason


@pytest.mark.parametrize("kwargs, words", [
    ({"objective": "speed"}, "unknown objective 'speed'"),
    ({"margin": 1.5}, "margin 1.5"),
    ({"host_budget_bytes": -5}, "host budget -5"),
])
def test_recommend_rejects_bad_input(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        analysis.recommend(budget_table(), **kwargs)


def test_memory_model_recovers_a_known_line_per_series():
    fixed, per = 500 * MIB, 2 * MIB
    rows = [trial_row(batch=b, host_peak_bytes=fixed + per * b) for b in (1, 8, 32, 128)]
    rows += [trial_row(precision="mixed_bfloat16", batch=b, host_peak_bytes=400 * MIB + MIB * b) for b in (1, 64)]
    rows.append(trial_row(batch=256, status="over_budget", host_peak_bytes=10 * fixed))  # a bound, not a peak
    rows.append(trial_row(pipeline="stream", batch=16, host_peak_bytes=300 * MIB))  # one point: unknown
    model = analysis.fit_memory_model(frame(rows)).set_index(["pipeline", "precision"])
    f32 = model.loc[("in_memory", "float32")]
    assert f32["fixed_bytes"] == pytest.approx(fixed, rel=1e-9)
    assert f32["per_image_bytes"] == pytest.approx(per, rel=1e-9)
    assert f32["r2"] == pytest.approx(1.0)
    assert (f32["n_points"], f32["min_batch"], f32["max_batch"]) == (4, 1, 128)
    bf16 = model.loc[("in_memory", "mixed_bfloat16")]
    assert bf16["per_image_bytes"] == pytest.approx(MIB) and bf16["fixed_bytes"] == pytest.approx(400 * MIB)
    stream = model.loc[("stream", "float32")]
    assert math.isnan(stream["fixed_bytes"]) and math.isnan(stream["per_image_bytes"]) and stream["n_points"] == 1


def test_memory_model_fit_on_noisy_points():
    rng = np.random.default_rng(0)
    batches = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256])
    peaks = 600 * MIB + 300_000 * batches + rng.normal(0, 2 * MIB, len(batches))
    fit = analysis.fit_memory_model(frame([trial_row(batch=int(b), host_peak_bytes=float(p))
                                           for b, p in zip(batches, peaks, strict=True)])).iloc[0]
    assert fit["per_image_bytes"] == pytest.approx(300_000, rel=0.05)
    assert fit["fixed_bytes"] == pytest.approx(600 * MIB, rel=0.01)
    assert 0.95 < fit["r2"] < 1.0


def test_max_batch_for_budget():
    fixed, per = 500 * MIB, 2 * MIB
    assert analysis.max_batch_for_budget(fixed, per, 1000 * MIB, 0.1) == 200  # (900 - 500) / 2
    assert analysis.max_batch_for_budget(fixed, per, 1000 * MIB, 0.0) == 250
    assert analysis.max_batch_for_budget(fixed, per, 1000 * MIB + 1, 0.0) == 250
    assert analysis.max_batch_for_budget(fixed, per, 501 * MIB, 0.0) == 0  # not one image of room
    assert analysis.max_batch_for_budget(fixed, per, 400 * MIB) == 0  # the fixed part alone is over
    assert analysis.max_batch_for_budget(fixed, math.nan, 1000 * MIB) == 0  # unknown model
    assert analysis.max_batch_for_budget(fixed, -5.0, 1000 * MIB, cap=4096) == 4096  # no growth
    # The prediction is exactly the largest batch whose modelled peak is under the limit.
    best = analysis.max_batch_for_budget(fixed, per, 1000 * MIB)
    assert analysis.predict_peak(fixed, per, best) <= 900 * MIB < analysis.predict_peak(fixed, per, best + 1)


def test_a_setting_whose_repeated_passes_creep_over_the_budget_is_not_recommended():
    """The one-pass peak fits, but the peak over every timed pass (what a program calling
    predict again and again reaches) does not: the budget must hold for the latter."""
    df = pd.DataFrame([
        trial_row(batch=32, throughput_ips=100.0, host_peak_bytes=0.9 * GB, host_peak_all_bytes=0.9 * GB),
        trial_row(batch=64, throughput_ips=150.0, host_peak_bytes=1.5 * GB, host_peak_all_bytes=1.95 * GB),
    ])
    rec = analysis.recommend(df, host_budget_bytes=2 * GB)
    assert rec.row is not None and rec.row["batch_size"] == 32
    df.loc[1, "host_peak_all_bytes"] = 1.6 * GB  # creeps, but stays inside the margin
    assert analysis.recommend(df, host_budget_bytes=2 * GB).row["batch_size"] == 64
