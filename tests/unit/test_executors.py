"""The executor seam and the Ray executor's checks, without a cluster.

The runner's loop is driven here by a stand-in executor with two slots that finishes trials
out of order (a real cluster runs in tests/integration/test_ray.py): what is checked is the
runner's side of the seam (results file, progress, resume, cancel, never more trials at once
than slots). The Ray checks use real sockets and, where Ray is installed, Ray's own
exception classes; nothing here starts Ray.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, SweepConfig, TrialConfig
from workbench.engine.executors import LocalExecutor, make_executor
from workbench.engine.ray_executor import check_address, parse_address
from workbench.engine.ray_slot import restore_environment
from workbench.engine.runner import run_sweep
from workbench.errors import ConfigError, WorkbenchError
from workbench.nvml import visible_device_handle
from workbench.results import ResultStore, Status, TrialResult

SWEEP = SweepConfig(ModelSpec("tiny"), DataSpec("synthetic", count=32), batch_sizes=(1, 2, 4, 8, 16))


class TwoSlots:
    """Two slots; each poll finishes the most recently submitted trial first (out of order)."""

    name = "fake"
    slots = 2

    def __init__(self, cancel_after: int | None = None) -> None:
        self.running: list[tuple[int, TrialConfig]] = []
        self.most_at_once = 0
        self.submitted: list[int] = []
        self.opened = self.closed = 0
        self.cancel_flag: threading.Event | None = None
        self.cancel_after = cancel_after

    def open(self, cancel=None):
        self.opened += 1
        self.cancel_flag = cancel

    def submit(self, index, trial):
        self.running.append((index, trial))
        self.submitted.append(index)
        self.most_at_once = max(self.most_at_once, len(self.running))

    def poll(self, timeout):
        index, trial = self.running.pop()
        result = TrialResult.for_trial(trial)
        result.throughput_ips = 100.0 * trial.batch_size
        if self.cancel_after is not None and len(self.submitted) >= self.cancel_after:
            self.cancel_flag.set()
        return [(index, result)]

    def cancel(self):
        finished = [(i, TrialResult.for_trial(t)) for i, t in self.running[:1]]  # one ended meanwhile
        self.running.clear()
        return finished

    def close(self):
        self.closed += 1


def trial_rows(out) -> list[dict]:
    lines = ResultStore(out).path.read_text().splitlines()
    return [json.loads(x) for x in lines if json.loads(x)["record"] == "trial"]


def test_results_are_stored_as_they_finish_and_returned_in_sweep_order(tmp_path):
    fake, events = TwoSlots(), []
    results = run_sweep(SWEEP, tmp_path, executor=fake, progress=lambda e: events.append((e.kind, e.index)))
    assert [r.batch_size for r in results] == [1, 2, 4, 8, 16]
    assert [r["batch_size"] for r in trial_rows(tmp_path)] == [2, 4, 8, 16, 1]  # as they finished
    assert fake.most_at_once == 2 and fake.opened == fake.closed == 1
    assert sorted(i for k, i in events if k == "start") == sorted(i for k, i in events if k == "end") == [0, 1, 2, 3, 4]
    for index in range(5):  # each trial's start comes before its end
        assert events.index(("start", index)) < events.index(("end", index))


def test_a_resumed_sweep_submits_only_what_is_missing(tmp_path):
    run_sweep(SweepConfig(SWEEP.model, SWEEP.data, batch_sizes=(2, 8)), tmp_path, executor=TwoSlots())
    fake, events = TwoSlots(), []
    results = run_sweep(SWEEP, tmp_path, executor=fake, progress=lambda e: events.append(e.kind))
    assert [r.batch_size for r in results] == [1, 2, 4, 8, 16]
    assert sorted(fake.submitted) == [0, 2, 4] and events.count("skip") == 2
    keys = [r["key"] for r in trial_rows(tmp_path)]
    assert len(keys) == 5 == len(set(keys))
    again = TwoSlots()
    run_sweep(SWEEP, tmp_path, executor=again)
    assert again.submitted == [] and again.opened == 0  # nothing to run: no cluster is started


def test_cancel_keeps_what_finished_and_stops_submitting(tmp_path):
    cancel = threading.Event()
    fake = TwoSlots(cancel_after=3)
    results = run_sweep(SWEEP, tmp_path, executor=fake, cancel=cancel)
    assert cancel.is_set() and len(fake.submitted) == 3 and fake.closed == 1
    stored = [r["batch_size"] for r in trial_rows(tmp_path)]
    assert stored == [r.batch_size for r in sorted(results, key=lambda r: stored.index(r.batch_size))]
    assert len(stored) == 3  # two finished by polls, one that ended while the cancel ran


def test_the_local_executor_is_the_default_and_runs_one_at_a_time(tmp_path, monkeypatch):
    from workbench.engine import runner

    calls = []

    def fake_run_trial(cfg, *, cancel=None, launcher=None, **_):
        calls.append(cfg.batch_size)
        return None if cfg.batch_size == 4 else TrialResult.for_trial(cfg)  # cancelled at batch 4

    monkeypatch.setattr(runner, "run_trial", fake_run_trial)
    results = run_sweep(SWEEP, tmp_path)
    assert calls == [1, 2, 4] and [r.batch_size for r in results] == [1, 2]
    assert LocalExecutor.slots == 1 and isinstance(make_executor("local"), LocalExecutor)


@pytest.mark.parametrize(("name", "address", "message"), [
    ("slurm", None, "unknown executor 'slurm'"),
    ("ray", None, "--ray-address HOST:PORT"),
    ("local", "10.0.0.1:6379", "add --executor ray"),
])
def test_bad_executor_choices_are_one_line_config_errors(name, address, message):
    with pytest.raises(ConfigError, match=message):
        make_executor(name, address)


@pytest.mark.parametrize("address", ["10.0.0.1", "host:port", ":6379", "h:70000", "ray://h:10001"])
def test_malformed_addresses_are_config_errors(address):
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_address(address)
    assert parse_address("local") is None and parse_address("[::1]:6379") == ("::1", 6379)


def test_an_address_nobody_listens_on_fails_within_seconds():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens on it now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(WorkbenchError, match=f"no Ray cluster at 127.0.0.1:{port}.*ray start --head --port={port}"):
        check_address(f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 3.5
    with socket.socket() as server:  # and one that listens passes
        server.bind(("127.0.0.1", 0))
        server.listen()
        check_address(f"127.0.0.1:{server.getsockname()[1]}")


def test_without_ray_installed_the_error_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ConfigError, match=r"\[ray\]"):
        make_executor("ray", "local")
    code = main(["sweep", "--model", "tiny", "--out", str(tmp_path / "out"), "--executor", "ray",
                 "--ray-address", "local"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "pip install" in err and "[ray]" in err
    assert not (tmp_path / "out").exists()  # before any trial


def test_ray_worker_environment_is_put_back_as_the_driver_has_it(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what Ray forces in its workers
    restore_environment({"OMP_NUM_THREADS": None})
    import os

    assert "OMP_NUM_THREADS" not in os.environ
    restore_environment({"OMP_NUM_THREADS": "4"})
    assert os.environ["OMP_NUM_THREADS"] == "4"


class FakeNvml:  # no GPU here: NVML's lookups, as the driver would answer them
    def nvmlDeviceGetHandleByIndex(self, i):
        return f"index:{i}"

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return f"uuid:{uuid}"


@pytest.mark.parametrize(("visible", "handle"), [
    (None, "index:0"), ("3", "index:3"), ("2,5", "index:2"), ("GPU-8f1c", "uuid:GPU-8f1c"), ("", "index:0"),
])
def test_the_gpu_measured_is_the_one_cuda_sees(monkeypatch, visible, handle):
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert visible_device_handle(FakeNvml()) == handle


def test_what_ray_loses_becomes_a_result_with_a_status():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install '.[ray]')")
    from workbench.engine.ray_executor import RayExecutor

    executor = RayExecutor("127.0.0.1:6379")  # nothing is started until open()
    trial = TrialConfig(ModelSpec("tiny"), DataSpec("synthetic", count=32), batch_size=4)
    info = {"node": "abc123", "node_hostname": "gpu-7", "node_cpu": "Xeon", "node_gpu": None, "node_tf_version": "2.21.0"}
    oom = executor.failed(trial, info, ray.exceptions.OutOfMemoryError("Task was killed due to the node running low on memory."))
    assert oom.status is Status.OOM and "memory monitor" in oom.error and oom.node_hostname == "gpu-7"
    died = executor.failed(trial, info, ray.exceptions.ActorDiedError())
    assert died.status is Status.ERROR and "gpu-7 died (ActorDiedError)" in died.error
    crashed = executor.failed(trial, info, ray.exceptions.WorkerCrashedError())
    assert crashed.status is Status.ERROR and "WorkerCrashedError" in crashed.error
    assert died.key == trial.key() and died.batch_size == 4 and died.node == "abc123"
    assert SimpleNamespace(**died.to_dict()).throughput_ips is None  # nothing measured: NaN, stored as null
