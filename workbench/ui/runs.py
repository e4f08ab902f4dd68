"""The panel's background jobs: a sweep and a search, reporting into the panel's widgets.

Each returns the body that :class:`~workbench.ui.jobs.JobRunner` runs off the main thread.
The bodies only set widget traits (safe from a thread in ipywidgets 8), and pass the cancel
flag on to the engine.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from workbench.config import SweepConfig, TrialConfig, format_bytes
from workbench.engine.executors import Executor
from workbench.engine.runner import TrialEvent, run_sweep
from workbench.engine.search import ProbeEvent, search_batch
from workbench.engine.sweep_sizes import plan_sizes
from workbench.plan import expand
from workbench.types import SearchStrategy
from workbench.ui.defaults import AUTO_SIZES_SKIP
from workbench.ui.jobs import Tally, set_status, ticking

if TYPE_CHECKING:
    from workbench.ui.panel import Workbench

REFRESH_SKIPPED_EVERY_S = 2.0  # a resumed sweep replays many "skip" events: re-draw now and then


def first_use_note(sweep: SweepConfig) -> str:
    """Say so when the demo assets may be built before the first trial (a minute, once)."""
    if (sweep.model.kind == "builtin" and sweep.model.name.lower() == "demo") or sweep.data.kind == "demo":
        return " (the demo model and images are built on first use: about a minute)"
    return ""


def sweep_body(panel: Workbench, sweep: SweepConfig, out: str, *, retry_failed: bool = False,
               executor: Executor | None = None) -> Callable[[threading.Event], None]:
    """The sweep behind **Run sweep**: run, and after each trial re-draw the results."""

    def body(cancel: threading.Event) -> None:
        plan = plan_sizes(sweep)  # the sizes added to measure the N term: made once, handed to the runner
        total = len(expand(sweep, plan))
        tally = Tally(total)
        panel.progress.max, panel.progress.value, panel.progress.bar_style = total, 0, ""
        added = plan.announce(AUTO_SIZES_SKIP)
        set_status(panel.status, f"starting {total} trial(s) into {out}{first_use_note(sweep)}"
                                 + (f"; {added}" if added else ""))
        last_refresh = 0.0

        def progress(event: TrialEvent) -> None:
            nonlocal last_refresh
            if event.kind == "start":
                tally.start()
                tally.current = f"trial {event.index + 1} of {total} running: {event.trial.describe()}"
                set_status(panel.status, status_text() or tally.current)
                return
            tally.end(event.result is not None and event.result.ok, skipped=event.kind == "skip")
            tally.current = ""
            panel.progress.value = tally.done
            if event.kind == "end" or time.monotonic() - last_refresh > REFRESH_SKIPPED_EVERY_S:
                panel.show_results(out)  # failed trials show up as markers at once
                last_refresh = time.monotonic()

        def status_text() -> str | None:
            if cancel.is_set() or not tally.current:
                return None
            return f"{tally.current} · {tally.done} of {total} done · {tally.time_left()}"

        with ticking(panel.status, status_text):
            run_sweep(sweep, out, progress=progress, cancel=cancel, retry_failed=retry_failed, executor=executor,
                      size_plan=plan)
        panel.show_results(out)
        summary = (f"{tally.done} of {total} trials ({tally.failed} failed, {tally.skipped} already done) "
                   f"in {tally.elapsed()}; results in {out}" + (f"; {plan.summary()}" if plan.sizes else ""))
        if cancel.is_set() and tally.done < total:
            panel.progress.bar_style = "warning"
            set_status(panel.status, f"cancelled: {summary}. The running trial was stopped; finished ones are kept.")
        else:
            panel.progress.bar_style = "success"
            set_status(panel.status, f"done: {summary}")

    return body


def search_body(panel: Workbench, template: TrialConfig, out: str, *, host_budget_bytes: int | None,
                gpu_budget_bytes: int | None, margin: float, max_batch: int, strategy: SearchStrategy,
                executor: Executor | None = None,
                target_images: int | None = None) -> Callable[[threading.Event], None]:
    """The search behind **Search**: probe batch sizes, showing each probe as it ends. With a
    target size above the sample, the trials measuring how memory grows with it come first."""
    host, gpu = host_budget_bytes, gpu_budget_bytes

    def body(cancel: threading.Event) -> None:
        tally = Tally(total=0)
        panel.progress.max, panel.progress.value, panel.progress.bar_style = 1, 0, ""
        under = " and ".join(f"{k} {format_bytes(v)}" for k, v in (("host", host), ("GPU", gpu)) if v)
        what = f"{template.pipeline} · {template.precision}"
        set_status(panel.status, f"searching the largest batch for {what} under {under}")

        def progress(event: ProbeEvent) -> None:
            if event.kind == "size":  # a trial measuring how memory grows with the number of images
                images = event.result.images if event.result is not None else "?"
                set_status(panel.status, f"measured {images} images at batch {event.batch_size} ({what}): "
                                         "how memory grows with the number of images")
                panel.show_results(out)
                return
            if event.kind == "start":
                tally.start()
                bracket = f"fits up to {event.low}" + (f", fails from {event.high}" if event.high else "")
                tally.current = f"probe {event.index + 1}: batch {event.batch_size} ({what}) · {bracket}"
                set_status(panel.status, tally.current)
            else:
                tally.end(event.result is not None and event.result.ok)
                tally.current = ""
                panel.show_results(out)  # the probe appears on the memory curve at once

        def status_text() -> str | None:
            if cancel.is_set() or not tally.current:
                return None
            return f"{tally.current} · {tally.elapsed()} so far"

        with ticking(panel.status, status_text):
            found = search_batch(template, out, host_budget_bytes=host, gpu_budget_bytes=gpu, margin=margin,
                                 max_batch=max_batch, progress=progress, cancel=cancel,
                                 strategy=strategy, executor=executor,
                                 target_images=target_images)
        panel.show_results(out)
        panel.progress.value = panel.progress.max
        probes = f"{found.n_probes} probe(s) in {tally.elapsed()}"
        if found.cancelled:
            panel.progress.bar_style = "warning"
            set_status(panel.status, f"search cancelled after {probes}; finished probes are kept in {out}")
        elif found.batch_size == 0:
            panel.progress.bar_style = "danger"
            set_status(panel.status, f"no batch size fits under {under} ({what}, {probes}): "
                                    "raise the budget or pick a smaller model or input")
        else:
            panel.progress.bar_style = "success"
            limit = " (the largest allowed: raise 'search up to')" if found.limited_by == "max_batch" else ""
            at = f" at {found.target['target_images']:,} images" if found.target else ""
            set_status(panel.status, f"largest batch under {under}{at} for {what}: {found.batch_size}{limit} "
                                    f"({probes}); results in {out}")
        if found.notes:
            panel.details.value = "".join(f"<div>note: {html.escape(n)}</div>" for n in found.notes)

    return body
