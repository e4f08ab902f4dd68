"""The largest-batch search for the user's real dataset size (``search_batch(target_images=N)``).

Memory grows with the number of images N as well as with the batch, so a batch that fits on a
sample can run out of memory on the whole job. Probing at N itself is too slow when N is large
(every probe would predict the whole set), so the search:

1. runs its probes on a **sample** (:func:`workbench.engine.targets.sample_size`: the data's own
   count, at most 2,000 images of a folder, ``.npy`` or the demo set unless told otherwise);
2. measures, before the probes, how memory grows with N: batch 1 at a quarter, a half and the
   whole of the sample (three real trials; batch 1 because its peak is the smallest, so if it
   does not fit at a part of the sample, nothing fits at N, and because each batch keeps one
   small output array, so its growth per image is, if anything, above that of larger batches);
   the slope of a least-squares line through the three peaks is the memory one more image of
   the dataset adds (the memory model's N term);
3. judges every probe by its peak **predicted at N**: the peak it measured on the sample plus
   that slope times (N - sample). Equivalently, each limit is lowered by the growth from the
   sample to N, and the ordinary search runs against the lowered limits; its batch-1 probe is
   the size trial at the whole sample, not run again.

The answer is the largest batch whose predicted budget peak at N stays under the budget less
the margin, and the notes say what was measured and how far the prediction reaches.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from workbench.analysis.memory_model import fit_line
from workbench.analysis.peaks import budget_peak
from workbench.analysis.target import reach
from workbench.config import TrialConfig, format_bytes
from workbench.engine.targets import (
    MIN_SAMPLE,
    growth_sizes,
    replace_count,
    resolve_target,
    sample_size,
)
from workbench.errors import ConfigError, WorkbenchError
from workbench.results import Status, TrialResult, json_value
from workbench.types import MemoryKind

GROWTH_BATCH = 1

Probe = Callable[[TrialConfig], "TrialResult | None"]


def plan_sample(template: TrialConfig, target_images: Any, sample_images: int | None,
                notes: list[str]) -> tuple[TrialConfig, int | None, int | None]:
    """``(template on the sample, target N, sample size)``: the target given or the full count of
    a folder or ``.npy``; None for synthetic and demo data without one (then the template is
    unchanged unless a sample size is given). A target within the sample is probed as it is."""
    target, source = resolve_target(target_images, template.data)
    if target is None:
        if sample_images is None:
            return template, None, template.data.count
        sample = sample_size(template.data, sample_images)
        return replace(template, data=replace_count(template.data, sample)), None, sample
    sample = sample_size(template.data, sample_images)
    if target <= sample:
        notes.append(f"the probes ran at your target size, {target:,} images ({source}): measured, not predicted")
        return replace(template, data=replace_count(template.data, target)), target, target
    if sample < MIN_SAMPLE:
        raise ConfigError(f"a sample of {sample:,} images is too small to measure how memory grows with the "
                          f"number of images: use a sample of at least {MIN_SAMPLE} (--sample-images)")
    return replace(template, data=replace_count(template.data, sample)), target, sample


@dataclass
class Growth:
    """How memory grew with the number of images over the size trials, and what it adds at N."""

    target_images: int
    sample_images: int
    sizes: list[int] = field(default_factory=list)
    peaks: dict[MemoryKind, list[float]] = field(default_factory=dict)  # budget peak per kind, per size
    statuses: list[str] = field(default_factory=list)
    sample_trial: TrialResult | None = None  # batch 1 on the whole sample: the search's first probe
    cancelled: bool = False

    def per_image(self, kind: MemoryKind) -> float:
        """The slope of the budget peak over the sizes (bytes per image of the dataset); NaN
        when a size did not finish or the peak was not measured."""
        peaks = self.peaks.get(kind, [])
        if len(peaks) != len(self.sizes) or not np.isfinite(peaks).all():
            return math.nan
        return fit_line(self.sizes, peaks)[1]

    def miss(self, kind: MemoryKind) -> float:
        """The largest miss of the line through the size trials (their run-to-run noise)."""
        fixed, slope, _ = fit_line(self.sizes, self.peaks.get(kind, []))
        if not math.isfinite(slope):
            return math.nan
        return float(np.max(np.abs(np.asarray(self.peaks[kind]) - (fixed + slope * np.asarray(self.sizes)))))

    def added(self, kind: MemoryKind) -> float:
        """What the predicted peak at N adds to the sample's (never below 0: memory that did not
        grow measurably is taken as flat, and said so)."""
        slope = self.per_image(kind)
        return max(slope, 0.0) * (self.target_images - self.sample_images) if math.isfinite(slope) else 0.0

    @property
    def finished(self) -> bool:
        return all(s == Status.OK.value for s in self.statuses)

    def lowered(self, limits: dict[MemoryKind, float]) -> dict[MemoryKind, float]:
        """Each limit less the growth from the sample to N: a probe on the sample under the
        lowered limit is predicted to stay under the real limit at N."""
        return {kind: limit - self.added(kind) for kind, limit in limits.items()}

    def notes(self, kinds: list[MemoryKind]) -> list[str]:
        """What was measured, in words."""
        sizes = ", ".join(f"{n:,}" for n in self.sizes[:-1]) + f" and {self.sizes[-1]:,}"
        if not self.finished:
            bad = [f"{n:,} images ({s})" for n, s in zip(self.sizes, self.statuses, strict=False) if s != "ok"]
            return [f"measured batch {GROWTH_BATCH} at {sizes} images to learn how memory grows with the number "
                    f"of images, but it did not fit at {', '.join(bad)}: nothing fits at {self.target_images:,} images"]
        out = []
        for kind in kinds:
            slope = self.per_image(kind)
            what = "host" if kind == "host" else "GPU"
            grows = (f"{format_bytes(slope)} per image" if slope > 0 else
                     f"no measurable growth ({format_bytes(slope)} per image, within run-to-run noise: taken as flat)")
            out.append(f"measured batch {GROWTH_BATCH} at {sizes} images to learn how {what} memory grows with the "
                       f"number of images: {grows} (the line through them misses by up to "
                       f"{format_bytes(self.miss(kind))}); every probe ran on {self.sample_images:,} images and was "
                       f"judged by its peak predicted at your {self.target_images:,} images, "
                       f"{format_bytes(self.added(kind))} more (growth measured at batch {GROWTH_BATCH} and added to "
                       "the peak: for larger batches it errs high, the safe side)")
        out.append(reach(self.target_images, self.sizes))
        return out

    def to_dict(self, kinds: list[MemoryKind]) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        return {"target_images": self.target_images, "sample_images": self.sample_images,
                "growth_batch": GROWTH_BATCH, "sizes": list(self.sizes), "statuses": list(self.statuses),
                "peaks": {k: [json_value(v) for v in self.peaks.get(k, [])] for k in kinds},
                "per_dataset_image_bytes": {k: json_value(self.per_image(k)) for k in kinds},
                "added_bytes": {k: json_value(self.added(k)) for k in kinds},
                "reach": reach(self.target_images, self.sizes)}


def measure_growth(template: TrialConfig, probe: Probe, target: int, sample: int, kinds: list[MemoryKind], *,
                   report: Callable[[int, TrialResult], None] | None = None,
                   cancel: threading.Event | None = None) -> Growth:
    """Run batch 1 at a quarter, a half and the whole of the sample (``template`` is on the
    sample); ``cancelled`` is set when cancelled. A size trial that ends in an error stops the
    search, as a failed first probe does."""
    growth = Growth(target_images=target, sample_images=sample,
                    sizes=growth_sizes(sample))
    for index, n in enumerate(growth.sizes):
        trial = None if cancel is not None and cancel.is_set() else probe(
            replace(template, batch_size=GROWTH_BATCH, data=replace_count(template.data, n)))
        if trial is None:
            growth.cancelled = True
            return growth
        if report is not None:
            report(index, trial)
        if trial.status in (Status.ERROR, Status.TIMEOUT):
            raise WorkbenchError(f"the trial at batch {GROWTH_BATCH} on {n:,} images failed ({trial.status}): {trial.error}")
        growth.statuses.append(str(trial.status))
        for kind in kinds:
            growth.peaks.setdefault(kind, []).append(budget_peak(trial, kind) if trial.ok else math.nan)
        if n == sample:
            growth.sample_trial = trial
        if not trial.ok:  # over the budget on part of the sample: more images only need more
            break
    return growth


def start(template: TrialConfig, probe: Probe, target: int | None, sample: int | None,
          limits: dict[MemoryKind, float], notes: list[str], *, report: Callable[[int, TrialResult], None],
          cancel: threading.Event | None = None) -> tuple[Growth | None, dict[MemoryKind, float], Probe]:
    """Before the probes: when the target is above the sample, measure the growth with N and
    return it, the limits lowered by it and the probe that reuses the batch-1 trial on the
    sample (``notes`` get what was measured). Otherwise ``(None, limits, probe)`` unchanged."""
    if target is None or sample is None or target <= sample:
        return None, limits, probe
    growth = measure_growth(template, probe, target, sample, list(limits), report=report, cancel=cancel)
    if growth.cancelled:
        return growth, limits, probe
    notes += growth.notes(list(limits))
    return growth, growth.lowered(limits), reusing(probe, growth.sample_trial)


def reusing(probe: Probe, done: TrialResult | None) -> Probe:
    """``probe``, except that the first call at ``done``'s batch returns ``done`` (the size
    trial on the whole sample at batch 1 is the search's first probe: not run twice)."""
    pending = [done] if done is not None else []

    def wrapped(cfg: TrialConfig) -> TrialResult | None:
        if pending and cfg.batch_size == pending[0].batch_size:
            return pending.pop()
        return probe(cfg)

    return wrapped


def summary(growth: Growth | None, target: int | None, batch: int, probes: list[tuple[int, str, float]],
            kind: MemoryKind) -> dict[str, Any]:
    """``SearchResult.target``: what the search measured for the target and the answer's peak
    there (its peak on the sample plus the growth); empty without a target."""
    if target is None:
        return {}
    if growth is None:  # the probes ran at the target itself
        return {"target_images": target, "sample_images": target, "reach": reach(target, [target])}
    kinds = list(growth.peaks) or [kind]
    measured = next((p for b, _, p in probes if b == batch), math.nan)
    predicted = measured + growth.added(kind) if batch > 0 else math.nan
    return {**growth.to_dict(kinds), "answer": {
        "batch_size": batch, "measured_peak_bytes": json_value(measured),
        "predicted_peak_bytes": json_value(predicted)}}
