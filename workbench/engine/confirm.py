"""The search's answer, confirmed: run it again, and keep the margin against the larger peak.

The peak of one setting moves between runs by tens of MiB here (MobileNetV2 96 px, batch 251 on
1,024 images: 1,824 and 1,832 MiB over all passes in two runs, 1,668 and 1,720 over one), so a
batch that fitted once may not fit the next time. After the search closes its bracket, its
answer runs once more; the answer stands when the budget peak of *both* runs stays under the
budget less the margin. When the second run goes over, the search steps down by as many images
as the excess (plus the run-to-run spread just seen) is worth on the local memory line, runs the
new batch twice, and says so in its notes. At most :data:`CONFIRM_RUNS` trials; when a step down
leaves one run, it goes to the largest batch between half the step and the step that fitted every
time it ran (when there is one), so that the last run can still confirm an answer.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from workbench.analysis.memory_model import fit_line
from workbench.analysis.peaks import budget_peak
from workbench.config import TrialConfig, format_bytes
from workbench.engine.bracket import NEAREST
from workbench.engine.search_target import Probe
from workbench.results import TrialResult, json_value
from workbench.types import MemoryKind

if TYPE_CHECKING:
    from workbench.engine.bracket import Bracket
    from workbench.engine.search import ProbeEvent, SearchResult

CONFIRM_RUNS = 4  # trials the confirmation may run: the answer again, and a step down run twice


def step_down(batch: int, worst: float, spread: float, limit: float, points: dict[int, float]) -> int:
    """The batch to try after ``batch`` went over ``limit`` (its larger peak ``worst``): lower by
    the excess plus the run-to-run ``spread`` over the memory per image of the line through the
    measured ``points`` nearest ``batch``; without a rising line (or a peak), the largest measured
    batch below that fitted, else half. 0 when ``batch`` was 1 (nothing fits)."""
    if batch <= 1:
        return 0
    near = sorted(points, key=lambda b: (abs(b - batch), b))[:NEAREST]
    _, per_image, _ = fit_line(near, [points[b] for b in near])
    if per_image >= 1 and math.isfinite(worst):  # at least a byte an image: a line that rises
        excess_images = (worst + (spread if spread > 0 else 0.0) - limit) / per_image
        lower = batch - max(1, math.ceil(round(excess_images, 6)))  # 9.0000001 images are 9
    else:
        below = [b for b, peak in points.items() if b < batch and peak <= limit]
        lower = max(below) if below else batch // 2
    return max(lower, 1)


def confirm_answer(template: TrialConfig, probe: Probe, result: SearchResult, fits: Callable[[TrialResult], bool],
                   limit: float, points: dict[int, float], *, report: Callable[[TrialResult, bool], None] | None = None,
                   cancel: threading.Event | None = None) -> None:
    """Run ``result.batch_size`` again; step down while a run goes over ``limit``. Updates
    ``result`` (``batch_size``, ``confirmed``, ``confirmations``, ``notes``). ``fits`` judges a
    trial against every budget (the search's own rule); ``points`` are the peaks measured so far
    by batch (for the step down); ``report(trial, fits)`` is told of every run."""
    kind: MemoryKind = "host" if result.host_budget_bytes else "gpu"
    batch = result.batch_size
    runs: dict[int, list[float]] = {}  # budget peaks of each batch's runs: the search's probes first
    failed: set[int] = set()  # batches with a run that did not fit (the search's own rule)
    for (b, _, p), ok in zip(result.probes, result.fits, strict=True):
        if ok:
            runs.setdefault(b, []).append(p)
        else:
            failed.add(b)
    while batch > 0 and len(result.confirmations) < CONFIRM_RUNS:
        if cancel is not None and cancel.is_set():
            result.cancelled = True
            return
        seen = runs.setdefault(batch, [])
        trial = probe(replace(template, batch_size=batch, repeat=len(seen)))
        if trial is None:  # cancelled mid-run: the answer stays as the search left it
            result.cancelled = True
            return
        ok, peak = fits(trial), budget_peak(trial, kind)
        seen.append(peak)
        result.confirmations.append({"batch_size": batch, "status": str(trial.status),
                                     "peak_bytes": json_value(peak), "fits": ok})
        if report is not None:
            report(trial, ok)
        finite = [p for p in seen if math.isfinite(p)]
        moved = max(finite) - min(finite) if len(finite) >= 2 else math.nan
        if ok and len(seen) >= 2:
            result.batch_size, result.confirmed = batch, True
            result.notes.append(_confirmed(batch, seen, moved, limit, kind))
            return
        if not ok:
            failed.add(batch)
            lower = step_down(batch, max(finite, default=math.nan), moved, limit, points)
            fitted = None
            if CONFIRM_RUNS - len(result.confirmations) == 1:  # one run left: a new batch could only run once,
                # a batch that fitted every time it ran is confirmed by it
                fitted = max((b for b, peaks in runs.items() if peaks and b not in failed and lower // 2 <= b <= lower),
                             default=None)
            lower = lower if fitted is None else fitted
            result.notes.append(_stepped(batch, trial, peak, seen, limit, lower, kind, fitted is not None))
            result.batch_size = batch = lower
    if batch > 0 and not result.confirmed:
        result.notes.append(f"batch {batch} fitted once but was not run again ({CONFIRM_RUNS} confirmation runs "
                            "used): give the budget more room or run the search again")
    if batch == 0:
        result.limited_by = "nothing_fits"


def _confirmed(batch: int, seen: list[float], moved: float, limit: float, kind: str) -> str:
    peaks = " and ".join(format_bytes(p) for p in seen)
    spread = (f"; run-to-run spread {format_bytes(moved)} ({moved / min(seen) * 100:.1f} %)"
              if math.isfinite(moved) else "")
    return (f"confirmed: batch {batch} ran twice with {kind} budget peaks {peaks}{spread}, both within the "
            f"limit of {format_bytes(limit)} (the budget less the margin)")


def _stepped(batch: int, trial: TrialResult, peak: float, seen: list[float], limit: float, lower: int,
             kind: str, fitted_before: bool = False) -> str:
    what = (f"peaked {format_bytes(peak)}" if math.isfinite(peak) else f"ended {trial.status}")
    earlier = [p for p in seen[:-1] if math.isfinite(p)]
    before = f" (first run {format_bytes(earlier[0])})" if earlier else ""
    then = f"stepped down to batch {lower}" if lower else "nothing fits"
    if fitted_before:
        then += " (it fitted before, so the one confirmation run left can confirm it)"
    when = "when run again" if len(seen) > 1 else "in its first run"
    return f"batch {batch} {what} {when}{before}, over the {kind} limit of {format_bytes(limit)}: {then}"



def confirm_search(template: TrialConfig, probe: Probe, result: SearchResult, state: Bracket,
                   progress: Callable[[ProbeEvent], None] | None, cancel: threading.Event | None) -> None:
    """:func:`confirm_answer` for :func:`workbench.engine.search.search_batch`: its limits and
    measured points, a ``confirm`` :class:`ProbeEvent` after each run."""
    from workbench.engine.search import ProbeEvent

    kind: MemoryKind = "host" if result.host_budget_bytes else "gpu"
    high = state.high if state.high <= state.max_batch else None

    def report(trial: TrialResult, fits: bool) -> None:
        if progress:
            index = len(result.probes) + len(result.confirmations) - 1
            progress(ProbeEvent("confirm", index, trial.batch_size, trial, fits, state.low, high))

    confirm_answer(template, probe, result, state.fits, state.limits[kind], state.points[kind],
                   report=report, cancel=cancel)
