"""A linear memory model: peak = fixed + per image x batch + per dataset image x N.

Three terms, each a size a user can act on:

* **fixed**: what the process holds whatever the batch and the dataset: the runtime (TensorFlow's
  libraries and allocator pools) and the weights;
* **per image** (of a batch): what one more image in a batch adds: its input copy and its
  activations, alive while that batch is predicted;
* **per dataset image**: what one more image of the dataset adds: ``model.predict`` keeps every
  batch's outputs and concatenates them at the end, and the in-memory pipelines hold copies of
  the whole array. This term is why a sample's answer does not hold for the whole job.

Fitted by least squares per (model, backend, pipeline, precision) over both axes (batch size and the
number of images N the trials predicted), on the **budget peak** (:mod:`.peaks`) by default.
With a single N measured the N term is *not measured* (NaN, and said in a note), never 0: the
fixed part then includes that N's outputs and copies.

Where a straight line in batch does not fit (on this machine small batches bend the curve:
the tiny model's residuals were -16, -15, +12, +27, -7 MiB at batches 1 ... 256), the smallest
batch sizes are dropped while the line misses a point by more than :data:`STRAIGHT_TOLERANCE`
of its peak and dropping them makes the line fit better, keeping at least :data:`MIN_BATCHES`
sizes (:mod:`.line_fit`); trials below that range measured at several dataset sizes still
inform the N term. The budget edge is where the large batches live, so that is where the line
must hold; ``min_batch``/``max_batch`` report the range it was fitted over, and the note says why.

The N term has a floor where a pipeline provably keeps something for every image until its
pass ends (:data:`KEPT_PER_IMAGE`: the float32 array an in-memory pipeline loads, the outputs
collected). Measured at small N the slope can fall below it: the first outputs land in memory
the process already held after the warm-up (glibc kept 15-20 MiB free in its heap here), so
``batch_loop`` grew 3-3.4 kB an image above its array from 1,000 to 4,000 images at batch 64
(and nothing at batch 32) but 4.1-4.2 kB from 16,000 to 64,000, its outputs being 4.0 kB
(docs/inputs.md). A fitted term below the floor is raised to it, with the fixed part set so
that no measured peak is above the line, and the note says so: the prediction at a far
target is then not short by the outputs the sample hid.

Pure functions over a results DataFrame (no TensorFlow, no I/O).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.line_fit import (  # noqa: F401  (fit_line, fit_plane and the constants: their historical home)
    MIN_BATCHES,
    STRAIGHT_TOLERANCE,
    Fit,
    fit_group,
    fit_line,
    fit_plane,
    predicted,
)
from workbench.analysis.peaks import budget_peak
from workbench.config import format_bytes
from workbench.errors import ConfigError
from workbench.parsing import check_margin
from workbench.results import is_ok
from workbench.types import MemoryKind

MODEL_KEYS = ("model", "backend", "pipeline", "precision")
# Keys that split the fits only where the results hold several values: results of one Keras
# backend (all of them, before the backend axis) keep their series names ("stream · float32").
SPLIT_WHEN_SEVERAL = ("backend",)
MODEL_COLUMNS = [
    "fixed_bytes", "per_image_bytes", "per_dataset_image_bytes", "r2", "n_points",
    "min_batch", "max_batch", "min_images", "max_images", "max_residual_bytes", "note",
]


# Copies each pipeline holds in host memory of every image until its pass ends, whatever the
# device: (of the float32 input array, of the outputs). Lower bounds: model.predict also
# concatenates (a second copy of the outputs on the CPU), and Keras may copy the array.
KEPT_PER_IMAGE = {"batch_loop": (1, 1), "in_memory": (1, 1), "stream": (0, 1)}


def kept_per_image(part: pd.DataFrame) -> float:
    """The bytes a group's pipeline provably keeps for each image of the dataset (the floor of
    its N term): NaN for a pipeline that keeps nothing, or where the trials did not record
    their input and output sizes (results from before they did)."""
    if part.empty or "pipeline" not in part:
        return math.nan
    copies = KEPT_PER_IMAGE.get(str(part["pipeline"].iloc[0]))
    if copies is None:
        return math.nan
    total = 0.0
    for column, count in zip(("input_bytes_per_image", "output_bytes_per_image"), copies, strict=True):
        if count:
            value = float(pd.to_numeric(part[column], errors="coerce").median()) if column in part else math.nan
            if not math.isfinite(value):
                return math.nan
            total += count * value
    return total


def _floored(fit: Fit, part: pd.DataFrame, used: pd.DataFrame, host: bool) -> tuple[Fit, list[str]]:
    """``fit`` with its N term raised to what the pipeline keeps per image where it fell below
    (host memory only), the fixed part the lowest that leaves no used trial above the line;
    and the note."""
    floor = kept_per_image(part) if host else math.nan
    if not (math.isfinite(fit[2]) and math.isfinite(floor)) or fit[2] >= floor:
        return fit, []
    # The lowest line of that slope that no trial used is above: never short on the sample.
    per_image = fit[1] if math.isfinite(fit[1]) else 0.0
    fixed = float((used["_peak"] - per_image * used["batch_size"].astype(float) - floor * used["_n"]).max())
    note = (f"per dataset image raised from {format_bytes(fit[2])} (fitted) to {format_bytes(floor)}, what "
            f"{part['pipeline'].iloc[0]} keeps of each image until the end (its array copy and outputs): the sizes "
            f"measured were too small to show it whole (the first outputs fill memory the process already held), "
            f"so the line takes that slope, as low as no measured peak is above it")
    return (fixed, fit[1], floor, fit[3]), [note]


def _fit_floored(part: pd.DataFrame, host: bool) -> tuple[Fit, pd.DataFrame, list[str]]:
    fit, used, notes = fit_group(part)
    fit, raised = _floored(fit, part, used, host)
    return fit, used, notes + raised


def _is_host(column: str | None, kind: MemoryKind) -> bool:
    return kind == "host" if column is None else column.startswith("host_")


def group_keys(df: pd.DataFrame, by: Sequence[str] = MODEL_KEYS) -> list[str]:
    """The keys of ``by`` that group ``df``'s fits: those it has, the backend where it holds several."""
    return [k for k in by if k in df.columns and (k not in SPLIT_WHEN_SEVERAL or df[k].nunique() > 1)]


