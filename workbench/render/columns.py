"""The one column spec of the results table: names, headings, units, formats, missing text.

The terminal table (:mod:`workbench.render.table`), the report's table
(:mod:`workbench.render.report`) and the panel's table (:mod:`workbench.ui.results_view`) all
read :data:`COLUMNS`, so one figure reads the same everywhere. Each view shows a subset, in the
same order. A missing figure (NaN, None) shows the column's missing text ("n/a"), never 0.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.config import format_bytes

TERMINAL = "terminal"
REPORT = "report"
PANEL = "panel"
ALL_VIEWS = frozenset({TERMINAL, REPORT, PANEL})
ERROR_CHARS = 160  # an error cell holds the first line of the error, cut here


def is_missing(value: Any) -> bool:
    """True for None, NaN and pandas' missing markers (a figure that was not measured)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array: not a scalar, so not "missing"
        return False


def text(value: Any) -> str:
    """A word as shown: an enum by its value (``ok``, not ``Status.OK``)."""
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def readable(value: float) -> str:
    """A time with the digits that matter: ``0.051``, ``1.23``, ``12.3``, ``1,234.5``."""
    if not math.isfinite(value):
        return f"{value}"
    decimals = 3 if abs(value) < 1 else 2 if abs(value) < 10 else 1
    return f"{value:,.{decimals}f}"


def _first_line(value: Any) -> str:
    lines = str(value).strip().splitlines()
    return lines[0][:ERROR_CHARS] if lines else ""


@dataclass(frozen=True)
class Column:
    """One shown column of the results table."""

    name: str  # the DataFrame column
    heading: str
    unit: str = ""  # shown after the heading; empty where each cell carries its own (bytes)
    fmt: Callable[[Any], str] = text
    missing: str = "n/a"
    is_text: bool = False  # words (left-aligned), not a figure
    views: frozenset[str] = ALL_VIEWS
    note: str = ""  # what the figure covers (a tooltip in HTML)
    only_if_varied: bool = False  # shown only where the rows hold several values (one says nothing)
    only_if_measured: bool = False  # shown only where some row has the figure (one backend's extra)

    @property
    def label(self) -> str:
        """The heading with its unit: ``p50 ms``."""
        return f"{self.heading} {self.unit}" if self.unit else self.heading

    def format(self, value: Any) -> str:
        """One cell: the missing text for a missing figure, else the column's format."""
        return self.missing if is_missing(value) else self.fmt(value)


def _words(name: str, heading: str, views: Iterable[str] = ALL_VIEWS, note: str = "",
           only_if_varied: bool = False) -> Column:
    return Column(name, heading, is_text=True, views=frozenset(views), note=note, only_if_varied=only_if_varied)


def _ms(value: float) -> str:
    return readable(value * 1e3)


def _percent(value: float) -> str:
    return f"{value * 100:.1f}"


def _yes_no(value: Any) -> str:
    return "yes" if bool(value) else "no"


def _tput(value: float) -> str:
    return f"{value:,.1f}"


