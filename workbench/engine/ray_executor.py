"""Trials fanned out over a Ray cluster: one trial at a time per node (or per GPU).

The driver (this process, where the sweep's loop and ``results.jsonl`` live) starts one
long-lived :class:`workbench.engine.ray_slot.TrialSlot` actor per slot. A slot is a node
(``slot="node"``; nodes started with the custom resource ``workbench`` take part, every node
when none has it) or a GPU (``slot="gpu"``, ``num_gpus=1``, so Ray sets
``CUDA_VISIBLE_DEVICES``); ``auto`` picks GPUs where the cluster has them. Each actor owns its
node's fork server and runs one trial at a time, so concurrent trials never share cores or a
GPU. Results come back as trials finish (``ray.wait``).

Failures stay data: a worker or node Ray loses (``ActorDiedError``, ``WorkerCrashedError``,
``NodeDiedError``) or its memory monitor kills (``OutOfMemoryError``: status ``oom``) is a
result with a status and a message, never retried (``max_restarts=0``, ``max_task_retries=0``);
the slot gets a fresh actor if its node lives. Ray is imported only when this executor is
made, and is an optional extra: ``pip install '.[ray]'``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from workbench.config import TrialConfig
from workbench.errors import ConfigError, WorkbenchError
from workbench.results import Status, TrialResult

MARKER = "workbench"  # custom resource: `ray start --resources='{"workbench": 1}'` opts a node in
SLOT_MODES = ("auto", "node", "gpu")
CONNECT_TIMEOUT_S = 3.0
READY_TIMEOUT_S = 180.0
CANCEL_GRACE_S = 1.0  # a cancelled trial's slot kills it at once; an actor slower than this is killed
NEEDS_EXTRA = "the ray executor needs Ray: pip install 'tf-memory-workbench[ray]' (or pip install '.[ray]' in a checkout)"


def import_ray() -> Any:
    """The ``ray`` module, or a one-line ConfigError naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(NEEDS_EXTRA) from None
    return ray


def parse_address(address: str) -> tuple[str, int] | None:
    """``HOST:PORT`` -> (host, port); ``local`` -> None (start Ray on this machine)."""
    text = str(address or "").strip()
    if text == "local":
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"Ray address {address!r} is malformed: give HOST:PORT of the head node "
                          "(e.g. 10.0.0.5:6379, as `ray start --head` prints it; not a ray:// client address) or local")
    return host.strip("[]"), int(port)