def line_peak(fixed_bytes: float, per_image_bytes: float, batch_size: int) -> float:
    """``fixed + per_image * batch`` (NaN where the line is unknown)."""
    return float(fixed_bytes) + float(per_image_bytes) * int(batch_size)


def _images(part: pd.DataFrame) -> pd.Series:
    if "images" not in part:
        return pd.Series(np.nan, index=part.index, dtype=float)
    n = pd.to_numeric(part["images"], errors="coerce").astype(float)
    return n.where(n > 0)


def _not_measured_notes(fit: Fit, used: pd.DataFrame) -> list[str]:
    notes = []
    sizes = sorted(set(used["_n"].dropna().astype(int)))
    if not math.isfinite(fit[0]):
        return ["nothing to fit: one batch size and one dataset size (or both varied together)"]
    if not math.isfinite(fit[2]) and math.isfinite(fit[0]):
        seen = f"every trial predicted {sizes[0]:,} images" if len(sizes) == 1 else "the dataset size is unknown"
        notes.append(f"per dataset image not measured: {seen}, so the fixed part includes their outputs and "
                     "copies; measure two or more sizes (--images) to separate it")
    if not math.isfinite(fit[1]) and math.isfinite(fit[0]):
        notes.append(f"per image of a batch not measured: every trial used batch {int(used['batch_size'].iloc[0])}")
    return notes


def _prepared(df: pd.DataFrame, column: str | None, kind: MemoryKind) -> pd.DataFrame:
    """The ok trials with a finite peak, as ``_peak`` and their dataset size as ``_n``."""
    if df.empty or "status" not in df:
        return df.iloc[0:0].assign(_peak=[], _n=[])
    peak = budget_peak(df, kind) if column is None else (
        pd.to_numeric(df[column], errors="coerce").astype(float) if column in df else pd.Series(np.nan, index=df.index))
    out = df.assign(_peak=peak, _n=_images(df))
    return out[is_ok(out) & np.isfinite(out["_peak"]) & np.isfinite(out["batch_size"].astype(float))]


