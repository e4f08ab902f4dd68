"""The panel's controls driven from Python: set widget values, press buttons, check the result.

Widgets work without a kernel (their messages go nowhere), so these tests exercise the same
callbacks a browser would. Nothing here runs a trial: the panel's runs, with real trial
processes, are in tests/integration/test_panel_runs.py.
"""

from __future__ import annotations

import threading

import ipywidgets as W
import pytest

from workbench.config import DataSpec, TimingSpec
from workbench.errors import ConfigError
from workbench.ui import Workbench, jobs
from workbench.ui.jobs import JobRunner, Tally, set_status

from ..helpers import make_panel, trial_processes, write_npy


def error_groups(wb: Workbench) -> dict[str, str]:
    return {g: w.value for g, w in wb.form.messages.items() if w.value}


def test_settings_become_the_sweep_config(tmp_path):
    wb = make_panel(tmp_path, batch_sizes="2,4", precisions="float32,mixed_bfloat16",
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


def test_typed_settings_set_the_same_controls_as_command_line_ones(tmp_path):
    typed = make_panel(tmp_path, data=DataSpec("demo", count=20), batch_sizes=(2, 4), host_budget=2**30,
                       image_size=(40, 48), precisions=("mixed_bfloat16", "float32"))
    text = make_panel(tmp_path, data="demo:20", batch_sizes="2,4", host_budget="1GiB", image_size="40x48",
                      precisions="float32,mixed_bfloat16")
    assert typed.config() == text.config()
    cfg = typed.config()
    assert (cfg.data.kind, cfg.data.count, cfg.batch_sizes, cfg.budget.host_bytes) == ("demo", 20, (2, 4), 2**30)
    assert cfg.model.image_size == (40, 48) and cfg.precisions == ("float32", "mixed_bfloat16")  # the order shown
    assert make_panel(tmp_path, data=DataSpec("demo")).config().data.count is None  # all of it


def test_powers_of_two_and_data_pickers(tmp_path):
    wb = make_panel(tmp_path)
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
    ("target_images", "0", "target_images", "target images 0 is not allowed"),
    ("target_images", "1.5M", "target_images", "is not a whole number"),
])
def test_a_bad_value_is_shown_next_to_its_control_and_blocks_run(tmp_path, control, value, group, says):
    wb = make_panel(tmp_path)
    widget = getattr(wb.form, control)
    good = widget.value
    widget.value = value
    errors = error_groups(wb)
    assert list(errors) == [group] and says in errors[group]
    assert wb.run_button.disabled and wb.search_button.disabled
    widget.value = good
    assert error_groups(wb) == {} and not wb.run_button.disabled


def test_choices_that_conflict_are_explained(tmp_path):
    wb = make_panel(tmp_path)
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
    wb = make_panel(tmp_path)
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
    wb = make_panel(tmp_path)
    wb.open_button.click()  # nothing there yet: a message, not a traceback
    assert "no results in" in wb.form.messages["out"].value and "error" in wb.status.value
    wb.search_button.click()  # Search needs a budget
    assert "needs a host or GPU budget" in wb.form.messages["host_budget"].value
    assert not wb.jobs.busy and trial_processes() == []


def test_machine_line_names_the_gpu_or_says_not_available():
    from workbench.ui.panel import machine_line

    env = {"cpu_model": "X", "cpu_count": 4, "ram_total_bytes": 2**34, "gpus": []}
    assert machine_line(env).endswith("GPU: not available")
    # A GPU is faked here: this machine has none.
    gpu = {"name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": 80 * 2**30}
    assert "GPU: NVIDIA H100 80GB HBM3 (80.00 GiB)" in machine_line({**env, "gpus": [gpu]})


def test_a_job_ends_when_cancel_reaches_it_and_the_next_one_starts_fresh():
    # A body that stops when its flag is set, as run_sweep and search_batch do (real threads
    # and widgets; the engine's own response to the flag is tested with real trials in
    # tests/integration/test_panel_runs.py and test_launcher.py).
    status, details, busy = W.HTML(), W.HTML(), []
    runner = JobRunner(status, details, busy.append)
    started, seen = threading.Event(), []

    def body(cancel: threading.Event) -> None:
        started.set()
        seen.append(cancel.wait(10))
        set_status(status, "stopped")

    assert runner.start("first", body) and started.wait(5)
    assert runner.busy and busy == [True]
    assert not runner.start("second", lambda cancel: None), "one job at a time"
    runner.request_cancel()
    assert runner.wait(5) and not runner.busy
    assert seen == [True] and busy == [True, False] and "stopped" in status.value
    flags: list[threading.Event] = []
    assert runner.start("second", flags.append) and runner.wait(5)
    assert len(flags) == 1 and not flags[0].is_set()  # a fresh flag: the old Cancel does not stop it


def test_a_job_error_is_one_line_and_a_bug_keeps_its_traceback():
    status, details, busy = W.HTML(), W.HTML(), []
    runner = JobRunner(status, details, busy.append)

    def mistake(cancel: threading.Event) -> None:
        raise ConfigError("data path 'x' does not exist")

    def bug(cancel: threading.Event) -> None:
        raise KeyError("oops")

    assert runner.start("mistake", mistake) and runner.wait(5)
    assert "error: data path &#x27;x&#x27; does not exist" in status.value and details.value == ""
    assert runner.start("bug", bug) and runner.wait(5)
    assert "unexpected error: KeyError" in status.value
    assert "<details>" in details.value and "Traceback" in details.value and busy == [True, False] * 2


def test_cancel_without_a_job_changes_nothing(tmp_path):
    wb = make_panel(tmp_path)
    wb.cancel_button.click()  # disabled in a browser; pressed here anyway
    assert not wb.jobs.busy and not wb.jobs.cancel.is_set() and wb.status.value == ""


def test_the_target_size_is_what_the_panel_answers_for(tmp_path):
    from .test_target import results as planted_results

    wb = make_panel(tmp_path, target_images="1,200,000")
    assert wb.config().target_images == 1_200_000 and wb._decide_args()["target_images"] == 1_200_000
    # Blank: the full count of a .npy (read from its header), none for synthetic data.
    npy = tmp_path / "images.npy"
    write_npy(npy, 300, size=8)
    wb.form.target_images.value = ""
    assert wb.form.target() is None
    wb.form.set_values(data=str(npy), pipelines="stream")
    assert error_groups(wb) == {} and wb.form.target() == 300
    # The recommendation and the peak-vs-images plot answer for it.
    wb.form.target_images.value = "100000"
    wb.results.show(planted_results(), **{**wb._decide_args(), "host_budget_bytes": 3 * 2**30})
    html = wb.results.recommendation.value
    assert "(host 3.00 GiB, at 100,000 images)" in html and "<b>stream · float32 · batch 64</b>" in html
    assert "predicted peak host" in html and "25x beyond the 4,000 measured: an extrapolation" in html
    assert wb.results.memory_n.layout.display is None and bytes(wb.results.memory_n.value).startswith(b"\x89PNG")