def check_address(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """A one-line WorkbenchError within ``timeout_s`` when nothing listens at ``address``
    (``ray.init`` would retry a dead address for minutes)."""
    target = parse_address(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise WorkbenchError(f"no Ray cluster at {address} ({why}): start one with `ray start --head "
                             f"--port={target[1]}` on that machine, or check the address") from None


@dataclass
class _Slot:
    actor: Any
    node_id: str
    options: dict[str, Any]
    info: dict[str, Any]


class RayExecutor:
    """Runs a sweep's trials on a Ray cluster (see the module's doc).

    ``address``: ``HOST:PORT`` of a running cluster's head, or ``local`` to start Ray on this
    machine (``ray.init(address="local")``). Where this process is already connected to Ray
    (``ray.init`` in a notebook), that connection is used and left open.
    """

    name = "ray"

    def __init__(self, address: str, *, slot: str = "auto", resource: str = MARKER,
                 ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        parse_address(address)  # malformed: a ConfigError now, before any trial
        if slot not in SLOT_MODES:
            raise ConfigError(f"unknown Ray slot {slot!r}: choose from {', '.join(SLOT_MODES)}")
        self.ray = import_ray()
        self.address, self.slot, self.resource, self.ready_timeout_s = address.strip(), slot, resource, ready_timeout_s
        self._idle: list[_Slot] = []
        self._running: dict[Any, tuple[int, TrialConfig, _Slot]] = {}  # ObjectRef -> trial
        self._started_ray = False

    @property
    def slots(self) -> int:
        return len(self._idle) + len(self._running)

    # -- start and stop ----------------------------------------------------------------------
    def open(self, cancel: threading.Event | None = None) -> None:
        ray = self.ray
        if not ray.is_initialized():
            check_address(self.address)
            local = self.address == "local"
            kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": "WARNING"}
            if local:  # a trial probing host memory meets the kernel, not Ray's memory monitor
                kwargs.update(include_dashboard=False, _system_config={"memory_monitor_refresh_ms": 0})
            try:
                ray.init(address=self.address, **kwargs)
            except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the user needs one line
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise WorkbenchError(f"could not connect to Ray at {self.address}: {first}") from None
            self._started_ray = True
        self._start_slots(cancel)

    def _start_slots(self, cancel: threading.Event | None) -> None:
        from workbench.engine.ray_slot import TrialSlot

        ray = self.ray
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        if any(self.resource in n.get("Resources", {}) for n in nodes):
            nodes = [n for n in nodes if self.resource in n["Resources"]]
        mode = self.slot
        if mode == "auto":
            mode = "gpu" if any(n["Resources"].get("GPU", 0) >= 1 for n in nodes) else "node"
        remote = ray.remote(TrialSlot)
        pending = []
        for node in nodes:
            count = int(node["Resources"].get("GPU", 0)) if mode == "gpu" else 1
            for _ in range(count):
                options = _actor_options(node, mode, self.resource)
                actor = remote.options(**options).remote(_trial_env())
                pending.append(_Slot(actor, node["NodeID"], options, {}))
        if not pending:
            raise WorkbenchError(f"the Ray cluster at {self.address} has no {'GPU' if mode == 'gpu' else 'node'} "
                                 "to run trials on")
        refs = {slot.actor.describe.remote(): slot for slot in pending}
        deadline = time.monotonic() + self.ready_timeout_s
        waiting = list(refs)
        while waiting and time.monotonic() < deadline and not (cancel is not None and cancel.is_set()):
            ready, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=0.5)
            for ref in ready:
                try:
                    refs[ref].info = {k: v for k, v in ray.get(ref).items() if k.startswith("node")}
                    self._idle.append(refs[ref])
                except ray.exceptions.RayError:
                    pass  # a slot that cannot start is left out; the others run the sweep
        for ref in waiting:
            ray.kill(refs[ref].actor, no_restart=True)
        if not self._idle and not (cancel is not None and cancel.is_set()):
            raise WorkbenchError(f"no Ray slot started within {self.ready_timeout_s:g} s (is another sweep "
                                 "holding the cluster, or is workbench not installed on its nodes?)")

    def close(self) -> None:
        for slot in [*self._idle, *(s for _, _, s in self._running.values())]:
            try:
                self.ray.kill(slot.actor, no_restart=True)  # its fork server and trial exit with it
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._idle.clear()
        self._running.clear()
        if self._started_ray:
            self.ray.shutdown()
            self._started_ray = False

    # -- trials ------------------------------------------------------------------------------
    def submit(self, index: int, trial: TrialConfig) -> None:
        slot = self._idle.pop(0)
        self._running[slot.actor.run.remote(trial.to_dict())] = (index, trial, slot)

    def poll(self, timeout: float) -> list[tuple[int, TrialResult | None]]:
        if not self._running:
            return []
        refs = list(self._running)
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:  # take every trial that has finished, not only the first
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        return [self._finish(ref) for ref in ready]

    def _finish(self, ref: Any) -> tuple[int, TrialResult | None]:
        index, trial, slot = self._running.pop(ref)
        try:
            data = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            if isinstance(exc, self.ray.exceptions.RayTaskError):
                self._idle.append(slot)  # an exception in the slot's code: the actor lives on
            else:
                self._replace(slot)
            return index, self.failed(trial, slot.info, exc)
        self._idle.append(slot)
        return index, None if data is None else TrialResult.from_dict(data)

    def cancel(self) -> list[tuple[int, TrialResult | None]]:
        running = dict(self._running)
        for _, _, slot in running.values():
            slot.actor.cancel.remote()  # the slot kills its trial's process within ~20 ms
        ready, late = self.ray.wait(list(running), num_returns=len(running), timeout=CANCEL_GRACE_S) if running else ([], [])
        finished = [self._finish(ref) for ref in ready]
        for ref in late:
            self.ray.kill(self._running.pop(ref)[2].actor, no_restart=True)
        return [(i, r) for i, r in finished if r is not None]

    def _replace(self, slot: _Slot) -> None:
        """A fresh actor for a slot whose actor died, if its node is still alive."""
        try:
            self.ray.kill(slot.actor, no_restart=True)  # lost or not, it must not come back
        except Exception:  # noqa: BLE001 - already gone
            pass
        alive = {n["NodeID"] for n in self.ray.nodes() if n.get("Alive")}
        if slot.node_id in alive:
            from workbench.engine.ray_slot import TrialSlot

            actor = self.ray.remote(TrialSlot).options(**slot.options).remote(_trial_env())
            self._idle.append(_Slot(actor, slot.node_id, slot.options, slot.info))

    def failed(self, trial: TrialConfig, info: dict[str, Any], exc: Exception) -> TrialResult:
        """The result of a trial that Ray lost: status ``oom`` for its memory monitor's kill,
        ``error`` otherwise, and a message that says what happened where."""
        ray = self.ray
        text = str(exc)
        result = TrialResult.for_trial(trial)
        for name, value in info.items():
            setattr(result, name, value)
        where = info.get("node_hostname") or "its node"
        if isinstance(exc, ray.exceptions.OutOfMemoryError) or "low on memory" in text:
            result.status = Status.OOM
            result.error = f"Ray's memory monitor killed the trial's worker on {where} (the node ran low on memory)"
        elif isinstance(exc, ray.exceptions.NodeDiedError):
            result.status, result.error = Status.ERROR, f"the Ray node {where} died while the trial ran"
        elif isinstance(exc, ray.exceptions.RayTaskError):
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            result.status = Status.ERROR
            result.error = f"the trial's Ray worker on {where} raised {type(cause).__name__}: {_first(str(cause))}"
        else:  # ActorDiedError, WorkerCrashedError, ...: the worker process died or was lost
            detail = next((ln.split("Worker exit detail:", 1)[1].strip() for ln in text.splitlines()
                           if "Worker exit detail:" in ln), _first(text))
            result.status = Status.ERROR
            result.error = f"the Ray worker running the trial on {where} died ({type(exc).__name__}): {detail[:200]}"
        result.stderr_tail = text[-3000:]
        return result


def _first(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


def _trial_env() -> dict[str, str | None]:
    """What trial processes must see as a local run would: Ray forces ``OMP_NUM_THREADS=1`` in
    its workers, so each slot restores the driver's value (or removes it)."""
    return {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}


def _actor_options(node: dict[str, Any], mode: str, marker: str) -> dict[str, Any]:
    """One slot on ``node``: pinned there, never restarted or retried, one trial at a time
    (``max_concurrency=2`` lets ``cancel`` in while ``run`` works)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options: dict[str, Any] = {
        "scheduling_strategy": NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
        "max_restarts": 0, "max_task_retries": 0, "max_concurrency": 2, "num_cpus": 0,
    }
    if mode == "gpu":
        options["num_gpus"] = 1
    elif marker in node["Resources"]:
        options["resources"] = {marker: 1}  # a second sweep on the same cluster waits for the node
    return options
