"""Expand a sweep into trials (pure: no TensorFlow, no I/O beyond config validation)."""

from __future__ import annotations

import itertools

from workbench.config import SweepConfig, TrialConfig
from workbench.engine.preflight import is_saved_model
from workbench.errors import ConfigError

# Pipelines that read from disk batch by batch need data that lives on disk.
_STREAMABLE = ("folder", "npy", "demo")


def check_applicable(trial: TrialConfig) -> None:
    """Reject a setting that cannot apply, with a message that says why and what to do."""
    if trial.pipeline in ("stream", "stream_to_disk") and trial.data.kind not in _STREAMABLE:
        raise ConfigError(
            f"the {trial.pipeline} pipeline reads images from disk, but {trial.data.kind} data lives only in "
            "memory: use in_memory or batch_loop with it, or stream a folder, a .npy file or demo"
        )
    if trial.precision != "float32" and is_saved_model(trial.model):
        raise ConfigError(
            f"{trial.precision} cannot apply to the SavedModel {trial.model.label!r}: it is a fixed, "
            "traced float32 graph; use float32, or give the model as a .keras/.h5 file"
        )


def expand(sweep: SweepConfig) -> list[TrialConfig]:
    """The cartesian product of the sweep's axes, ordered precision, pipeline, batch size.

    Batch sizes run from small to large within each series, so the curve grows in order and the
    first failure marks where memory runs out. Every trial is checked before any runs.
    """
    trials = [
        TrialConfig(
            model=sweep.model,
            data=sweep.data,
            pipeline=pipeline,
            precision=precision,
            batch_size=batch,
            budget=sweep.budget,
            timing=sweep.timing,
        )
        for precision, pipeline, batch in itertools.product(
            sweep.precisions, sweep.pipelines, sorted(sweep.batch_sizes)
        )
    ]
    for trial in trials:
        check_applicable(trial)
    return trials
