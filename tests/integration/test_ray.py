"""Sweeps on a real 2-node Ray cluster on this machine (``ray.cluster_utils.Cluster``).

Each node has one CPU and the ``workbench`` custom resource, so each is one slot: a Ray actor
that owns its node's fork server and runs real trials (the tiny CNN, real TensorFlow). The
tests kill real processes: a trial (its own SIGKILL), a slot's Ray worker, a driver.

Skipped when Ray is not installed; ``make test`` installs the ``ray`` extra, so CI runs them.
Every test runs under a hard (thread) timeout: a hung ``ray.init`` ignores SIGTERM.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from workbench.config import Budget, DataSpec, ModelSpec, SweepConfig
from workbench.engine import runner
from workbench.engine.ray_executor import MARKER, RayExecutor
from workbench.engine.runner import run_sweep
from workbench.plan import expand
from workbench.results import ResultStore, Status, load_results

from ..conftest import FAST, ROOT

# Read by Ray when it is imported or starts: a one-machine cluster on loopback, no token file
# under the home folder, no usage report.
os.environ.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.ray,
    pytest.mark.timeout(300, method="thread"),
    pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                       reason="Ray is not installed: pip install '.[ray]' (make test installs it)"),
]

SWEEP = SweepConfig(ModelSpec("tiny", image_size=32), DataSpec("synthetic", count=32), batch_sizes=(1, 2, 4, 8),
                    budget=Budget(timeout_s=120), timing=FAST)


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes on this machine, one slot each. Ray's files go to a short temporary
    folder (its socket paths are limited to 107 bytes), its cluster address file too
    (RAY_TMPDIR), never /tmp/ray, where a stale one would make a bare ray.init() hang."""
    from ray.cluster_utils import Cluster

    tmp = tempfile.mkdtemp(prefix="rw", dir="/tmp")
    os.makedirs(f"{tmp}/ray")
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = tmp
    nodes = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {MARKER: 1}, "include_dashboard": False, "temp_dir": f"{tmp}/ray"})
    try:
        nodes.add_node(num_cpus=1, resources={MARKER: 1})
        nodes.wait_for_nodes()
        yield nodes
    finally:
        nodes.shutdown()
        if before is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = before
        shutil.rmtree(tmp, ignore_errors=True)


def slots() -> list[tuple[psutil.Process, psutil.Process, list[psutil.Process]]]:
    """(Ray worker, its fork server, the trials it forked) for each slot alive now."""
    found = []
    for proc in psutil.process_iter():
        try:
            if "workbench.trial.forkserver" not in " ".join(proc.cmdline()):
                continue
            worker = proc.parent()
            if worker is not None and "ray::" in " ".join(worker.cmdline()):
                found.append((worker, proc, proc.children()))
        except psutil.Error:
            pass
    return found


def fault_of(trial: psutil.Process) -> str | None:
    """The fault a running trial process was given, read from its config beside its stderr."""
    try:
        for f in trial.open_files():
            if f.path.endswith("stderr.txt"):
                return json.loads((Path(f.path).parent / "config.json").read_text()).get("fault")
    except (psutil.Error, OSError, ValueError):
        pass
    return None


def with_faults(monkeypatch, faults: dict[int, str]) -> None:
    """The sweep's trials, some given an injected failure by batch size."""
    monkeypatch.setattr(runner, "expand", lambda s, plan=None: [replace(t, fault=faults.get(t.batch_size)) for t in expand(s, plan)])


def hung_trials() -> list[tuple[psutil.Process, psutil.Process]]:
    return [(worker, child) for worker, _, children in slots() for child in children if fault_of(child) == "hang"]


def test_a_sweep_uses_both_nodes_with_the_columns_of_a_local_sweep(cluster, tmp_path, monkeypatch):
    seen = []

    def progress(event):  # while the slots are up: the environment their trials start with
        if event.kind == "end" and not seen:
            seen.extend(server.environ() for _, server, _ in slots())

    with monkeypatch.context() as m:
        m.setenv("OMP_NUM_THREADS", "3")  # the driver's; Ray forces 1 in its workers
        results = run_sweep(SWEEP, tmp_path / "ray", executor=RayExecutor(cluster.address), progress=progress)
    assert [r.status for r in results] == [Status.OK] * 4, [r.error for r in results]
    node_ids = {cluster.head_node.node_id, *(n.node_id for n in cluster.worker_nodes)}
    assert {r.node for r in results} == node_ids and len(node_ids) == 2
    for r in results:
        assert r.node_hostname == socket.gethostname() and r.node_cpu and r.launcher == "fork"
        assert r.node_tf_version == r.tf_version  # read from the node's packages; the trial's own TF
        assert r.throughput_ips > 0 and r.host_peak_bytes > r.host_baseline_bytes > 0
    assert seen, "no slot's fork server was seen"
    assert [env.get("OMP_NUM_THREADS") for env in seen] == ["3"] * len(seen)  # trials get the driver's value

    local = run_sweep(replace(SWEEP, batch_sizes=(1,)), tmp_path / "local")
    assert local[0].ok and local[0].node is None
    assert list(load_results(tmp_path / "ray").columns) == list(load_results(tmp_path / "local").columns)


