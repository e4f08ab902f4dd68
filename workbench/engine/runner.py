"""Parent side of a sweep: one fresh worker process per trial, budgets, timeouts, statuses.

The parent never imports TensorFlow. It waits on the child with a blocking wait of at most
``poll_interval_s`` (not a spin), and between waits checks the child's resident memory against
the host budget, the wall-clock timeout and the cancel flag. A trial that dies in any way
comes back as a :class:`TrialResult` with a status, its exit code and the tail of its stderr;
the sweep goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from workbench.config import SweepConfig, TrialConfig
from workbench.engine.executors import Executor, Finished, LocalExecutor
from workbench.engine.launcher import (
    ForkServer,
    ForkServers,
    SpawnLauncher,
    default_launcher,
    wait_or_kill,
)
from workbench.engine.lock import folder_lock
from workbench.engine.sweep_sizes import SizePlan, plan_sizes
from workbench.errors import WorkbenchError
from workbench.plan import expand
from workbench.results import ResultStore, Status, TrialResult
from workbench.types import KilledBy, TrialEventKind

MIB = 2**20
STDERR_TAIL_CHARS = 3000
POLL_S = 0.1  # how often the sweep's loop looks at the cancel flag while trials run elsewhere


@dataclass
class TrialEvent:
    """Progress of a sweep, passed to the ``progress`` callback.

    ``kind`` is ``start`` (a trial process is about to start), ``end`` (it finished, in any
    way: see ``result.status``) or ``skip`` (already in the results file: resumed).
    """

    kind: TrialEventKind
    index: int  # 0-based position in the sweep
    total: int
    trial: TrialConfig
    result: TrialResult | None = None


Progress = Callable[[TrialEvent], None]
Launcher = ForkServer | ForkServers | SpawnLauncher


def stderr_tail(path: Path, lines: int = 40, line_chars: int = 300) -> str:
    """The last lines of a trial's stderr, each cut to a readable length (a crash dump's
    one-line list of extension modules would otherwise push the traceback out)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - 64 * 1024, 0))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    kept = [ln if len(ln) <= line_chars else ln[:line_chars] + " ..." for ln in text.splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])[-STDERR_TAIL_CHARS:]


class _MemoryWatch:
    """Resident memory of a trial process (and any children it started), cheaply.

    The watch runs every 20 ms while the trial is timed on the same cores, so it must cost
    next to nothing: the trial's own size is one read of ``/proc/PID/statm``; looking for
    children means scanning every process, so that happens once a second only.
    """

    CHILD_SCAN_EVERY = 50

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self.children: list[psutil.Process] = []
        self.polls = 0
        try:
            self.proc: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self.proc = None

    def _own_rss(self) -> int:
        try:
            with open(f"/proc/{self.pid}/statm", "rb") as fh:
                return int(fh.read().split()[1]) * self.page
        except (OSError, IndexError, ValueError):
            try:
                return self.proc.memory_info().rss if self.proc is not None else 0
            except psutil.Error:
                return 0

    def rss(self) -> int:
        if self.proc is not None and self.polls % self.CHILD_SCAN_EVERY == 0:
            try:
                self.children = self.proc.children(recursive=True)
            except psutil.Error:
                self.children = []
        self.polls += 1
        total = self._own_rss()
        for child in self.children:
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total


