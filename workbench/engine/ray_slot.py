"""One slot of a Ray cluster: a long-lived actor that runs one trial at a time on its node.

The actor owns its node's fork server (TensorFlow imported once per node, then one forked
process per trial) and runs each trial through :func:`workbench.engine.runner.run_trial`, so
budgets, timeouts and statuses are the code a local sweep uses. It runs inside a Ray worker
process on its node; :class:`workbench.engine.ray_executor.RayExecutor` (the driver) creates
it with ``ray.remote(TrialSlot)``. This module never imports Ray at import time (nor
TensorFlow at all).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from workbench.config import TrialConfig
from workbench.engine.launcher import ForkServers, SpawnLauncher
from workbench.errors import WorkbenchError
from workbench.results import Status, TrialResult, environment


def node_info() -> dict[str, Any]:
    """Where this process runs: Ray's node id, and the node's host name, CPU, GPU and
    TensorFlow version (read without importing TensorFlow), as the ``node*`` result fields."""
    import ray

    env = environment()
    gpu = None
    if env.get("gpus"):  # the GPU this slot's CUDA sees first (Ray sets CUDA_VISIBLE_DEVICES)
        first = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
        by_index = {str(g["index"]): g["name"] for g in env["gpus"]}
        gpu = by_index.get(first, env.get("gpu_name"))
    return {
        "node": ray.get_runtime_context().get_node_id(),
        "node_hostname": env.get("hostname"),
        "node_cpu": env.get("cpu_model"),
        "node_gpu": gpu,
        "node_tf_version": env.get("tensorflow"),
    }


def restore_environment(changes: dict[str, str | None]) -> None:
    """Undo what Ray changed in its worker's environment before any trial process inherits it
    (Ray forces ``OMP_NUM_THREADS=1``, which changes TensorFlow's throughput): each name gets
    the driver's value, or is removed where the driver has none."""
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class TrialSlot:
    """A Ray actor body: one trial at a time, on this node's own fork server.

    ``run`` and ``cancel`` may be called at once (the actor is created with
    ``max_concurrency=2``): ``cancel`` sets the flag ``run_trial`` watches, which kills the
    trial's process within its poll interval, and the slot stays cancelled.
    """

    def __init__(self, env_changes: dict[str, str | None]) -> None:
        restore_environment(env_changes)
        self.info = node_info()
        self.stop = threading.Event()
        spawn = os.environ.get("WORKBENCH_LAUNCHER") == "spawn"
        self.launcher: ForkServers | SpawnLauncher = SpawnLauncher() if spawn else ForkServers()
        self.prepared: set[str] = set()

    def describe(self) -> dict[str, Any]:
        """The ``node*`` fields of this slot (and a sign that the actor is up)."""
        return dict(self.info, pid=os.getpid())

    def run(self, trial: dict[str, Any]) -> dict[str, Any] | None:
        """Run one trial (its ``TrialConfig.to_dict()``); its result as a dict, None if cancelled."""
        from workbench.engine.runner import run_trial

        cfg = TrialConfig.from_dict(trial)
        try:
            self._prepare(cfg)
        except WorkbenchError as exc:  # e.g. the model file is not on this node: data, not a crash
            failed = TrialResult.for_trial(cfg)
            failed.status = Status.ERROR
            failed.error = f"on node {self.info['node_hostname']}: {exc}"
            return self._stamp(failed).to_dict()
        if self.stop.is_set():
            return None
        result = run_trial(cfg, cancel=self.stop, launcher=self.launcher)
        return None if result is None else self._stamp(result).to_dict()

    def cancel(self) -> None:
        """Stop the running trial (its process is killed); later trials are refused."""
        self.stop.set()

    def close(self) -> None:
        """Stop this node's fork server (it would also exit with the actor's process)."""
        self.launcher.close()

    def _prepare(self, cfg: TrialConfig) -> None:
        """Check the model file and build the demo assets on this node, once per sweep input,
        so no trial pays for it (the files must be at the same path on every node)."""
        from workbench.engine.prepare import prepare

        key = f"{cfg.model.to_dict()}|{cfg.data.to_dict()}"
        if key not in self.prepared:
            prepare(cfg.model, cfg.data, cancel=self.stop)
            self.prepared.add(key)

    def _stamp(self, result: TrialResult) -> TrialResult:
        for name, value in self.info.items():
            setattr(result, name, value)
        return result