def test_a_killed_worker_and_a_killed_trial_are_recorded_and_the_others_finish(cluster, tmp_path, monkeypatch):
    with_faults(monkeypatch, {1: "hang", 2: "sigkill"})
    killed: list[int] = []

    def kill_the_hung_trials_ray_worker() -> None:
        deadline = time.monotonic() + 200
        while not killed and time.monotonic() < deadline:
            for worker, child in hung_trials():
                os.kill(worker.pid, signal.SIGKILL)  # the slot's Ray worker dies mid-trial
                killed.extend([worker.pid, child.pid])
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_the_hung_trials_ray_worker, daemon=True)
    killer.start()
    results = run_sweep(SWEEP, tmp_path, executor=RayExecutor(cluster.address))
    killer.join(1)
    assert killed, "the hung trial never started"
    by_batch = {r.batch_size: r for r in results}
    assert by_batch[1].status is Status.ERROR
    assert f"Ray worker running the trial on {socket.gethostname()} died (ActorDiedError)" in by_batch[1].error
    assert by_batch[1].node in {cluster.head_node.node_id, *(n.node_id for n in cluster.worker_nodes)}
    assert by_batch[2].status is Status.OOM and "SIGKILL" in by_batch[2].error and by_batch[2].node
    assert by_batch[4].ok and by_batch[8].ok, (by_batch[4].error, by_batch[8].error)
    assert len(ResultStore(tmp_path).done_keys()) == 4
    time.sleep(0.5)
    assert not psutil.pid_exists(killed[1]), "the trial outlived its slot's worker"


def test_cancel_stops_running_trials_within_a_second_and_keeps_finished_ones(cluster, tmp_path, monkeypatch):
    with_faults(monkeypatch, {2: "hang", 4: "hang", 8: "hang"})
    cancel = threading.Event()
    state: dict[str, float | list[int]] = {}

    def cancel_when_both_slots_hang() -> None:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline:
            hung = hung_trials()
            if len(hung) == 2:
                state["pids"] = [child.pid for _, child in hung]
                state["t0"] = time.monotonic()
                cancel.set()
                while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                          for p in state["pids"]) and time.monotonic() - state["t0"] < 10:
                    time.sleep(0.02)
                state["gone_s"] = time.monotonic() - state["t0"]
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=cancel_when_both_slots_hang, daemon=True)
    watcher.start()
    results = run_sweep(SWEEP, tmp_path, executor=RayExecutor(cluster.address), cancel=cancel)
    returned_s = time.monotonic() - state.get("t0", time.monotonic())
    watcher.join(15)
    assert cancel.is_set(), "the two hung trials never ran at once"
    assert state["gone_s"] < 1.5, f"trial processes outlived the cancel by {state['gone_s']:.2f} s"
    assert returned_s < 10
    assert [(r.batch_size, r.status) for r in results] == [(1, Status.OK)]
    assert len(ResultStore(tmp_path).done_keys()) == 1  # what finished is kept, nothing half-measured


def test_a_sweep_killed_halfway_resumes_through_ray_without_repeating(cluster, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "workbench", "sweep", "--model", "tiny", "--image-size", "32",
            "--data", "synthetic:32", "--batch-sizes", "1,2,4,8", "--warmup-batches", "1", "--min-batches", "2",
            "--min-duration", "0", "--min-passes", "1", "--drift-samples", "0", "--executor", "ray", "--ray-address", cluster.address,
            "--out", str(out)]
    proc = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    store = ResultStore(out)
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline and proc.poll() is None and not (store.path.exists() and store.done_keys()):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver dies mid-sweep; Ray ends its slots
    proc.wait()
    first = store.done_keys()
    assert 1 <= len(first) < 4, proc.stderr.read().decode()[-2000:]

    events: list[str] = []
    results = run_sweep(SWEEP, out, executor=RayExecutor(cluster.address),
                        progress=lambda e: events.append(e.kind))
    assert events.count("skip") == len(first) and events.count("start") == 4 - len(first)
    assert [r.status for r in results] == [Status.OK] * 4
    lines = [json.loads(x) for x in store.path.read_text().splitlines() if x.strip()]
    keys = [x["key"] for x in lines if x["record"] == "trial"]
    assert len(keys) == 4 == len(set(keys)) and first <= set(keys)


def test_a_search_probes_on_the_cluster(cluster, tmp_path):
    from workbench.engine.search import search_batch

    template = expand(replace(SWEEP, batch_sizes=(1,)))[0]
    found = search_batch(template, tmp_path, host_budget_bytes=64 * 2**30, max_batch=8,
                         executor=RayExecutor(cluster.address))
    assert found.batch_size == 8 and found.limited_by == "max_batch"  # 64 GiB: every batch fits
    rows = ResultStore(tmp_path).results()
    assert found.confirmed  # the answer ran again, on the cluster too
    assert len(rows) == found.n_probes + len(found.confirmations) >= 3 and all(r.ok and r.node for r in rows)