def fit_memory_model(
    df: pd.DataFrame,
    *,
    column: str | None = None,
    kind: MemoryKind = "host",
    by: Sequence[str] = MODEL_KEYS,
) -> pd.DataFrame:
    """Fit the memory model per (model, backend, pipeline, precision) from the ok trials (the
    backend a key where the results hold several: :func:`group_keys`).

    Fits the budget peak of ``kind`` (``host`` or ``gpu``: the larger of the one-pass and
    all-passes peaks), or ``column`` when given. One row per group: ``fixed_bytes``,
    ``per_image_bytes`` (one image of a batch), ``per_dataset_image_bytes`` (one image of the
    dataset; NaN when one size was measured), ``r2``, ``n_points`` (trials used),
    ``min_batch``/``max_batch`` (the batch range the line holds over), ``min_images``/
    ``max_images`` (the sizes measured), ``max_residual_bytes`` (the largest miss over the
    points used) and ``note`` (what was not measured, where the line was cut, in words).
    Failed trials are left out: a trial killed at the budget recorded a lower bound, not its peak.
    """
    keys = group_keys(df, by)
    columns = [*keys, *MODEL_COLUMNS]
    ok = _prepared(df, column, kind)
    if ok.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for group, part in ok.groupby(keys, sort=True) if keys else [((), ok)]:
        group = group if isinstance(group, tuple) else (group,)
        fit, used, notes = _fit_floored(part, _is_host(column, kind))
        residual = used["_peak"] - predicted(fit, used["batch_size"], used["_n"])
        sizes = part["_n"].dropna()  # every size measured (the N term may rest on batches below the line)
        rows.append({
            **dict(zip(keys, group, strict=True)),
            "fixed_bytes": fit[0], "per_image_bytes": fit[1], "per_dataset_image_bytes": fit[2], "r2": fit[3],
            "n_points": len(used),
            "min_batch": int(used["batch_size"].min()), "max_batch": int(used["batch_size"].max()),
            "min_images": int(sizes.min()) if len(sizes) else math.nan,
            "max_images": int(sizes.max()) if len(sizes) else math.nan,
            "max_residual_bytes": float(residual.abs().max()) if math.isfinite(fit[0]) else math.nan,
            "note": "; ".join(_not_measured_notes(fit, used) + notes),
        })
    return pd.DataFrame(rows, columns=columns)


def memory_residuals(df: pd.DataFrame, *, column: str | None = None, kind: MemoryKind = "host",
                     by: Sequence[str] = MODEL_KEYS) -> pd.DataFrame:
    """Every ok trial's measured peak beside the model's: one row per trial with the group
    keys, ``batch_size``, ``images``, ``peak_bytes``, ``predicted_bytes``, ``residual_bytes``
    (measured less predicted) and ``used`` (False for a batch below the range the line was
    fitted over: its residual shows how far the line is from it)."""
    keys = group_keys(df, by)
    out_columns = [*keys, "batch_size", "images", "peak_bytes", "predicted_bytes", "residual_bytes", "used"]
    ok = _prepared(df, column, kind)
    parts = []
    for _, part in ok.groupby(keys, sort=True) if keys else [((), ok)]:
        fit, used, _ = _fit_floored(part, _is_host(column, kind))
        model = predicted(fit, part["batch_size"], part["_n"])
        parts.append(part[keys].assign(batch_size=part["batch_size"].astype(int), images=part["_n"],
                                       peak_bytes=part["_peak"], predicted_bytes=model,
                                       residual_bytes=part["_peak"] - model, used=part.index.isin(used.index)))
    if not parts:
        return pd.DataFrame(columns=out_columns)
    return pd.concat(parts)[out_columns].sort_values([*keys, "images", "batch_size"], kind="mergesort")


def describe_terms(row: Any) -> list[str]:
    """The three terms of one fitted row, each in bytes and with what it stands for."""
    def size(value: Any) -> str:
        return format_bytes(value) if value is not None and math.isfinite(float(value)) else "not measured"

    sizes = (row.get("min_images"), row.get("max_images"))
    known = all(v is not None and math.isfinite(float(v)) for v in sizes)
    span = f" (measured from {int(sizes[0]):,} to {int(sizes[1]):,} images)" if known and sizes[0] != sizes[1] else ""
    per_dataset = row.get("per_dataset_image_bytes")
    if per_dataset is None or not math.isfinite(float(per_dataset)):
        at = f" at {int(sizes[0]):,} images" if known else ""
        third = (f"per dataset image: not measured (one dataset size{at}; the fixed part includes its outputs "
                 "and copies): outputs and data copies of one image of the dataset")
    else:
        third = (f"per dataset image {size(per_dataset)}{span}: the outputs and data copies of one image of "
                 "the dataset, held until the whole set is predicted")
    return [
        f"fixed {size(row.get('fixed_bytes'))}: the runtime and the weights, held whatever the batch and dataset",
        f"per image of a batch {size(row.get('per_image_bytes'))} (over batches {int(row['min_batch'])}-"
        f"{int(row['max_batch'])}): the input copy and activations of one image in a batch",
        third,
    ]


