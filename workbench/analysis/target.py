"""Answers for the user's real dataset size, the target N, from trials on a sample.

Memory grows with the number of images (``model.predict`` keeps every batch's outputs, the
in-memory pipelines hold copies of the array), so the peak a sample measured does not hold
for the whole job. Here each setting's budget peak at N is predicted by the memory model
(:func:`~workbench.analysis.memory_model.peak_at`: fixed + per image x batch + per dataset
image x N), and each answer says how far it reaches beyond the sizes measured: past
:data:`EXTRAPOLATION` times the largest, plainly an extrapolation. Where the N term was not
measured (one dataset size) the peak at N is unknown, and the answer says why rather than
pretend the sample's peak holds.

Pure functions over a results DataFrame (no TensorFlow, no I/O).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.memory_model import (
    MODEL_KEYS,
    fit_memory_model,
    group_keys,
    max_batch_at,
    peak_at,
)
from workbench.analysis.peaks import at_largest_size, budget_peak, dataset_sizes
from workbench.config import format_bytes
from workbench.results import is_ok, ok_trials
from workbench.types import MemoryKind

EXTRAPOLATION = 4.0  # past this many times the largest size measured, a prediction is an extrapolation
# Host bytes one ``model.predict`` call leaves behind, which batch_loop makes once a batch:
# 12-17 kB a call at batches 8-64, whatever the outputs, with Keras 3.15 on TensorFlow 2.21 here
# (bench/bench_loop_growth.py; tensorflow/tensorflow#44711). The memory model's terms are in
# batch and N, not N / batch, so this is said beside a prediction beyond the sizes measured.
PREDICT_CALL_RESIDUE = 15_000
CALLS_PREDICT = ("batch_loop",)  # pipelines that call model.predict once a batch


def call_residue(pipeline: str, batch_size: int, target: int, sizes: Sequence[int]) -> str:
    """What a prediction at ``target`` leaves out for a pipeline calling ``model.predict`` once
    a batch ("" for the others, or within the sizes measured, whose peaks include it)."""
    if pipeline not in CALLS_PREDICT or batch_size < 1 or not sizes or target <= max(sizes):
        return ""
    calls = math.ceil(target / batch_size)
    return (f"{pipeline}'s prediction at {target:,} images is a lower bound: each of its {calls:,} model.predict "
            f"calls at batch {batch_size:,} leaves about {format_bytes(PREDICT_CALL_RESIDUE)} behind (measured here), "
            f"about {format_bytes(calls * PREDICT_CALL_RESIDUE)} more; a predict_on_batch loop leaves nothing "
            "(docs/inputs.md)")


def times(factor: float) -> str:
    """``300x``, ``1,200x``, ``2.5x``, ``4x``."""
    return f"{factor:,.0f}x" if factor >= 10 else f"{factor:.2g}x"


def reach(target: int, sizes: Sequence[int]) -> str:
    """How far a prediction at ``target`` images reaches from the sizes measured, in words:
    ``predicted at 1,200,000 images, 300x beyond the 4,000 measured: an extrapolation``."""
    measured = sorted({int(n) for n in sizes})
    if not measured:
        return f"predicted at {target:,} images; the dataset sizes measured are unknown"
    low, top = measured[0], measured[-1]
    if target in measured:
        return f"at {target:,} images, a size measured"
    if target < low:
        return f"predicted at {target:,} images, below the smallest size measured ({low:,})"
    if target < top:
        return f"predicted at {target:,} images, within the sizes measured ({low:,}-{top:,})"
    factor = target / top
    if factor > EXTRAPOLATION:
        return f"predicted at {target:,} images, {times(factor)} beyond the {top:,} measured: an extrapolation"
    return f"predicted at {target:,} images, {times(factor)} the {top:,} measured"


def added_sizes_note(df: pd.DataFrame) -> str:
    """What the sweep measured by itself so that the N term is known, from the ``added_sizes``
    record of the results header (:mod:`workbench.engine.sweep_sizes`); "" when it added nothing."""
    record = (df.attrs.get("sweep") or {}).get("added_sizes") or {}
    sizes = [f"{int(n):,}" for n in record.get("sizes") or []]
    if not sizes:
        return ""
    listed = sizes[0] if len(sizes) == 1 else ", ".join(sizes[:-1]) + f" and {sizes[-1]}"
    target = record.get("target_images")
    at = f" at {int(target):,} images" if target else ""
    return (f"the sweep also measured {listed} images by itself, at batch {record.get('batch_size')} "
            f"({record.get('trials')} trials beside those asked for), so that how memory grows with the number "
            f"of images is measured and the peak{at} predicted")


def series_name(row: Any) -> str:
    """``stream · float32`` (with the model first when given, and the backend where the fits
    are per backend: ``tiny · jax · stream · float32``)."""
    return " · ".join(str(row[k]) for k in MODEL_KEYS if k in row and (k != "model" or row.get("model")))


def not_predictable(fit: Any, target: int) -> str:
    """Why the peak of a fitted series at ``target`` images cannot be predicted ("" when it can)."""
    if math.isfinite(peak_at(fit, int(fit["max_batch"]), target)):
        return ""
    name = series_name(fit)
    if not math.isfinite(float(fit["fixed_bytes"])):
        return f"{name}: its memory model could not be fitted ({fit['note']})"
    sizes = [fit.get("min_images"), fit.get("max_images")]
    if any(v is None or not math.isfinite(float(v)) for v in sizes):
        return (f"the peak of {name} at {target:,} images cannot be predicted: the dataset size of its trials "
                "is unknown, so how its memory grows with the number of images is not measured")
    if not math.isfinite(float(fit["per_image_bytes"])):
        return (f"the peak of {name} cannot be predicted at other batch sizes: every trial used batch "
                f"{int(fit['min_batch'])}")
    n = int(sizes[1])
    return (f"the peak of {name} at {target:,} images cannot be predicted: every trial predicted {n:,} "
            "images, so how its memory grows with the number of images (the outputs predict keeps, the "
            f"data copies) is not measured; measure two or more sizes, e.g. --images "
            f"{max(n // 4, 1)},{max(n // 2, 1)},{n}, or give the sweep --target-images {target} "
            "(it then measures them by itself)")


def _fits(df: pd.DataFrame, kind: MemoryKind) -> pd.DataFrame:
    keys = group_keys(df)
    return fit_memory_model(df, kind=kind).set_index(keys) if len(df) else pd.DataFrame()


def _lookup(fits: pd.DataFrame, row: Any) -> Any:
    if fits.empty:
        return None
    key = tuple(row[k] for k in fits.index.names)
    try:
        return fits.loc[key if len(key) > 1 else key[0]]
    except KeyError:
        return None


def settings_at(df: pd.DataFrame, target_images: int, *, host_budget_bytes: float | None = None,
                gpu_budget_bytes: float | None = None, margin: float = 0.1) -> pd.DataFrame:
    """Each ok setting measured at the largest size, with its budget peak predicted at the target.

    The rows of ``df`` (ok trials at the largest dataset size, or at ``target_images`` itself
    when that size was measured: then the prediction is the measurement) with
    ``predicted_host_bytes`` and ``predicted_gpu_bytes`` (NaN where the results cannot say),
    ``predictable`` (every budgeted kind is known; the host when no budget is given) and
    ``fits`` (predictable and under each budget less the margin).
    """
    ok = ok_trials(df) if "status" in df else df.iloc[0:0]
    images = pd.to_numeric(ok["images"], errors="coerce") if "images" in ok else pd.Series(np.nan, index=ok.index)
    measured = bool((images == target_images).any())
    rows = ok[images == target_images] if measured else at_largest_size(ok)
    out = rows.copy()
    for kind in ("host", "gpu"):
        if measured:
            out[f"predicted_{kind}_bytes"] = budget_peak(rows, kind)
            continue
        fits = _fits(ok, kind)
        values = []
        for _, row in rows.iterrows():
            fit = _lookup(fits, row)
            values.append(math.nan if fit is None else peak_at(fit, int(row["batch_size"]), target_images))
        out[f"predicted_{kind}_bytes"] = pd.Series(values, index=rows.index, dtype=float)
    kinds = [k for k, b in (("host", host_budget_bytes), ("gpu", gpu_budget_bytes)) if b] or ["host"]
    out["predictable"] = np.logical_and.reduce([np.isfinite(out[f"predicted_{k}_bytes"]) for k in kinds]) \
        if len(out) else pd.Series(dtype=bool)
    fits_mask = out["predictable"].astype(bool)
    for kind, budget in (("host", host_budget_bytes), ("gpu", gpu_budget_bytes)):
        if budget:
            fits_mask &= out[f"predicted_{kind}_bytes"] <= budget * (1 - margin)
    out["fits"] = fits_mask
    return out


def _sizes(df: pd.DataFrame, fit: Any) -> list[int]:
    """The dataset sizes the ok trials of a fitted series ran at."""
    same = np.logical_and.reduce([df[k] == fit[k] for k in MODEL_KEYS if k in df.columns and k in fit])
    part = df[same & is_ok(df)]
    return dataset_sizes(part)


def series_at(df: pd.DataFrame, target_images: int, *, host_budget_bytes: float | None = None,
              margin: float = 0.1) -> list[dict[str, Any]]:
    """Per model/pipeline/precision: the sizes measured, the N term, how far the prediction
    reaches (``reach``), the largest batch whose predicted host peak at the target stays under
    the budget less the margin (``max_batch``: None when it cannot be said or no budget was
    given) and, where the peak at N cannot be predicted, ``why``."""
    out = []
    fits = fit_memory_model(df, kind="host")
    for _, fit in fits.iterrows():
        why = not_predictable(fit, target_images)
        sizes = _sizes(df, fit)
        best = None
        if host_budget_bytes and not why:
            best = max_batch_at(fit, host_budget_bytes, images=target_images, margin=margin)
        batch = best if best else int(fit["max_batch"])
        out.append({
            "series": series_name(fit), **{k: fit[k] for k in MODEL_KEYS if k in fit},
            "caveat": call_residue(str(fit.get("pipeline")), batch, target_images, sizes),
            "sizes": sorted(set(sizes)), "per_dataset_image_bytes": float(fit["per_dataset_image_bytes"]),
            "reach": reach(target_images, sizes), "max_batch": best, "why": why,
            "largest_batch": int(fit["max_batch"]),
            "peak_at_largest_batch": peak_at(fit, int(fit["max_batch"]), target_images),
        })
    return out


def max_batch_line(entry: dict[str, Any], target: int, margin: float) -> str:
    """One series' largest batch at the target, in words (and what its prediction leaves out)."""
    line = _max_batch_line(entry, target, margin)
    return f"{line}; {entry['caveat']}" if entry.get("caveat") and not entry["why"] else line


