"""Accuracy drift: the same inputs through the trial's model and a float32 copy with the
same weights. Runs inside the worker, after the timed and memory phases, on the first
``drift_samples`` images only, so it stays a small, bounded part of a trial.

For float32 trials the model is its own reference: drift is 0 and agreement 1 by definition;
accuracy is measured for every precision where the data has labels."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.config import TrialConfig
from workbench.results import TrialResult


def compare(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Largest absolute difference and top-1 agreement of two (N, classes) output arrays."""
    outputs = np.asarray(outputs, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if outputs.shape != reference.shape:
        raise ValueError(f"output shapes differ: {outputs.shape} vs {reference.shape}")
    result = {"drift_max_abs": float(np.max(np.abs(outputs - reference))) if outputs.size else float("nan")}
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        result["top1_agreement"] = float(np.mean(outputs.argmax(1) == reference.argmax(1)))
    else:
        result["top1_agreement"] = float("nan")
    return result


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Share of inputs whose top class is the label; NaN where it cannot mean anything
    (no labels, not one score per class, or labels beyond the model's classes)."""
    outputs, labels = np.asarray(outputs), np.asarray(labels)
    if outputs.ndim != 2 or len(outputs) != len(labels) or not len(labels):
        return float("nan")
    if labels.min() < 0 or labels.max() >= outputs.shape[1]:
        return float("nan")
    return float(np.mean(outputs.argmax(1) == labels))


def measure_drift(keras: Any, tf: Any, cfg: TrialConfig, model: Any, pipe: Any, source: Any, result: TrialResult) -> None:
    """Fill ``accuracy`` (where labels exist) and, for lower precisions, drift against float32."""
    from workbench.trial import models, precision

    n = min(int(cfg.timing.drift_samples), source.n)
    x = source.head(n)
    outputs = np.asarray(pipe.predict(x), dtype=np.float32)
    result.drift_samples = n
    if source.labels is not None:
        result.accuracy = accuracy(outputs, source.labels[:n])
    if cfg.precision == "float32":
        result.drift_max_abs = 0.0
        if outputs.ndim == 2 and outputs.shape[1] > 1:
            result.top1_agreement = 1.0
        return
    precision.apply_policy(keras, "float32")
    reference_model = models.build_model(keras, cfg.model)
    reference_model.set_weights(model.get_weights())
    reference = reference_model.predict(x, batch_size=cfg.batch_size, verbose=0)
    for name, value in compare(outputs, reference).items():
        setattr(result, name, value)
