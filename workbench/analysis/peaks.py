"""The one peak a memory budget is checked against, and the trials a budget answers for.

A trial records two host peaks: over warm-up and the first pass (``host_peak_bytes``, a fixed
amount of work, so trials compare) and over every timed pass (``host_peak_all_bytes``).
Repeated ``predict`` calls creep up (allocator fragmentation; one setting here rose 156 MiB
over its passes), and a real job calls predict again and again, so a budget must hold for the
larger of the two: the **budget peak**. The search, the recommendation, the memory model, the
plots and the report all read it from :func:`budget_peak`, so they cannot disagree.

GPU: the TensorFlow allocator's peaks the same way (what a simulated budget limits), with
NVML's device figure where the allocator has none. Pure functions: no TensorFlow, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, overload

import numpy as np
import pandas as pd

from workbench.types import MEMORY_KINDS, MemoryKind

# kind -> (one-pass column, all-passes column, fallback column)
PEAK_COLUMNS: dict[MemoryKind, tuple[str, str, str | None]] = {
    "host": ("host_peak_bytes", "host_peak_all_bytes", None),
    "gpu": ("gpu_peak_bytes", "gpu_peak_all_bytes", "gpu_device_peak_bytes"),
}


def _kind(kind: MemoryKind) -> tuple[str, str, str | None]:
    if kind not in MEMORY_KINDS:
        raise ValueError(f"peak kind {kind!r}: use 'host' or 'gpu'")
    return PEAK_COLUMNS[kind]


def _column(df: pd.DataFrame, name: str | None) -> pd.Series:
    if name is None or name not in df:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[name], errors="coerce").astype(float)


def row_figure(row: Any, name: str | None) -> float:
    """A figure of a row given as a mapping, a Series or an object with attributes (a
    :class:`~workbench.results.TrialResult`); NaN when absent or not a number."""
    if name is None:
        return math.nan
    value = row.get(name) if isinstance(row, Mapping | pd.Series) else getattr(row, name, None)
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


@overload
def budget_peak(data: pd.DataFrame, kind: MemoryKind = "host") -> pd.Series: ...
@overload
def budget_peak(data: Any, kind: MemoryKind = "host") -> float: ...
def budget_peak(data: Any, kind: MemoryKind = "host") -> pd.Series | float:
    """The peak a budget is checked against: the larger of the one-pass and all-passes peaks.

    ``data``: a results DataFrame (returns a float Series, one value per row), or one row (a
    dict, a Series or a ``TrialResult``; returns a float). NaN-safe: one figure missing, the
    other is used; both missing, NaN (never 0). ``kind="gpu"``: the allocator's peaks, and
    NVML's device peak where TensorFlow has none.
    """
    first, every, fallback = _kind(kind)
    if isinstance(data, pd.DataFrame):
        peak = pd.Series(np.fmax(_column(data, first), _column(data, every)), index=data.index)
        return peak.where(np.isfinite(peak), _column(data, fallback))
    values = [v for v in (row_figure(data, first), row_figure(data, every)) if math.isfinite(v)]
    if values:
        return max(values)
    return row_figure(data, fallback)


def dataset_sizes(df: pd.DataFrame) -> list[int]:
    """The distinct dataset sizes (``images``) of the trials, smallest first; [] when unknown."""
    if "images" not in df or df.empty:
        return []
    sizes = pd.to_numeric(df["images"], errors="coerce")
    return sorted({int(n) for n in sizes[np.isfinite(sizes) & (sizes > 0)]})


def at_largest_size(df: pd.DataFrame) -> pd.DataFrame:
    """The trials at the largest dataset size measured, when sizes vary (else ``df`` itself).

    Memory grows with the number of images, so peaks at different sizes do not belong on one
    curve of batch size: the largest size is the closest to the real job and where the budget
    bites first. Rows whose size is unknown (a failed trial of a sweep without a size axis) are
    kept.
    """
    sizes = dataset_sizes(df)
    if len(sizes) < 2:
        return df
    images = pd.to_numeric(df["images"], errors="coerce")
    return df[(images == sizes[-1]) | ~(images > 0)]
