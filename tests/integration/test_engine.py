"""The trial engine end to end: real worker processes, real TensorFlow, a tiny real CNN.

Each trial starts a fresh Python process that imports TensorFlow (several seconds), so these
tests run as few trials as the behaviour allows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from workbench.config import Budget, DataSpec, ModelSpec, SweepConfig, TimingSpec
from workbench.engine.runner import run_sweep, run_trial
from workbench.results import ResultStore, Status, load_results

from ..helpers import FAST, ROOT

MIB = 2**20
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_trial_result(request):
    """One plain trial, shared: 2048 images of 96x96 at batch 1 through the tiny CNN."""
    from workbench.config import TrialConfig

    cfg = TrialConfig(model=ModelSpec("tiny", image_size=96), data=DataSpec("synthetic", count=2048),
                      batch_size=1, timing=FAST)
    return cfg, run_trial(cfg)


def test_a_trial_measures_sensible_figures(small_trial_result):
    _, r = small_trial_result
    assert r.status is Status.OK, r.error
    assert r.tf_version and r.image_height == 96
    assert r.throughput_ips > 0 and r.timed_images >= 64
    assert 0 < r.latency_p50_s <= r.latency_p90_s <= r.latency_p99_s
    assert r.first_batch_s > 0 and r.load_s > 0
    assert r.host_peak_method == "vmhwm"
    assert r.host_peak_all_bytes >= r.host_peak_bytes >= r.host_baseline_bytes > 100 * MIB
    # no GPU here: the GPU figures are missing, never 0
    assert r.gpu_peak_bytes != r.gpu_peak_bytes and r.gpu_device_peak_bytes != r.gpu_device_peak_bytes


def test_planted_allocation_in_prediction_shows_in_host_peak(small_trial_result, tiny_trial):
    cfg, plain = small_trial_result
    planted = run_trial(cfg.__class__.from_dict({**cfg.to_dict(), "fault": "alloc:300MiB"}))
    assert planted.status is Status.OK, planted.error
    extra = (planted.host_peak_bytes - planted.host_baseline_bytes) - (plain.host_peak_bytes - plain.host_baseline_bytes)
    # a 300 MiB block allocated and freed between two batches: the high-water mark keeps it
    assert extra >= 280 * MIB


def test_over_budget_trial_is_recorded_and_the_sweep_goes_on(small_trial_result, tmp_path):
    _, small = small_trial_result
    # The same data at batch 1 peaked at small.host_peak_bytes; at batch 2048 the first conv
    # alone outputs 2048*96*96*8*4 B = 576 MiB more, so a budget 250 MiB above batch 1 splits them.
    budget = int(small.host_peak_bytes + 250 * MIB)
    sweep = SweepConfig(ModelSpec("tiny", image_size=96), DataSpec("synthetic", count=2048),
                        batch_sizes=(2048, 1), budget=Budget(host_bytes=budget, timeout_s=120), timing=FAST)
    results = run_sweep(sweep, tmp_path)
    by_batch = {r.batch_size: r for r in results}
    assert by_batch[2048].status is Status.OVER_BUDGET
    assert by_batch[2048].host_peak_bytes > budget
    assert "budget" in by_batch[2048].error
    assert by_batch[1].status is Status.OK, by_batch[1].error
    assert by_batch[1].host_peak_bytes <= budget
    df = load_results(tmp_path)
    assert sorted(df["status"]) == ["ok", "over_budget"]


@pytest.mark.parametrize(("fault", "status", "in_error", "in_tail"), [
    ("sigkill", Status.OOM, "SIGKILL", None),
    ("sigsegv", Status.ERROR, "SIGSEGV", "Fatal Python error"),
    ("raise_oom", Status.OOM, "GPU out of memory", "ResourceExhaustedError"),
])
def test_a_trial_killed_or_crashing_keeps_its_code_and_stderr(tiny_trial, fault, status, in_error, in_tail):
    r = run_trial(tiny_trial(fault=fault))
    assert r.status is status
    assert in_error in r.error
    assert r.exit_code != 0
    if in_tail:
        assert in_tail in r.stderr_tail


def test_a_hang_ends_in_timeout(tiny_trial):
    run_trial(tiny_trial())  # the shared fork server is warm, so the timeout is the trial's own
    t0 = time.monotonic()
    r = run_trial(tiny_trial(fault="hang", budget=Budget(timeout_s=20)))
    assert r.status is Status.TIMEOUT
    assert "20 s timeout" in r.error
    assert 20 <= time.monotonic() - t0 < 35


def test_forked_and_spawned_trials_measure_the_same_memory(small_trial_result):
    """The fork server maps the library pages the import touched into each child again, so a
    forked trial's host figures match a fresh interpreter's (the speed-up costs no fidelity)."""
    from workbench.engine.launcher import SpawnLauncher

    cfg, forked = small_trial_result
    assert forked.launcher == "fork"
    spawned = run_trial(cfg, launcher=SpawnLauncher())
    assert spawned.status is Status.OK and spawned.launcher == "spawn"
    for field in ("host_baseline_bytes", "host_peak_bytes"):
        assert getattr(forked, field) == pytest.approx(getattr(spawned, field), rel=0.05), field


def test_a_sweep_killed_halfway_resumes_without_repeating(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "workbench", "sweep", "--model", "tiny", "--data", "synthetic:32",
            "--batch-sizes", "1,2,4", "--warmup-batches", "1", "--min-batches", "2", "--min-duration", "0",
            "--min-passes", "1", "--drift-samples", "0", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    store = ResultStore(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (store.path.exists() and store.done_keys()):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole sweep dies mid-way
    proc.wait()
    first = store.done_keys()
    assert len(first) == 1, "killed after exactly one finished trial"

    events = []
    sweep = SweepConfig(ModelSpec("tiny"), DataSpec("synthetic", count=32), batch_sizes=(1, 2, 4),
                        timing=TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0, min_passes=1, drift_samples=0))
    results = run_sweep(sweep, out, progress=lambda e: events.append(e.kind))
    assert events.count("skip") == 1 and events.count("start") == 2
    assert [r.status for r in results] == [Status.OK] * 3
    lines = [json.loads(x) for x in store.path.read_text().splitlines() if x.strip()]
    trial_keys = [x["key"] for x in lines if x["record"] == "trial"]
    assert len(trial_keys) == 3 == len(set(trial_keys))
    assert first <= set(trial_keys)
