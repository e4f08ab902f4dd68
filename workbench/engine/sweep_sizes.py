"""The dataset sizes a sweep adds by itself so that its answers at the target size are measured.

Memory grows with the number of images N (``model.predict`` keeps every batch's outputs; the
in-memory pipelines hold copies of the array), and the memory model's N term (peak = fixed +
per image x batch + per dataset image x N) needs two or more sizes. A sweep measured at one
size, with a target above it (``--target-images``), would answer "not measured" at the target
(the target is the one given, else a folder's or ``.npy``'s full count: a sweep of the first
1,000 images of a 1,200,000-image file is a sample of a larger job). So, unless
told not to (``auto_sizes=False``, ``--no-auto-sizes``), the sweep also runs each pipeline x
precision (x backend) at a quarter and a half of its size (the sizes the search measures:
:func:`~workbench.engine.targets.growth_sizes`), at **one** batch size:

* the largest batch of the sweep that is no larger than the smallest added size (a batch above
  the images there would be cut to them, and measure another batch);
* a large batch rather than batch 1, because the memory model drops the smallest batches where
  a straight line in batch does not fit them, and the added trials must stay in the range it
  keeps.

The extra cost is two trials per pipeline x precision (x backend), run once whatever
``repeat``; with the sweep's own trial at that batch the N term rests on three sizes. A sweep
with two or more ``images``, no target, or a target within the size measured adds nothing.

Pure: no TensorFlow; a folder or ``.npy`` is counted from its header or a scan.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

from workbench.config import DataSpec, SweepConfig, TrialConfig
from workbench.engine.preflight import available_images
from workbench.engine.targets import MIN_SAMPLE, growth_sizes, resolve_target
from workbench.errors import ConfigError


@dataclass(frozen=True)
class SizePlan:
    """What a sweep adds to measure the N term: ``sizes`` (empty when nothing), at
    ``batch_size``, ``trials`` in all; ``why_not`` says why nothing is added although the target
    is above the size measured (empty otherwise)."""

    target_images: int | None
    sample_images: int | None
    sizes: tuple[int, ...] = ()
    batch_size: int | None = None
    series: int = 0  # pipelines x precisions (x backends)
    axes: str = "pipeline x precision"
    why_not: str = ""

    @property
    def trials(self) -> int:
        """The trials added: one per size for each series."""
        return self.series * len(self.sizes)

    def announce(self, skip: str = "--no-auto-sizes to skip") -> str:
        """The line said before the trials run ("" when nothing is added); ``skip`` says how to
        opt out where it is read (the CLI's option by default)."""
        if self.why_not:
            return f"note: {self.why_not}"
        if not self.sizes:
            return ""
        assert self.target_images is not None
        return (f"measuring also at {_and(self.sizes)} images so that memory at {self.target_images:,} images can "
                f"be predicted: +{self.trials} trials (batch {self.batch_size} at each size, for "
                f"{'each of the ' if self.series > 1 else ''}{self.series} {self.axes} series; {skip})")

    def summary(self) -> str:
        """After the sweep: which of its trials were added ("" when none)."""
        if not self.sizes:
            return ""
        return (f"{self.trials} of them at {_and(self.sizes)} images, added to measure how memory grows with the "
                f"number of images")

    def to_dict(self) -> dict[str, Any]:
        """The record kept in the results header (``added_sizes``), read back by the analysis."""
        return {"sizes": list(self.sizes), "batch_size": self.batch_size, "trials": self.trials,
                "sample_images": self.sample_images, "target_images": self.target_images}


def _and(sizes: tuple[int, ...]) -> str:
    text = [f"{n:,}" for n in sizes]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + f" and {text[-1]}"


def data_count(data: DataSpec) -> int | None:
    """The data's own count, read once (a ``.npy`` header, a folder scan, the demo set's size);
    None for synthetic data, and for data that cannot be read (refused where the data is
    checked, before any trial)."""
    if data.kind == "synthetic":
        return None
    try:
        return available_images(data)
    except ConfigError:
        return None


def sweep_sample(sweep: SweepConfig, have: int | None) -> int | None:
    """The one dataset size a sweep measures (its single ``images``, else the data's own count;
    ``have``: :func:`data_count` of its data); None when it measures several or the count is
    unknown."""
    if sweep.images:
        return sweep.images[0] if len(sweep.images) == 1 else None
    data = sweep.data
    if data.kind == "synthetic":
        return data.count
    if have is None:
        return None
    return min(have, data.count) if data.count else have


def plan_sizes(sweep: SweepConfig) -> SizePlan:
    """The sizes ``sweep`` adds for its target (see the module's docstring)."""
    if sweep.images is not None and len(sweep.images) > 1:
        return SizePlan(None, None)  # the user's own size axis measures the N term
    # The target given, else the file's full count: the answers are for that size either way. The
    # data is read once for both (a folder of a million images is a scan worth doing once).
    have = data_count(sweep.data) if sweep.target_images is None or not sweep.images else None
    target = resolve_target(sweep.target_images, sweep.data, have)[0]
    if target is None or not sweep.auto_sizes:
        return SizePlan(target, None)
    sample = sweep_sample(sweep, have)
    if sample is None or target <= sample:
        return SizePlan(target, sample)
    if sample < MIN_SAMPLE:
        return SizePlan(target, sample, why_not=(
            f"{sample:,} images are too few to measure how memory grows with the number of images (at least "
            f"{MIN_SAMPLE}): the peaks at {target:,} images will not be predicted; give more images or --images"))
    sizes = tuple(n for n in growth_sizes(sample) if n < sample)
    fitting = [b for b in sweep.batch_sizes if b <= sizes[0]]
    if not fitting:
        return SizePlan(target, sample, why_not=(
            f"every batch size is above {sizes[0]:,} images (a quarter of the {sample:,} measured), so the sweep "
            f"cannot measure how memory grows with the number of images by itself: add a batch size of at most "
            f"{sizes[0]:,}, or give two or more sizes with --images"))
    series = len(sweep.backends) * len(sweep.precisions) * len(sweep.pipelines)
    axes = "pipeline x precision" + (" x backend" if len(sweep.backends) > 1 else "")
    return SizePlan(target, sample, sizes=sizes, batch_size=max(fitting),
                    series=series, axes=axes)


def size_trials(sweep: SweepConfig, plan: SizePlan) -> list[TrialConfig]:
    """The trials ``plan`` adds, smallest size first, in the order :func:`workbench.plan.expand`
    runs the sweep's own (backend, precision, pipeline)."""
    if not plan.sizes or plan.batch_size is None:
        return []
    return [TrialConfig(model=sweep.model, data=replace(sweep.data, count=n), pipeline=pipeline,
                        precision=precision, batch_size=plan.batch_size, budget=sweep.budget,
                        timing=sweep.timing, backend=backend)
            for n, backend, precision, pipeline in itertools.product(
                plan.sizes, sweep.backends, sweep.precisions, sweep.pipelines)]
