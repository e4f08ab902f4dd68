"""Plots assert on what they draw: line data, markers, labels, units."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from workbench import analysis
from workbench.render import plots

from .test_analysis import GB, MIB, frame, trial_row


def sweep_df():
    """Two series; in_memory/float32 runs out of memory at 256, batch_loop goes over budget."""
    rows = []
    for b, tput, peak in ((1, 50.0, 600), (16, 400.0, 640), (64, 900.0, 760)):
        rows.append(trial_row("in_memory", "float32", b, throughput_ips=tput, host_peak_bytes=peak * MIB,
                              latency_p50_s=b / tput, latency_p90_s=1.2 * b / tput, latency_p99_s=1.5 * b / tput,
                              top1_agreement=1.0, accuracy=0.9, drift_max_abs=0.0))
        rows.append(trial_row("batch_loop", "mixed_bfloat16", b, throughput_ips=tput * 1.5,
                              host_peak_bytes=(peak - 20) * MIB, latency_p50_s=b / tput / 1.5,
                              latency_p90_s=b / tput, latency_p99_s=2 * b / tput,
                              top1_agreement=0.98, accuracy=0.88, drift_max_abs=0.01))
    rows.append(trial_row("in_memory", "float32", 256, status="oom"))
    rows.append(trial_row("batch_loop", "mixed_bfloat16", 256, status="over_budget", host_peak_bytes=1001 * MIB))
    rows.append(trial_row("batch_loop", "mixed_bfloat16", 512, status="timeout"))
    return frame(rows)


def line(ax, label=None, gid=None):
    found = [ln for ln in ax.get_lines() if (label is None or ln.get_label() == label) and (gid is None or ln.get_gid() == gid)]
    assert len(found) == 1, [(ln.get_label(), ln.get_gid()) for ln in ax.get_lines()]
    return found[0]


def test_throughput_lines_hold_the_measured_values_and_failures_are_marked():
    ax = plots.throughput_vs_batch(sweep_df())
    f32 = line(ax, "in_memory · float32")
    assert f32.get_xdata().tolist() == [1, 16, 64]
    assert f32.get_ydata().tolist() == [50.0, 400.0, 900.0]
    assert line(ax, "batch_loop · mixed_bfloat16").get_ydata().tolist() == [75.0, 600.0, 1350.0]
    oom = line(ax, gid="failed:oom:unmeasured")  # no throughput: drawn along the top of the axes
    assert oom.get_xdata().tolist() == [256] and oom.get_marker() == "X"
    assert line(ax, gid="failed:over_budget:unmeasured").get_marker() == "^"
    assert line(ax, gid="failed:timeout:unmeasured").get_xdata().tolist() == [512]
    assert ax.get_ylabel() == "throughput (images/s)"
    assert ax.get_xlabel() == "batch size (images)"
    assert ax.get_xscale() == "log"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "out of memory (oom)" in legend and "timeout (timeout)" in legend


def test_host_memory_in_mib_with_budget_line_and_failures_at_their_peak():
    ax = plots.memory_vs_batch(sweep_df(), kind="host", budget_bytes=1000 * MIB)
    assert ax.get_ylabel() == "peak host memory (MiB)"
    assert line(ax, "in_memory · float32").get_ydata().tolist() == [600, 640, 760]
    budget = line(ax, gid="budget")
    assert list(budget.get_ydata()) == [1000, 1000]
    assert budget.get_label() == "budget 1000 MiB"
    assert not [ln for ln in ax.get_lines() if ln.get_gid() == "margin"]
    with_margin = plots.memory_vs_batch(sweep_df(), budget_bytes=1000 * MIB, margin=0.1)
    assert list(line(with_margin, gid="margin").get_ydata()) == pytest.approx([900, 900])
    over = line(ax, gid="failed:over_budget")  # the peak seen when it was stopped
    assert over.get_xdata().tolist() == [256] and over.get_ydata().tolist() == [1001]
    assert line(ax, gid="failed:oom:unmeasured").get_xdata().tolist() == [256]


def test_memory_switches_to_gib_for_large_figures():
    df = frame([trial_row(batch=b, host_peak_bytes=b * GB) for b in (1, 2, 4)])
    ax = plots.memory_vs_batch(df, budget_bytes=3 * 2**30)
    assert ax.get_ylabel() == "peak host memory (GiB)"
    assert line(ax, gid="budget").get_ydata()[0] == pytest.approx(3.0)
    assert line(ax, "in_memory · float32").get_ydata()[-1] == pytest.approx(4 * GB / 2**30)


def test_gpu_memory_not_measured_says_so():
    ax = plots.memory_vs_batch(sweep_df(), kind="gpu")
    assert [t.get_text() for t in ax.texts] == [plots.NOT_MEASURED_GPU]
    assert ax.get_lines() == []


def test_gpu_memory_with_figures():
    df = sweep_df()
    df["gpu_peak_bytes"] = df["host_peak_bytes"] / 2  # fake GPU figures: no GPU on this machine
    ax = plots.memory_vs_batch(df, kind="gpu", budget_bytes=400 * MIB)
    assert ax.get_ylabel() == "peak GPU memory (MiB)"
    assert line(ax, "in_memory · float32").get_ydata().tolist() == [300, 320, 380]
    assert not ax.texts


def test_pareto_plot_highlights_the_frontier_and_the_recommendation():
    df = sweep_df()
    rec = analysis.recommend(df, host_budget_bytes=800 * MIB, margin=0.0)
    ax = plots.pareto_plot(df, recommendation=rec)
    front = analysis.pareto_frontier(df)
    pareto = line(ax, gid="pareto")
    assert pareto.get_xdata().tolist() == (front["host_peak_bytes"] / MIB).tolist()
    assert pareto.get_ydata().tolist() == front["throughput_ips"].tolist()
    star = line(ax, gid="recommended")
    assert star.get_marker() == "*"
    assert star.get_xdata().tolist() == [rec.row["host_peak_bytes"] / MIB]
    assert star.get_ydata().tolist() == [rec.row["throughput_ips"]] == [1350.0]
    assert star.get_label() == "recommended: batch 64, mixed_bfloat16"
    assert ax.get_xlabel() == "peak host memory (MiB)"
    assert ax.get_ylabel() == "throughput (images/s)"


def test_latency_percentiles_in_ms():
    ax = plots.latency_vs_batch(sweep_df())
    p50 = line(ax, gid="in_memory · float32 p50")
    assert np.allclose(p50.get_ydata(), [1e3 * b / t for b, t in ((1, 50), (16, 400), (64, 900))])
    p99 = line(ax, gid="in_memory · float32 p99")
    assert np.allclose(p99.get_ydata(), [1.5e3 * b / t for b, t in ((1, 50), (16, 400), (64, 900))])
    assert p99.get_linewidth() < p50.get_linewidth() and p99.get_color() == p50.get_color()
    assert ax.get_ylabel() == "latency per batch (ms)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:5] == ["batch_loop · mixed_bfloat16", "in_memory · float32", "p50", "p90", "p99"]


def test_colour_is_the_pipeline_and_line_style_the_precision():
    df = frame([trial_row(pipe, prec, b, throughput_ips=1.0 + b)
                for pipe in ("in_memory", "stream") for prec in ("float32", "mixed_bfloat16") for b in (1, 2)])
    lines = {ln.get_label(): ln for ln in plots.throughput_vs_batch(df).get_lines()}
    assert lines["in_memory · float32"].get_color() == lines["in_memory · mixed_bfloat16"].get_color()
    assert lines["in_memory · float32"].get_color() != lines["stream · float32"].get_color()
    assert lines["stream · float32"].get_linestyle() == "-"
    assert lines["stream · mixed_bfloat16"].get_linestyle() == ":"


def test_drift_bars_per_precision():
    ax = plots.drift_by_precision(sweep_df())
    top1 = [p for p in ax.patches if p.get_gid() == "top1"]
    acc = [p for p in ax.patches if p.get_gid() == "accuracy"]
    assert [p.get_height() for p in top1] == pytest.approx([100.0, 98.0])
    assert [p.get_height() for p in acc] == pytest.approx([90.0, 88.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["float32", "mixed_bfloat16"]
    assert ax.get_ylabel() == "images (%)"
    assert "max |diff| 0.01" in [t.get_text() for t in ax.texts]


def test_drift_not_measured():
    df = frame([trial_row(batch=1, throughput_ips=1.0)])
    ax = plots.drift_by_precision(df)
    assert "no drift measured" in ax.texts[0].get_text() and not ax.patches


def test_draws_on_the_given_axes():
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert plots.throughput_vs_batch(sweep_df(), ax=axes[1]) is axes[1]
    assert not axes[0].get_lines() and axes[1].get_lines()


def test_several_models_get_their_own_series():
    df = frame([trial_row(batch=b, model=m, throughput_ips=float(b)) for m in ("a", "b") for b in (1, 2)])
    labels = [ln.get_label() for ln in plots.throughput_vs_batch(df).get_lines()]
    assert labels == ["a · in_memory · float32", "b · in_memory · float32"]


def test_plots_never_touch_pyplot():
    """Thread-safe in the panel: drawing must not import pyplot (its global figure state)."""
    code = (
        "import sys; from tests.unit.test_plots import sweep_df; from workbench.render import plots;"
        "df = sweep_df(); [f(df) for f in (plots.throughput_vs_batch, plots.memory_vs_batch,"
        " plots.pareto_plot, plots.latency_vs_batch, plots.drift_by_precision)];"
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_figure_is_not_drawn_as_zero():
    df = frame([trial_row(batch=1, throughput_ips=10.0, host_peak_bytes=math.nan),
                trial_row(batch=2, throughput_ips=20.0, host_peak_bytes=700 * MIB)])
    ys = line(plots.memory_vs_batch(df), "in_memory · float32").get_ydata()
    assert math.isnan(ys[0]) and ys[1] == 700
