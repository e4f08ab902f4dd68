"""The panel driven from Python: set widget values, press buttons, check what it does.

Widgets work without a kernel (their messages go nowhere), so these tests exercise the same
callbacks a browser would. Trials are real processes; the cheap ones are stopped early (a host
budget the worker passes while importing TensorFlow, or Cancel), and one slow test runs two
complete trials of the tiny model.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import ipywidgets as W
import psutil
import pytest

from workbench import load_results
from workbench.config import TimingSpec
from workbench.results import ResultStore
from workbench.ui import Workbench, jobs
from workbench.ui.jobs import Job, JobRunner, Tally

from ..conftest import trial_processes

FAST = {"warmup_batches": 1, "min_batches": 2, "min_duration": 0.0, "drift_samples": 0}


def make(tmp_path: Path, **settings) -> Workbench:
    base = {"model": "tiny", "data": "synthetic:64", "batch_sizes": "8", "out": str(tmp_path / "runs"), **FAST}
    return Workbench(**{**base, **settings})


def error_groups(wb: Workbench) -> dict[str, str]:
    return {g: w.value for g, w in wb.form.messages.items() if w.value}


def is_png(image) -> bool:
    return bytes(image.value).startswith(b"\x89PNG")


def wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_settings_become_the_sweep_config(tmp_path):
    wb = make(tmp_path, batch_sizes="2,4", precisions="float32,mixed_bfloat16",
              pipelines="in_memory,batch_loop", host_budget="2GiB", timeout=30)
    cfg = wb.config()
    assert cfg.model.name == "tiny" and cfg.data.kind == "synthetic" and cfg.data.count == 64
    assert cfg.batch_sizes == (2, 4)
    assert cfg.precisions == ("float32", "mixed_bfloat16")
    assert cfg.pipelines == ("in_memory", "batch_loop")
    assert cfg.budget.host_bytes == 2 * 2**30 and cfg.budget.timeout_s == 30
    assert cfg.timing == TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0.0, drift_samples=0)
    assert "8 trials" in wb.plan.value
    assert not wb.run_button.disabled and wb.cancel_button.disabled
    assert error_groups(wb) == {}


def test_powers_of_two_and_data_pickers(tmp_path):
    wb = make(tmp_path)
    shown = {name for name, w in wb.form.controls().items() if w.layout.display != "none"}
    assert {"model", "data_count", "batch_sizes", "out", "host_budget"} <= shown
    assert not {"model_path", "allow_unsafe", "data_path", "batch_min", "batch_max"} & shown
    wb.form.batch_mode.value = "pow2"
    wb.form.batch_min.value, wb.form.batch_max.value = 3, 40
    assert wb.config().batch_sizes == (4, 8, 16, 32)
    wb.form.data_kind.value = "demo"
    assert wb.form.data_count.value == 0 and wb.config().data.kind == "demo" and wb.config().data.count is None
    wb.form.data_count.value = 20
    assert wb.config().data.count == 20
    npy = tmp_path / "x.npy"
    npy.write_bytes(b"")  # only its existence is checked before a trial runs
    wb.form.data_kind.value = "npy"
    wb.form.data_path.value = str(npy)
    assert wb.config().data.kind == "npy" and wb.config().data.path == str(npy)
    assert wb.form.data_path.layout.display is None and wb.form.data_count.layout.display == "none"
    assert wb.form.out.layout.display is None and wb.form.model_path.layout.display == "none"


@pytest.mark.parametrize(("control", "value", "group", "says"), [
    ("batch_list", "0,8", "batch_sizes", "0 is not allowed"),
    ("batch_list", "8,big", "batch_sizes", "'big' is not a whole number"),
    ("image_size", "huge", "image_size", "malformed"),
    ("host_budget", "lots", "host_budget", "malformed"),
    ("gpu_budget", "-1GB", "gpu_budget", "must be positive"),
    ("warmup_batches", 0, "timing", "at least 1 batch"),
    ("timeout", 0.0, "timing", "positive number of seconds"),
    ("out", "", "out", "give a folder"),
])
def test_a_bad_value_is_shown_next_to_its_control_and_blocks_run(tmp_path, control, value, group, says):
    wb = make(tmp_path)
    widget = getattr(wb.form, control)
    good = widget.value
    widget.value = value
    errors = error_groups(wb)
    assert list(errors) == [group] and says in errors[group]
    assert wb.run_button.disabled and wb.search_button.disabled
    widget.value = good
    assert error_groups(wb) == {} and not wb.run_button.disabled


def test_choices_that_conflict_are_explained(tmp_path):
    wb = make(tmp_path)
    wb.form.pipelines["in_memory"].value = False
    assert "choose at least one" in wb.form.messages["pipelines"].value and wb.run_button.disabled
    wb.form.pipelines["stream"].value = True  # synthetic images exist only in memory
    assert "stream pipeline reads images from disk" in wb.form.messages["pipelines"].value
    wb.form.pipelines["stream"].value, wb.form.pipelines["batch_loop"].value = False, True
    wb.form.precisions["float32"].value = False
    assert "precisions" in error_groups(wb)
    wb.form.precisions["mixed_float16"].value = True
    wb.form.model.value = "__file__"
    wb.form.model_path.value = str(tmp_path / "missing.keras")
    assert "does not exist" in wb.form.messages["model"].value
    (tmp_path / "notes.txt").write_text("not a model")
    wb.form.model_path.value = str(tmp_path / "notes.txt")
    assert "unsupported type" in wb.form.messages["model"].value
    wb.form.model.value = "xception"
    wb.form.image_size.value = "32"
    assert "at least 71x71" in wb.form.messages["image_size"].value
    wb.form.image_size.value = ""
    wb.form.batch_mode.value = "pow2"
    wb.form.batch_min.value, wb.form.batch_max.value = 5, 7
    assert "no power of two between 5 and 7" in wb.form.messages["batch_sizes"].value
    wb.form.batch_max.value = 9
    assert error_groups(wb) == {} and wb.config().precisions == ("mixed_float16",)


def test_a_gpu_budget_without_a_gpu_is_a_note_not_an_error(tmp_path):
    wb = make(tmp_path)
    wb.env = {**wb.env, "gpus": []}  # this machine's real state (CI has no GPU either)
    wb.form.gpu_budget.value = "8GB"
    assert "no GPU here" in wb.form.messages["gpu_budget"].value and "wb-error" not in wb.form.messages["gpu_budget"].value
    assert not wb.run_button.disabled and wb.config().budget.gpu_bytes == 8 * 10**9
    wb.env = {**wb.env, "gpus": [{"name": "a faked GPU", "memory_total_bytes": 2**34}]}  # a GPU is faked here
    wb.form.gpu_budget.value = "9GB"
    assert wb.form.messages["gpu_budget"].value == ""


def test_time_left_comes_from_the_trials_measured_so_far(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(jobs.time, "monotonic", lambda: clock[0])
    tally = Tally(total=5)
    assert "estimating" in tally.time_left()
    for seconds in (10.0, 14.0):  # two trials of 10 s and 14 s: 12 s a trial
        tally.start()
        clock[0] += seconds
        tally.end(ok=True)
    tally.end(ok=False, skipped=True)  # a resumed trial costs nothing and is not averaged
    assert (tally.done, tally.failed, tally.skipped) == (3, 1, 1)
    assert tally.time_left() == "about 24 s left"
    tally.start()
    clock[0] += 5.0  # 5 s into the next one: 2 trials x 12 s - 5 s
    assert tally.time_left() == "about 19 s left"
    assert tally.elapsed() == "29 s"
    assert [jobs.format_duration(s) for s in (59.4, 185, 3720)] == ["59 s", "3 min 05 s", "1 h 02 min"]


def test_unknown_setting_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="unknown setting.*batch_size"):
        Workbench(batch_size=8)


def test_user_mistakes_on_buttons_become_messages(tmp_path):
    wb = make(tmp_path)
    wb.open_button.click()  # nothing there yet: a message, not a traceback
    assert "no results in" in wb.form.messages["out"].value and "error" in wb.status.value
    wb.search_button.click()  # Search needs a budget
    assert "needs a host or GPU budget" in wb.form.messages["host_budget"].value
    assert not wb.jobs.busy and trial_processes() == []


def test_cancel_stops_the_running_trial_within_a_second(tmp_path):
    wb = make(tmp_path, batch_sizes="1,2,4", min_duration=30.0)
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


def test_cancel_lets_go_of_a_step_that_cannot_be_interrupted():
    # Starting the trial process server or training the demo model cannot be interrupted; a
    # body deaf to Cancel stands in for them here (the threads and widgets are real).
    status, details, busy = W.HTML(), W.HTML(), []
    runner = JobRunner(status, details, busy.append)
    release, ended = threading.Event(), []

    def deaf(job: Job) -> None:
        release.wait(10)
        ended.append("first")
        if job.live:
            status.value = "a late write from the first job"

    runner.start("first", deaf)
    time.sleep(0.2)
    t0 = time.monotonic()
    runner.request_cancel()
    assert runner.wait(3) and time.monotonic() - t0 < 1.6
    assert "cancelled before any trial process was running" in status.value and busy == [True, False]
    started = []
    runner.start("second", lambda job: started.append(job))
    time.sleep(0.3)
    assert started == [] and "wind down" in status.value  # it waits for the first to let go of the engine
    release.set()
    assert runner.wait(3) and ended == ["first"] and len(started) == 1
    assert "late write" not in status.value


def over_budget() -> dict[str, str]:
    """Settings for a real over_budget trial in a few seconds: a budget 100 MiB above what the
    runtime holds before predicting (a lower one is refused before any trial), and data whose
    making passes it (20,000 synthetic 32x32 images: about 700 MiB while they are drawn)."""
    from workbench.engine.baseline import runtime_baseline_bytes

    return {"host_budget": str(runtime_baseline_bytes() + 100 * 2**20), "data": "synthetic:20000"}


def test_a_failed_trial_shows_in_table_plots_and_decision_at_once(tmp_path):
    wb = make(tmp_path, **over_budget())
    t0 = time.monotonic()
    wb.run_button.click()
    assert time.monotonic() - t0 < 0.5 and wb.jobs.busy  # the kernel is free while it runs
    assert wb.wait(60)
    df = load_results(tmp_path / "runs")
    assert list(df["status"]) == ["over_budget"]
    assert '<tr class="status-over_budget">' in wb.results.table.value
    assert is_png(wb.results.throughput) and is_png(wb.results.host_memory) and is_png(wb.results.pareto)
    assert "No recommendation" in wb.results.recommendation.value
    assert wb.progress.value == 1 and "done: 1 of 1 trials (1 failed" in wb.status.value
    assert "not available" in wb.results.gpu_note.value  # no GPU here
    assert not wb.csv_button.disabled and "tensorflow" not in sys.modules


def test_search_reports_when_nothing_fits(tmp_path):
    wb = make(tmp_path, **over_budget())
    wb.search_button.click()
    assert wb.wait(90)
    assert "no batch size fits" in wb.status.value, wb.status.value
    df = load_results(tmp_path / "runs")
    assert list(df["batch_size"]) == [1] and list(df["status"]) == ["over_budget"]
    assert "over_budget" in wb.results.table.value


def test_machine_line_names_the_gpu_or_says_not_available():
    from workbench.ui.panel import machine_line

    env = {"cpu_model": "X", "cpu_count": 4, "ram_total_bytes": 2**34, "gpus": []}
    assert machine_line(env).endswith("GPU: not available")
    # A GPU is faked here: this machine has none.
    gpu = {"name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": 80 * 2**30}
    assert "GPU: NVIDIA H100 80GB HBM3 (80.00 GiB)" in machine_line({**env, "gpus": [gpu]})


@pytest.mark.slow
def test_run_sweep_then_decide_export_and_reopen(tmp_path):
    wb = make(tmp_path, batch_sizes="4,16")
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
    again = make(tmp_path)
    again.open_button.click()
    assert "opened" in again.status.value and again.results.table.value == wb.results.table.value
    assert is_png(again.results.pareto) and not again.jobs.busy
    assert (tmp_path / "runs" / "results.jsonl").read_bytes() == before and trial_processes() == []