def run_trial(
    cfg: TrialConfig,
    *,
    cancel: threading.Event | None = None,
    poll_interval_s: float = 0.02,
    launcher: Launcher | None = None,
) -> TrialResult | None:
    """Run one trial in its own process. Returns None only when cancelled.

    ``launcher`` starts the process (default: :func:`workbench.engine.launcher.default_launcher`).
    """
    workdir = Path(tempfile.mkdtemp(prefix="workbench-trial-"))
    try:
        return _run_in(workdir, cfg, cancel, poll_interval_s, launcher or default_launcher())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_in(workdir: Path, cfg: TrialConfig, cancel: threading.Event | None,
            poll_interval_s: float, launcher: Launcher) -> TrialResult | None:
    config_path, result_path, stderr_path = workdir / "config.json", workdir / "result.json", workdir / "stderr.txt"
    config_path.write_text(json.dumps(cfg.to_dict()))
    budget, timeout = cfg.budget.host_bytes, cfg.budget.timeout_s
    seen_rss = 0
    t0 = time.monotonic()
    proc = launcher.launch(config_path, result_path, stderr_path, cancel=cancel, backend=cfg.backend)
    if proc is None:  # cancelled before the trial started
        return None
    watch = _MemoryWatch(proc.pid)

    def over() -> KilledBy | None:
        nonlocal seen_rss
        rss = watch.rss()
        seen_rss = max(seen_rss, rss)
        if budget and rss > budget:
            return "budget"
        if timeout and time.monotonic() - t0 > timeout:
            return "timeout"
        return "cancel" if cancel is not None and cancel.is_set() else None

    code, killed_by = wait_or_kill(proc, poll_interval_s, over)
    wall = time.monotonic() - t0
    if killed_by == "cancel":
        return None
    result = _read_result(result_path, cfg)
    result.wall_s = wall
    result.exit_code = code
    result.launcher = launcher.name
    _classify(result, code, killed_by, seen_rss, cfg, result_path.exists())
    if result.status is not Status.OK:
        result.stderr_tail = stderr_tail(stderr_path)
    return result


def _read_result(path: Path, cfg: TrialConfig) -> TrialResult:
    if path.exists():
        try:
            return TrialResult.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError):
            pass
    return TrialResult.for_trial(cfg)


def _classify(result: TrialResult, code: int | None, killed_by: KilledBy | None, seen_rss: int,
              cfg: TrialConfig, wrote_result: bool) -> None:
    """Decide the status of a trial from how its process ended."""
    if killed_by == "budget":
        result.status = Status.OVER_BUDGET
        if not result.host_peak_bytes >= seen_rss:  # NaN-safe: what the parent saw is a lower bound
            result.host_peak_bytes = result.host_peak_all_bytes = float(seen_rss)
            result.host_peak_method = "sampled_by_parent"
        result.error = (
            f"killed at {seen_rss / MIB:.0f} MiB resident, over the host budget of "
            f"{(cfg.budget.host_bytes or 0) / MIB:.0f} MiB"
        )
    elif killed_by == "timeout":
        result.status = Status.TIMEOUT
        result.error = f"no result after the {cfg.budget.timeout_s:g} s timeout; the trial was killed"
    elif wrote_result:
        return  # the worker classified itself (ok, oom, over_budget, error)
    elif code == -signal.SIGKILL:
        result.status = Status.OOM
        result.error = ("killed by SIGKILL without writing a result: most likely the kernel's "
                        "out-of-memory killer (host memory ran out)")
    elif code is not None and code < 0:
        result.status = Status.ERROR
        result.error = f"crashed: killed by signal {signal.Signals(-code).name}"
    else:
        result.status = Status.ERROR
        result.error = f"the worker exited with code {code} without writing a result"


