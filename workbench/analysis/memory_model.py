"""A linear memory model: peak = fixed part + per-image part x batch size.

The fixed part is what the process holds whatever the batch (the runtime, the weights, an
in-memory dataset); the per-image part is what one more image in a batch adds (its input copy
and its activations). Bytes per image is the figure that teaches: it says what a batch size
costs before it is tried, and gives the largest batch for any budget.

Pure functions over a results DataFrame (no TensorFlow, no I/O).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

MODEL_KEYS = ("model", "pipeline", "precision")
MODEL_COLUMNS = [
    "fixed_bytes", "per_image_bytes", "r2", "n_points", "min_batch", "max_batch",
]


def fit_line(batch: Sequence[float], peak: Sequence[float]) -> tuple[float, float, float]:
    """Least-squares ``peak = fixed + per_image * batch``: ``(fixed, per_image, r2)``.

    With fewer than two distinct batch sizes the line is unknown: all three are NaN. ``r2`` is
    NaN when every peak is the same (nothing to explain), so it is never a flattering 1.0.
    """
    x = np.asarray(batch, dtype=float)
    y = np.asarray(peak, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(np.unique(x)) < 2:
        return math.nan, math.nan, math.nan
    per_image, fixed = np.polyfit(x, y, 1)
    residual = y - (fixed + per_image * x)
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else math.nan
    return float(fixed), float(per_image), r2


def fit_memory_model(
    df: pd.DataFrame,
    *,
    column: str = "host_peak_bytes",
    by: Sequence[str] = MODEL_KEYS,
) -> pd.DataFrame:
    """Fit the memory model per (model, pipeline, precision) from the ok trials.

    Returns one row per group with ``fixed_bytes``, ``per_image_bytes``, ``r2``, ``n_points``
    (trials used), ``min_batch`` and ``max_batch`` (the range the fit has seen: predictions far
    outside it are extrapolations). Failed trials are left out: a trial killed at the budget
    recorded a lower bound, not its peak. Groups with a single batch size get NaN figures.
    """
    keys = [k for k in by if k in df.columns]
    columns = [*keys, *MODEL_COLUMNS]
    if df.empty or column not in df.columns:
        return pd.DataFrame(columns=columns)
    ok = df[(df["status"].astype(str) == "ok") & np.isfinite(pd.to_numeric(df[column], errors="coerce"))]
    rows = []
    for group, part in ok.groupby(keys, sort=True) if keys else [((), ok)]:
        group = group if isinstance(group, tuple) else (group,)
        fixed, per_image, r2 = fit_line(part["batch_size"], part[column])
        rows.append({
            **dict(zip(keys, group, strict=True)),
            "fixed_bytes": fixed,
            "per_image_bytes": per_image,
            "r2": r2,
            "n_points": len(part),
            "min_batch": int(part["batch_size"].min()),
            "max_batch": int(part["batch_size"].max()),
        })
    return pd.DataFrame(rows, columns=columns)


def predict_peak(fixed_bytes: float, per_image_bytes: float, batch_size: int) -> float:
    """The model's peak for one batch size (NaN where the model is unknown)."""
    return float(fixed_bytes) + float(per_image_bytes) * int(batch_size)


def max_batch_for_budget(
    fixed_bytes: float,
    per_image_bytes: float,
    budget_bytes: float,
    margin: float = 0.1,
    *,
    cap: int = 1 << 20,
) -> int:
    """The largest batch whose predicted peak stays under ``budget * (1 - margin)``.

    0 when nothing fits (the fixed part alone is over the limit) or the model is unknown (NaN).
    When memory does not grow with the batch (``per_image_bytes <= 0``, e.g. noise on a tiny
    model) the budget sets no limit and ``cap`` is returned.
    """
    if not 0 <= margin < 1:
        raise ValueError(f"margin {margin!r} must be at least 0 and below 1 (0.1 is 10 %)")
    values = (fixed_bytes, per_image_bytes, budget_bytes)
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return 0
    limit = float(budget_bytes) * (1.0 - margin)
    room = limit - float(fixed_bytes)
    if room < 0:
        return 0
    if per_image_bytes <= 0:
        return int(cap)
    return int(min(cap, math.floor(room / float(per_image_bytes))))
