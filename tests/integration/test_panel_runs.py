"""The panel running real trials: Cancel, a failed trial, a search, a whole sweep.

Driven from Python like tests/unit/test_panel.py, but each test starts real trial processes;
the cheap ones are stopped early (a host budget the worker passes while importing TensorFlow,
or Cancel), and one slow test runs two complete trials of the tiny model.
"""

from __future__ import annotations

import sys
import time

import psutil
import pytest

from workbench import load_results
from workbench.results import ResultStore

from ..helpers import make_panel, trial_processes, wait_for


def is_png(image) -> bool:
    return bytes(image.value).startswith(b"\x89PNG")


def test_cancel_stops_the_running_trial_within_a_second(tmp_path):
    wb = make_panel(tmp_path, batch_sizes="1,2,4", min_duration=30.0)
    wb.run_button.click()
    wait_for(lambda: trial_processes(), 30, "the trial process")
    assert wb.run_button.disabled and not wb.cancel_button.disabled and wb.jobs.busy
    assert "trial 1 of 3 running" in wb.status.value
    procs = trial_processes()
    t0 = time.monotonic()
    wb.cancel_button.click()
    assert wb.wait(5), "the sweep thread did not end"
    elapsed = time.monotonic() - t0
    assert elapsed < 1.5, f"Cancel took {elapsed:.2f} s"
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)
    assert "cancelled" in wb.status.value and "0 of 3" in wb.status.value
    assert not wb.run_button.disabled and wb.cancel_button.disabled
    assert ResultStore(tmp_path / "runs").results() == []  # nothing half-measured is stored


def over_budget() -> dict[str, str]:
    """Settings for a real over_budget trial in a few seconds: a budget 100 MiB above what the
    runtime holds before predicting (a lower one is refused before any trial), and data whose
    making passes it (20,000 synthetic 32x32 images: about 700 MiB while they are drawn)."""
    from workbench.engine.baseline import runtime_baseline_bytes

    return {"host_budget": str(runtime_baseline_bytes() + 100 * 2**20), "data": "synthetic:20000"}


def test_a_failed_trial_shows_in_table_plots_and_decision_at_once(tmp_path):
    wb = make_panel(tmp_path, **over_budget())
    t0 = time.monotonic()
    wb.run_button.click()
    assert time.monotonic() - t0 < 0.5 and wb.jobs.busy  # the kernel is free while it runs
    assert wb.wait(60)
    df = load_results(tmp_path / "runs")
    assert list(df["status"]) == ["over_budget"]
    assert "over_budget" in wb.results.table.value and '<tr class="status-over_budget">' in wb.results.table.value
    assert is_png(wb.results.throughput) and is_png(wb.results.host_memory) and is_png(wb.results.pareto)
    assert "No recommendation" in wb.results.recommendation.value
    assert wb.progress.value == 1 and "done: 1 of 1 trials (1 failed" in wb.status.value
    assert "not available" in wb.results.gpu_note.value  # no GPU here
    assert not wb.csv_button.disabled and "tensorflow" not in sys.modules


def test_search_reports_when_nothing_fits(tmp_path):
    wb = make_panel(tmp_path, **over_budget())
    wb.search_button.click()
    assert wb.wait(90)
    assert "no batch size fits" in wb.status.value, wb.status.value
    df = load_results(tmp_path / "runs")
    assert list(df["batch_size"]) == [1] and list(df["status"]) == ["over_budget"]
    assert "over_budget" in wb.results.table.value


@pytest.mark.slow
def test_run_sweep_then_decide_export_and_reopen(tmp_path):
    wb = make_panel(tmp_path, batch_sizes="4,16")
    wb.run_button.click()
    assert wb.wait(180), "sweep did not finish"
    assert "done: 2 of 2 trials (0 failed" in wb.status.value, wb.status.value
    df = load_results(tmp_path / "runs")
    assert list(df["status"]) == ["ok", "ok"]
    assert wb.results.table.value.count('<tr class="status-ok">') == 2  # two trials
    for img in (wb.results.throughput, wb.results.host_memory, wb.results.pareto):
        assert is_png(img) and img.layout.display is None

    # No budget: the best throughput wins.
    best = df.loc[df["throughput_ips"].idxmax()]
    assert wb.results.decision.row["batch_size"] == best["batch_size"]
    assert "Recommended" in wb.results.recommendation.value
    # A budget that only the smaller peak fits, set afterwards: the decision follows, no re-run.
    # (A budget holds for the larger of the one-pass and the all-passes peak.)
    wb.margin.value = 0.0
    worst = df[["host_peak_bytes", "host_peak_all_bytes"]].max(axis=1)
    wb.form.host_budget.value = f"{int(worst.min())}"
    row = wb.results.decision.row
    assert row is not None and max(row["host_peak_bytes"], row["host_peak_all_bytes"]) <= worst.min()
    wb.form.host_budget.value = "1MB"
    assert wb.results.decision.row is None and "No recommendation" in wb.results.recommendation.value
    assert len(ResultStore(tmp_path / "runs").results()) == 2

    wb.csv_button.click()
    csv = tmp_path / "runs" / "results.csv"
    assert csv.exists() and len(csv.read_text().strip().splitlines()) == 3
    assert "results.csv" in wb.links.value
    wb.report_button.click()
    reports = [p for p in (tmp_path / "runs").glob("*.html")]
    assert reports and "<html" in reports[0].read_text().lower()
    assert reports[0].name in wb.links.value

    # A fresh panel opens the folder without running anything.
    before = (tmp_path / "runs" / "results.jsonl").read_bytes()
    again = make_panel(tmp_path)
    again.open_button.click()
    assert "opened" in again.status.value and again.results.table.value == wb.results.table.value
    assert is_png(again.results.pareto) and not again.jobs.busy
    assert (tmp_path / "runs" / "results.jsonl").read_bytes() == before and trial_processes() == []


@pytest.mark.slow
def test_export_job_script_writes_the_recommended_setting(tmp_path):
    import ast

    import numpy as np

    data = tmp_path / "images.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, size=(64, 32, 32, 3), dtype=np.uint8))
    wb = make_panel(tmp_path, data=str(data), batch_sizes="4,8", pipelines="stream_to_disk")
    assert wb.script_button.disabled  # nothing measured yet
    wb.run_button.click()
    assert wb.wait(180), "sweep did not finish"
    assert not wb.script_button.disabled
    row = wb.results.decision.row
    path = wb.export_script()
    text = path.read_text()
    ast.parse(text)  # a whole Python script
    assert path == tmp_path / "runs" / "job.py" and "predictions.npy" in text and "images.npy" in text
    assert f"'batch_size': {int(row['batch_size'])}," in text and "'pipeline': 'stream_to_disk'" in text, text[:3000]
    assert "job script" in wb.links.value and "eval(" not in text and "pickle" not in text