def _max_batch_line(entry: dict[str, Any], target: int, margin: float) -> str:
    if entry["why"]:
        return entry["why"]
    if entry["max_batch"] is None:
        return (f"{entry['series']}: predicted peak {format_bytes(entry['peak_at_largest_batch'])} at batch "
                f"{entry['largest_batch']:,} and {target:,} images ({entry['reach']})")
    if entry["max_batch"] == 0:
        return (f"{entry['series']}: no batch is predicted to fit the budget less {margin * 100:g} % at "
                f"{target:,} images ({entry['reach']})")
    beyond = (f"; beyond the largest batch measured, {entry['largest_batch']:,}"
              if entry["max_batch"] > entry["largest_batch"] else "")
    return (f"{entry['series']}: the largest batch predicted to fit the budget less {margin * 100:g} % at "
            f"{target:,} images is {entry['max_batch']:,} ({entry['reach']}{beyond})")


def answer_lines(df: pd.DataFrame, target_images: int, *, host_budget_bytes: float | None = None,
                 margin: float = 0.1) -> list[str]:
    """The answer at the target for a terminal: one line per series (what ``workbench sweep``
    prints after its table)."""
    return [max_batch_line(e, target_images, margin)
            for e in series_at(df, target_images, host_budget_bytes=host_budget_bytes, margin=margin)]


def peak_text(row: Any, target: int, budget: int | None, kind: MemoryKind = "host") -> str:
    """``predicted peak host 1.20 GiB at 1,200,000 images of your 2.00 GiB budget (measured
    800.00 MiB at 4,000)``, or that it cannot be predicted."""
    value = row.get(f"predicted_{kind}_bytes")
    predicted = math.nan if value is None else float(value)
    measured, n = budget_peak(row, kind), row.get("images")
    at = f" at {int(n):,}" if n is not None and np.isfinite(float(n)) and float(n) > 0 else ""
    if not math.isfinite(predicted):
        return f"peak {kind} at {target:,} images cannot be predicted (measured {format_bytes(measured)}{at})"
    of = f" of your {format_bytes(budget)} budget" if budget else ""
    if at == f" at {target:,}":
        return f"peak {kind} {format_bytes(predicted)} at {target:,} images{of} (measured)"
    return f"predicted peak {kind} {format_bytes(predicted)} at {target:,} images{of} (measured {format_bytes(measured)}{at})"

