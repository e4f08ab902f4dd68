"""Background jobs of the panel: one daemon thread at a time, a cancel flag, progress text.

A running cell blocks widget messages, so a sweep started from a button runs in a daemon
thread that nobody joins in the callback; the kernel stays free for other cells and for the
Cancel button's message. The thread only sets widget traits (safe from a thread in
ipywidgets 8.1.9).
"""

from __future__ import annotations

import html
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import ipywidgets as W

from workbench.errors import WorkbenchError


def format_duration(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``1 h 02 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass
class Tally:
    """Counts and timings of a sweep as its events arrive; estimates the time left."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    durations: list[float] = field(default_factory=list)
    started_at: float = field(default_factory=lambda: time.monotonic())  # late-bound: tests fake the clock
    current: str = ""  # what runs now, for the status line
    _trial_started: float | None = None

    def start(self) -> None:
        self._trial_started = time.monotonic()

    def end(self, ok: bool, *, skipped: bool = False) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if skipped:
            self.skipped += 1
        elif self._trial_started is not None:
            self.durations.append(time.monotonic() - self._trial_started)
        self._trial_started = None

    def time_left(self) -> str:
        """About how long the rest takes, from the trials measured so far."""
        if not self.durations:
            return "time left: estimating after the first trial"
        per_trial = sum(self.durations) / len(self.durations)
        running = time.monotonic() - self._trial_started if self._trial_started else 0.0
        left = per_trial * (self.total - self.done) - min(running, per_trial)
        return f"about {format_duration(left)} left"

    def elapsed(self) -> str:
        return format_duration(time.monotonic() - self.started_at)


class JobRunner:
    """Runs one job at a time in a background thread; reports its end and any error in ``status``.

    A job's body is handed the cancel flag, and the engine honours it at every step: while the
    trial process server starts, while the demo model is trained, and within a poll interval
    while a trial runs (its process is ended). So Cancel ends a job within about a second.
    """

    def __init__(self, status: W.HTML, details: W.HTML, on_busy: Callable[[bool], None]) -> None:
        self.status = status
        self.details = details
        self.on_busy = on_busy
        self.cancel = threading.Event()  # the latest job's flag
        self.thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, name: str, body: Callable[[threading.Event], None]) -> bool:
        """Start ``body(cancel)`` in the background; False if a job is already running."""
        if self.busy:
            return False
        self.cancel = threading.Event()
        self.details.value = ""
        self.on_busy(True)
        self.thread = threading.Thread(target=self._run, args=(body, self.cancel), name=f"workbench-{name}",
                                       daemon=True)
        self.thread.start()
        return True

    def _run(self, body: Callable[[threading.Event], None], cancel: threading.Event) -> None:
        try:
            body(cancel)
        except WorkbenchError as exc:  # a user's mistake found late: one line, no traceback
            set_status(self.status, f"error: {exc}", error=True)
        except Exception as exc:  # a bug: say so, and keep the traceback inside the panel
            set_status(self.status, f"unexpected error: {type(exc).__name__}: {exc}", error=True)
            self.details.value = ("<details><summary>details</summary>"
                                  f"<pre>{html.escape(traceback.format_exc())}</pre></details>")
        finally:
            self.on_busy(False)

    def request_cancel(self) -> None:
        self.cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (for scripts and tests, never in a widget callback)."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.busy


@contextmanager
def ticking(label: W.HTML, render: Callable[[], str | None], every_s: float = 1.0) -> Iterator[None]:
    """Re-write the status line every second while a trial runs, so the time left counts down
    (the runner's events only arrive when a trial starts and ends)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            text = render()
            if text:
                set_status(label, text)

    thread = threading.Thread(target=loop, name="workbench-status", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(every_s * 2)


def set_status(label: W.HTML, text: str, *, error: bool = False) -> None:
    colour = "#b00020" if error else "inherit"
    label.value = f"<span class='wb-status-text' style='color:{colour}'>{html.escape(text)}</span>"
