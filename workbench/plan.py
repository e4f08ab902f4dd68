"""Expand a sweep into trials (pure: no TensorFlow, no I/O beyond config validation)."""

from __future__ import annotations

import itertools
from dataclasses import replace

from workbench.backends import check_installed, tensorflow_installed
from workbench.config import DataSpec, SweepConfig, TrialConfig
from workbench.engine.preflight import check_image_counts, is_saved_model
from workbench.engine.sweep_sizes import SizePlan, plan_sizes, size_trials
from workbench.errors import ConfigError
from workbench.types import STREAMING, DataKind

# Pipelines that read from disk batch by batch need data that lives on disk.
_STREAMABLE: tuple[DataKind, ...] = ("folder", "npy", "demo")


def check_applicable(trial: TrialConfig) -> None:
    """Reject a setting that cannot apply, with a message that says why and what to do."""
    check_installed([trial.backend])  # found without importing it
    if trial.backend != "tensorflow":
        _check_other_backend(trial)
    if trial.pipeline in STREAMING and trial.data.kind not in _STREAMABLE:
        raise ConfigError(
            f"the {trial.pipeline} pipeline reads images from disk, but {trial.data.kind} data lives only in "
            "memory: use in_memory or batch_loop with it, or stream a folder, a .npy file or demo"
        )
    if trial.precision != "float32" and is_saved_model(trial.model):
        raise ConfigError(
            f"{trial.precision} cannot apply to the SavedModel {trial.model.label!r}: it is a fixed, "
            "traced float32 graph; use float32, or give the model as a .keras/.h5 file"
        )


def _check_other_backend(trial: TrialConfig) -> None:
    """What needs TensorFlow itself: a SavedModel is a TF graph; folder images are decoded by
    ``tf.io`` (``.npy`` and synthetic data need no TensorFlow: streaming them uses ``tf.data``
    where TensorFlow is installed, else a ``keras.utils.PyDataset``)."""
    if is_saved_model(trial.model):
        raise ConfigError(
            f"the SavedModel {trial.model.label!r} is a TensorFlow graph and cannot run on the {trial.backend} "
            "backend: use --backends tensorflow, or give the model as a .keras/.h5 file"
        )
    if trial.data.kind == "folder" and not tensorflow_installed():
        raise ConfigError(
            f"image folders are decoded with TensorFlow, which is not installed here, so the {trial.backend} "
            "backend cannot read one: give the images as a .npy file, or install tensorflow-cpu"
        )


def datasets(sweep: SweepConfig) -> list[DataSpec]:
    """The data of each dataset size, smallest first: the sweep's data limited to its first K
    images for each K of ``sweep.images`` (checked against what the data holds), or the data
    itself when the sweep has no size axis."""
    check_image_counts(sweep.data, sweep.images)
    if not sweep.images:
        return [sweep.data]
    return [replace(sweep.data, count=k) for k in sorted(sweep.images)]


def checked_trials(sweep: SweepConfig) -> list[TrialConfig]:
    """The sweep's own settings, once each, in :func:`expand`'s order, every one checked
    (:func:`check_applicable`): what validating a sweep needs, without the trials
    :func:`expand` adds for the N term (counting those reads the data)."""
    trials = [
        TrialConfig(
            model=sweep.model,
            data=data,
            pipeline=pipeline,
            precision=precision,
            batch_size=batch,
            budget=sweep.budget,
            timing=sweep.timing,
            backend=backend,
        )
        for data, backend, precision, pipeline, batch in itertools.product(
            datasets(sweep), sweep.backends, sweep.precisions, sweep.pipelines, sorted(sweep.batch_sizes)
        )
    ]
    for trial in trials:
        check_applicable(trial)
    return trials


def expand(sweep: SweepConfig, size_plan: SizePlan | None = None) -> list[TrialConfig]:
    """The cartesian product of the sweep's axes, ordered dataset size, backend, precision,
    pipeline, batch size (one backend's trials together: each has its own warm fork server).

    Smaller datasets run first (they are quicker and give the whole picture soonest; the
    largest, likeliest to run out of memory, come last). Batch sizes run from small to large
    within each series, so the curve grows in order and the first failure marks where memory
    runs out. Every trial is checked before any runs.

    With ``sweep.repeat`` R above 1 the whole list runs R times over, interleaved (every setting
    once, then every setting again), each run of a setting with its own ``repeat`` index and so
    its own key: a slow minute of the machine lands on different settings, not on one.

    When the sweep's target is above the one dataset size it measures, the trials that measure
    how memory grows with the number of images come first, once each
    (:func:`workbench.engine.sweep_sizes.plan_sizes`; ``auto_sizes=False`` leaves them out).
    ``size_plan`` is that plan where the caller already made it for this sweep (it reads the
    data to count it: a folder scan); None makes it here.
    """
    trials = checked_trials(sweep)
    plan = plan_sizes(sweep) if size_plan is None else size_plan
    added = size_trials(sweep, plan)  # the same settings as trials checked above, smaller data
    return added + [replace(trial, repeat=r) if r else trial for r in range(sweep.repeat) for trial in trials]