def peak_at(row: Any, batch_size: int, images: int) -> float:
    """A fitted row's peak at ``batch_size`` and ``images``: NaN where it cannot say (a term
    not measured, asked for at another value than the one measured)."""
    fixed, per_image, per_dataset = (float(row.get(k, math.nan)) for k in
                                     ("fixed_bytes", "per_image_bytes", "per_dataset_image_bytes"))
    if not math.isfinite(fixed):
        return math.nan
    peak = fixed
    if math.isfinite(per_image):
        peak += per_image * int(batch_size)
    elif not int(row["min_batch"]) == int(batch_size) == int(row["max_batch"]):
        return math.nan
    if math.isfinite(per_dataset):
        peak += per_dataset * int(images)
    elif not float(row.get("min_images", math.nan)) == int(images) == float(row.get("max_images", math.nan)):
        return math.nan
    return peak


def _group_row(df: pd.DataFrame, model: str | None, pipeline: str, precision: str, kind: MemoryKind,
               backend: str | None = None) -> Any:
    if model is None:
        models = sorted(set(map(str, df["model"].dropna()))) if "model" in df else []
        if len(models) > 1:
            raise ConfigError(f"the results hold several models ({', '.join(models)}): say which with model=")
        model = models[0] if models else None
    fits = fit_memory_model(df, kind=kind)
    match = fits[(fits["model"] == model) & (fits["pipeline"] == pipeline) & (fits["precision"] == precision)]
    if "backend" in fits.columns:  # several backends measured
        if backend is None:
            raise ConfigError(f"the results hold several backends ({', '.join(sorted(map(str, fits['backend'].unique())))})"
                              ": say which with backend=")
        match = match[match["backend"] == backend]
    elif backend is not None and "backend" in df.columns and not (df["backend"] == backend).any():
        return None  # the one backend measured is another
    return None if match.empty else match.iloc[0]


def predict_peak(data: Any, *legacy: Any, pipeline: str | None = None, precision: str | None = None,
                 batch_size: int | None = None, images: int | None = None, model: str | None = None,
                 kind: MemoryKind = "host", backend: str | None = None) -> float:
    """The predicted budget peak, in bytes, of a setting at ``batch_size`` and ``images``.

    ``predict_peak(df, pipeline=..., precision=..., batch_size=..., images=..., model=None)``
    fits the memory model on the results ``df`` (``model`` may be left out when they hold one)
    and returns NaN where they cannot say: no fit for the setting, or the dataset-size term not
    measured and ``images`` not the size that was measured. ``kind="gpu"`` for the GPU peak;
    ``backend`` says which Keras backend's (needed where the results hold several).
    The older form ``predict_peak(fixed_bytes, per_image_bytes, batch_size)`` is kept for
    existing callers (:func:`line_peak`).
    """
    if not isinstance(data, pd.DataFrame):
        if len(legacy) != 2:
            raise TypeError("predict_peak(df, *, pipeline, precision, batch_size, images) or "
                            "predict_peak(fixed_bytes, per_image_bytes, batch_size)")
        return line_peak(data, legacy[0], legacy[1])
    if pipeline is None or precision is None or batch_size is None or images is None:
        raise TypeError("predict_peak(df, ...) needs pipeline=, precision=, batch_size= and images=")
    row = _group_row(data, model, pipeline, precision, kind, backend)
    return math.nan if row is None else peak_at(row, batch_size, images)


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
    model) the budget sets no limit and ``cap`` is returned. For a dataset size other than the
    one measured, use :func:`max_batch_at`.
    """
    check_margin(margin)  # a ConfigError, which is a ValueError
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


def max_batch_at(row: Any, budget_bytes: float, *, images: int, margin: float = 0.1,
                 cap: int = 1 << 20) -> int | None:
    """The largest batch of a fitted row whose peak at ``images`` stays under the budget less
    the margin; 0 when nothing fits; None when the model cannot say (the line unknown, or the
    dataset-size term not measured and ``images`` not the size measured)."""
    base = peak_at({**dict(row), "per_image_bytes": 0.0}, 0, images)
    if not math.isfinite(base) or not math.isfinite(float(row.get("per_image_bytes", math.nan))):
        return None
    return max_batch_for_budget(base, float(row["per_image_bytes"]), budget_bytes, margin, cap=cap)