# In display order. Views pick a subset; the report shows every column.
COLUMNS: tuple[Column, ...] = (
    _words("model", "model", [REPORT]),
    _words("dataset", "data", [REPORT]),
    _words("backend", "backend", note="the Keras backend (KERAS_BACKEND) the trial ran on", only_if_varied=True),
    _words("pipeline", "pipeline"),
    _words("precision", "precision"),
    Column("batch_size", "batch", fmt=lambda v: f"{int(v)}", note="images per predict batch"),
    Column("images", "images", fmt=lambda v: f"{int(v):,}" if v > 0 else "n/a", only_if_varied=True,
           note="images the trial predicted (the dataset size N: memory grows with it)"),
    _words("status", "status"),
    Column("repeat", "run", fmt=lambda v: f"{int(v) + 1}", views=frozenset([REPORT]),
           note="which run of the setting (--repeat; the search's confirmation runs its answer again)"),
    Column("throughput_ips", "throughput", "img/s", _tput, note="images per second: the median of the timed passes"),
    Column("throughput_cv", "spread", "%", _percent,
           note="coefficient of variation of the passes' throughputs (across the runs, for a setting run more than once)"),
    Column("unstable", "unstable", fmt=_yes_no, is_text=True, views=frozenset([REPORT, PANEL]),
           note="yes: the spread stayed above the threshold after re-measuring, so this throughput is noise-prone"),
    Column("latency_p50_s", "p50", "ms", _ms, note="median time of one batch"),
    Column("latency_p90_s", "p90", "ms", _ms, views=frozenset([REPORT]), note="90th percentile time of one batch"),
    Column("latency_p99_s", "p99", "ms", _ms, note="99th percentile time of one batch"),
    Column("first_batch_s", "first batch", "s", readable, views=frozenset([REPORT]),
           note="time to the first prediction, tracing included"),
    Column("host_baseline_bytes", "host baseline", fmt=format_bytes, views=frozenset([TERMINAL, REPORT]),
           note="resident memory of the trial process after loading, before predicting"),
    Column("host_peak_bytes", "host peak", fmt=format_bytes,
           note="high-water mark of the trial process over warm-up and the first pass"),
    Column("host_creeping", "creeps", fmt=_yes_no, is_text=True, views=frozenset([REPORT, PANEL]),
           note="yes: resident memory kept growing over the timed passes (more than 1 % of the peak a pass "
                "over 5 or more): a long job that calls predict again and again reaches more"),
    Column("gpu_peak_bytes", "GPU peak", fmt=format_bytes,
           note="the backend's allocator peak (TensorFlow, JAX: since the trial started, PyTorch) over warm-up "
                "and the first pass"),
    Column("gpu_device_peak_bytes", "GPU device peak", fmt=format_bytes, views=frozenset([REPORT]),
           note="memory the device gave the process (NVML), CUDA context included"),
    Column("gpu_reserved_peak_bytes", "GPU reserved peak", fmt=format_bytes, views=frozenset([REPORT]),
           note="PyTorch: the most its caching allocator held from the device (max_memory_reserved)",
           only_if_measured=True),
    Column("accuracy", "accuracy", "%", _percent, note="top-1 accuracy where the data has labels"),
    Column("top1_agreement", "top-1 agree", "%", _percent, note="images whose top-1 class matches float32"),
    Column("drift_max_abs", "drift", fmt=lambda v: f"{v:.2g}",
           note="largest absolute difference of the outputs from float32"),
    Column("error", "error", fmt=_first_line, missing="", is_text=True, views=frozenset([REPORT, PANEL]),
           note="first line of what stopped the trial"),
)


def shown(df: pd.DataFrame, view: str) -> list[Column]:
    """The columns ``view`` shows that ``df`` has, in display order."""
    if view not in ALL_VIEWS:
        raise ValueError(f"view {view!r}: choose one of {sorted(ALL_VIEWS)}")
    return [c for c in COLUMNS if view in c.views and c.name in df.columns
            and not (c.only_if_varied and df[c.name].nunique() <= 1)
            and not (c.only_if_measured and df[c.name].map(is_missing).all())]


def formatted_rows(df: pd.DataFrame, columns: list[Column]) -> list[list[str]]:
    """Every row of ``df`` as its formatted cells."""
    return [[c.format(record.get(c.name)) for c in columns] for record in df.to_dict("records")]


def table_data(df: pd.DataFrame, view: str) -> dict[str, Any]:
    """The table as plain data for the HTML templates: headings, and per row its status and cells."""
    columns = shown(df, view)
    statuses = [text(s) for s in df["status"]] if "status" in df.columns else ["ok"] * len(df)
    return {
        "headings": [{"label": c.label, "note": c.note, "is_text": c.is_text} for c in columns],
        "rows": [{"status": status, "cells": [{"text": cell, "is_text": c.is_text}
                                              for c, cell in zip(columns, cells, strict=True)]}
                 for status, cells in zip(statuses, formatted_rows(df, columns), strict=True)],
    }
