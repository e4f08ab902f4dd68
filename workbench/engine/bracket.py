"""The bracket of a batch search: what has fitted, what has not, and the batch to probe next.

``low`` is the largest batch seen to fit (its budget peak under each limit, the budget less the
margin), ``high`` the smallest seen not to. After a probe at batch 1 and one jump (to the square
root of the largest batch allowed), a memory model (peak = fixed + per-image x batch, fitted
through the measured points nearest the limit) predicts the answer; the next probe goes there,
then one batch above to confirm. Where the model guesses badly twice running, a bisection step
guarantees progress; where peaks are noisy (a larger batch measured less than a smaller one)
the last few probes bisect. Pure logic: the search (:mod:`.search`) runs the probes.
"""

from __future__ import annotations

import math
from typing import Literal

from workbench.analysis.memory_model import fit_line, max_batch_for_budget
from workbench.analysis.peaks import budget_peak
from workbench.errors import WorkbenchError
from workbench.results import Status, TrialResult
from workbench.types import MemoryKind, SearchStrategy

Step = Literal["first", "model", "confirm", "grow", "bisect"]  # why a batch is probed next

NEAREST = 3  # measured points the local memory model is fitted through
END_GAME = 4  # with this few probes left and a bracket still wide, only bisect


def budget_peaks(result: TrialResult) -> dict[MemoryKind, float]:
    """The budget peaks (the larger of one pass and all passes): what a probe must fit under."""
    return {"host": budget_peak(result, "host"), "gpu": budget_peak(result, "gpu")}


def _exact(result: TrialResult) -> bool:
    """A peak that was measured, not a lower bound seen by the parent when it killed the trial."""
    if result.status is Status.OK:
        return True
    return result.status is Status.OVER_BUDGET and result.host_peak_method != "sampled_by_parent"


class Bracket:
    """The bracket and the measured points; chooses the next batch size."""

    def __init__(self, limits: dict[MemoryKind, float], max_batch: int, strategy: SearchStrategy) -> None:
        self.limits, self.max_batch, self.strategy = limits, max_batch, strategy
        self.low, self.high = 0, max_batch + 1
        self.points: dict[MemoryKind, dict[int, float]] = {k: {} for k in limits}  # measured peaks
        self.bounds: dict[MemoryKind, dict[int, float]] = {k: {} for k in limits}  # lower bounds
        self.slow_steps = 0  # model-guided probes in a row that did not halve the bracket
        self.bisect_next = False
        self.crept = False

    def fits(self, result: TrialResult) -> bool:
        """Whether a probe's budget peaks are under every limit; its measured peaks (or the lower
        bound the parent saw when it stopped the trial) are kept for the model."""
        peaks = budget_peaks(result)
        if result.status is Status.OK:
            for kind in self.limits:
                if not math.isfinite(peaks[kind]):
                    what = "GPU memory" if kind == "gpu" else "host memory"
                    raise WorkbenchError(
                        f"{what} was not measured at batch {result.batch_size}, so the "
                        f"{kind} budget cannot be checked" + (" (no GPU here: drop --gpu-budget)" if kind == "gpu" else "")
                    )
        ok = result.status is Status.OK and all(peaks[k] <= lim for k, lim in self.limits.items())
        for kind in self.limits:
            if math.isfinite(peaks[kind]):
                target = self.points if _exact(result) else self.bounds
                target[kind][result.batch_size] = peaks[kind]
        return ok

    def update(self, batch: int, fits: bool, why: Step) -> None:
        """Narrow the bracket by a probe's verdict; ``why`` is what :meth:`next_batch` gave."""
        width = self.high - self.low
        if fits:
            self.low = max(self.low, batch)
        else:
            self.high = min(self.high, batch)
        # A confirmation that fitted means the model keeps under-guessing: do not creep by one.
        self.crept = why == "confirm" and fits
        # Two model steps in a row that did not halve the bracket: bisect once.
        if why == "model":
            self.slow_steps = self.slow_steps + 1 if (self.high - self.low) * 2 > width else 0
            self.bisect_next = self.slow_steps >= 2
            if self.bisect_next:
                self.slow_steps = 0

    def noisy(self) -> bool:
        """Run-to-run noise shows: a larger batch measured a lower peak than a smaller one."""
        for pts in self.points.values():
            peaks = [pts[b] for b in sorted(pts)]
            if any(later < earlier for earlier, later in zip(peaks, peaks[1:], strict=False)):
                return True
        return False

    @property
    def done(self) -> bool:
        return self.high - self.low <= 1

    def _predict(self) -> int | None:
        """The model's largest fitting batch: the tightest over the budgeted resources.

        A line fitted through the measured points whose peaks lie nearest the limit (so it
        refines itself as probes close in); with a single measured point, a peak seen when a
        trial was stopped at the budget stands in as a lower bound for the second. A line that
        does not rise (noise between close batches) says nothing: no guess.
        """
        guesses = []
        for kind, limit in self.limits.items():
            pts = dict(self.points[kind])
            if len(pts) == 1:
                above = sorted(b for b in self.bounds[kind] if b >= self.high)
                if above:
                    pts[above[0]] = self.bounds[kind][above[0]]
            near = sorted(pts, key=lambda b: (abs(pts[b] - limit), b))[:NEAREST]
            fixed, per_image, _ = fit_line(near, [pts[b] for b in near])
            if not per_image > 0:
                return None
            # The limit already has the margin taken off: predict against it with no more margin.
            guesses.append(max_batch_for_budget(fixed, per_image, limit, 0.0, cap=self.max_batch))
        return min(guesses) if guesses else None

    def next_batch(self, probes_left: int) -> tuple[int, Step]:
        """The batch to probe next and why: ``first``, ``model``, ``confirm``, ``grow``, ``bisect``."""
        if self.low == 0:
            return 1, "first"  # batch 1 first: the fixed part, and "nothing fits" in one probe
        if (probes_left <= END_GAME and self.high <= self.max_batch and self.noisy()
                and (self.high - self.low - 1).bit_length() >= probes_left):
            # Noisy peaks and few probes left for a wide bracket: halving ends tightest.
            return (self.low + self.high) // 2, "bisect"
        guess = self._predict() if self.strategy == "model" and not self.bisect_next else None
        if guess is not None and guess <= self.low and not self.crept:
            return self.low + 1, "confirm"  # the model says low is the answer: try one more
        if guess is not None and self.low < guess < self.high:
            return guess, "model"
        self.bisect_next = False
        if self.high > self.max_batch:  # nothing has failed yet: grow
            jump = self.strategy == "model" and self.low == 1
            step = math.isqrt(self.max_batch) if jump else 2 * self.low
            return min(max(step, self.low + 1), self.max_batch), "grow"
        return (self.low + self.high) // 2, "bisect"

    def smallest_failed(self) -> int | None:
        """The smallest batch seen not to fit; None while none has failed."""
        return self.high if self.high <= self.max_batch else None