def run_sweep(
    sweep: SweepConfig,
    out_dir: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    retry_failed: bool = False,
    launcher: Launcher | None = None,
    allow_other_machine: bool = False,
    executor: Executor | None = None,
    size_plan: SizePlan | None = None,
) -> list[TrialResult]:
    """Run every trial of ``sweep`` not already in ``out_dir``; return the results of all of them.

    Each result is appended to ``out_dir/results.jsonl`` and flushed as soon as its trial ends,
    so a sweep killed halfway resumes where it stopped. ``retry_failed`` runs failed trials again.
    Cancelling (``cancel.set()``) ends the running trials' processes; finished results are kept.
    A folder written on another machine is refused unless ``allow_other_machine`` (then its
    trials are kept apart, never reused); a folder another sweep is writing is refused at once.
    ``executor`` says where trials run (default: this machine, one at a time, through
    ``launcher``; :class:`workbench.engine.ray_executor.RayExecutor` fans them out over a Ray
    cluster); results come back in the order trials finish and are returned in sweep order.
    ``size_plan``: :func:`~workbench.engine.sweep_sizes.plan_sizes` of ``sweep`` where the caller
    already made it (to say it before the sweep); None makes it here, once for the whole sweep.
    """
    plan = plan_sizes(sweep) if size_plan is None else size_plan  # reads the data once: a folder is scanned
    trials = expand(sweep, plan)  # validates every trial before any runs
    from workbench.engine.baseline import check_host_budget
    from workbench.engine.preflight import check_out_dir
    from workbench.engine.prepare import prepare

    check_out_dir(out_dir)
    prepare(sweep.model, sweep.data, cancel=cancel)  # file checks; demo assets built, never in a trial
    check_host_budget(sweep.budget.host_bytes, backends=sweep.backends)  # not below what the runtime alone holds
    with folder_lock(out_dir):
        return _run_trials(trials, sweep, ResultStore(out_dir), progress, cancel, retry_failed,
                           executor or LocalExecutor(launcher), allow_other_machine, plan)


def sweep_header(sweep: SweepConfig, size_plan: SizePlan | None = None) -> dict[str, Any]:
    """The sweep as the results header records it: its config, and the dataset sizes it added
    by itself to measure the N term (``added_sizes``, where it did), which the answers cite.
    ``size_plan``: that plan where the caller already made it; None makes it here."""
    plan = plan_sizes(sweep) if size_plan is None else size_plan
    return {**sweep.to_dict(), **({"added_sizes": plan.to_dict()} if plan.sizes else {})}


def _run_trials(trials: list[TrialConfig], sweep: SweepConfig, store: ResultStore, progress: Progress | None,
                cancel: threading.Event | None, retry_failed: bool, executor: Executor,
                allow_other_machine: bool, plan: SizePlan) -> list[TrialResult]:
    store.ensure_header(sweep_header(sweep, plan), allow_other_machine=allow_other_machine)
    previous = {r.key: r for r in store.results(machine=store.machine)}  # never another machine's
    results: dict[int, TrialResult] = {}

    def finished(done: Finished) -> bool:
        """Store what finished; False when a trial came back cancelled (nothing half-measured
        is stored)."""
        for index, result in done:
            if result is not None:
                store.append(result)
                results[index] = result
                if progress:
                    progress(TrialEvent("end", index, len(trials), trials[index], result))
        return all(result is not None for _, result in done)

    todo = {i for i, t in enumerate(trials)
            if (done := previous.get(t.key())) is None or (retry_failed and not done.ok)}
    running, going = 0, True
    try:
        if todo and not (cancel is not None and cancel.is_set()):
            executor.open(cancel)  # a cluster that cannot be reached fails here, before any trial
        for index, trial in enumerate(trials):
            if cancel is not None and cancel.is_set():
                break
            if index not in todo:
                results[index] = previous[trial.key()]
                if progress:
                    progress(TrialEvent("skip", index, len(trials), trial, results[index]))
                continue
            while going and running >= max(executor.slots, 1):  # wait for a free slot
                going, running = _collect(executor, cancel, finished, running)
            if not going or (cancel is not None and cancel.is_set()):
                break
            if executor.slots < 1:
                raise WorkbenchError(f"no {executor.name} slot is left to run trials (finished results are saved; "
                                     "re-run to resume)")
            if progress:
                progress(TrialEvent("start", index, len(trials), trial))
            executor.submit(index, trial)
            running += 1
        while going and running:
            going, running = _collect(executor, cancel, finished, running)
    finally:
        if todo:
            executor.close()
    return [results[i] for i in sorted(results)]


def _collect(executor: Executor, cancel: threading.Event | None,
             finished: Callable[[Finished], bool], running: int) -> tuple[bool, int]:
    """Wait briefly for trials to finish and store them: (go on?, trials still running)."""
    if cancel is not None and cancel.is_set():
        finished(executor.cancel())  # what ended before the cancel is kept
        return False, 0
    done = executor.poll(POLL_S)
    return finished(done), running - len(done)
