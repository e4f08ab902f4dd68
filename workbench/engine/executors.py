"""Where a sweep's trials run: the seam between the runner's loop and the machines.

The runner (:func:`workbench.engine.runner.run_sweep`) owns everything that must be the same
wherever trials run: the order, the results file, progress events, resume and cancel. An
executor only runs trials: it takes them one at a time (``submit``) while it has a free slot,
and hands back results as trials finish (``poll``). Each slot runs one trial at a time, in its
own process, through :func:`workbench.engine.runner.run_trial`, so budgets, timeouts and
statuses are the same code everywhere.

* :class:`LocalExecutor` (the default): one slot, this machine's fork server; ``poll`` runs the
  submitted trial to its end, so a sweep behaves exactly as it did before executors existed.
* :class:`workbench.engine.ray_executor.RayExecutor`: one slot per node or GPU of a Ray
  cluster (``pip install .[ray]``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from workbench.errors import ConfigError

if TYPE_CHECKING:
    from workbench.config import TrialConfig
    from workbench.engine.launcher import ForkServer, ForkServers, SpawnLauncher
    from workbench.results import TrialResult

EXECUTORS = ("local", "ray")

# (index in the sweep, its result); a result of None means the trial was cancelled.
Finished = list[tuple[int, "TrialResult | None"]]


class Executor(Protocol):
    """Runs trials, one at a time per slot, and hands results back as they finish."""

    name: str

    @property
    def slots(self) -> int:
        """Trials it can run at once right now (0: none left, e.g. every node died)."""

    def open(self, cancel: threading.Event | None = None) -> None:
        """Get ready to run trials (connect, start workers); a one-line WorkbenchError if it
        cannot. ``cancel`` is the sweep's cancel flag."""

    def submit(self, index: int, trial: TrialConfig) -> None:
        """Start ``trial`` (the sweep's ``index``-th) on a free slot; call only while one is free."""

    def poll(self, timeout: float) -> Finished:
        """The trials that finished since the last call, waiting up to ``timeout`` seconds for
        one; ``[]`` when none did. A failed trial is a result with its status, never an
        exception."""

    def cancel(self) -> Finished:
        """Stop every running trial (within about a second); return those that finished anyway."""

    def close(self) -> None:
        """Release what ``open`` started; the executor can be opened again."""


class LocalExecutor:
    """This machine, one trial at a time, through ``launcher`` (default: the shared fork server).

    ``poll`` runs the trial that was submitted until it ends, so the runner's loop works
    exactly as a plain ``for`` loop over the trials.
    """

    name = "local"
    slots = 1

    def __init__(self, launcher: ForkServer | ForkServers | SpawnLauncher | None = None) -> None:
        self.launcher = launcher
        self._cancel: threading.Event | None = None
        self._queued: list[tuple[int, TrialConfig]] = []

    def open(self, cancel: threading.Event | None = None) -> None:
        self._cancel = cancel

    def submit(self, index: int, trial: TrialConfig) -> None:
        if self._queued:
            raise RuntimeError("the local executor runs one trial at a time")
        self._queued.append((index, trial))

    def poll(self, timeout: float) -> Finished:
        from workbench.engine import runner  # a module attribute, so tests may replace run_trial

        done: Finished = []
        while self._queued:
            index, trial = self._queued.pop(0)
            done.append((index, runner.run_trial(trial, cancel=self._cancel, launcher=self.launcher)))
        return done

    def cancel(self) -> Finished:
        self._queued.clear()  # run_trial itself watches the cancel flag while a trial runs
        return []

    def close(self) -> None:
        self._queued.clear()


def make_executor(name: str = "local", ray_address: str | None = None) -> Executor:
    """An executor by name, as the CLI and the panel choose it: ``local`` (default) or ``ray``
    (``ray_address`` is ``HOST:PORT`` of a running cluster's head, or ``local`` to start Ray
    on this machine). Bad choices are a ConfigError, before any trial starts."""
    choice = (name or "local").strip().lower()
    if choice not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}: choose from {', '.join(EXECUTORS)}")
    if choice == "local":
        if ray_address:
            raise ConfigError("a Ray address was given for the local executor: add --executor ray")
        return LocalExecutor()
    if not ray_address:
        raise ConfigError("the ray executor needs an address: --ray-address HOST:PORT (a running "
                          "cluster's head) or --ray-address local (start Ray on this machine)")
    from workbench.engine.ray_executor import RayExecutor

    return RayExecutor(ray_address)


def run_one(executor: Executor, trial: TrialConfig, cancel: threading.Event | None = None,
            poll_s: float = 0.2) -> TrialResult | None:
    """Run one trial on an opened ``executor`` and wait for it (a search's probes run one at a
    time: each depends on the last). None when ``cancel`` was set first."""
    executor.submit(0, trial)
    while True:
        if cancel is not None and cancel.is_set():
            finished = executor.cancel()
            return finished[0][1] if finished else None
        for _, result in executor.poll(poll_s):
            return result
