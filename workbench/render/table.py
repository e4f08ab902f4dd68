"""Plain-text results table for the terminal (one renderer, shared by the subcommands)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from workbench.config import format_bytes

Formatter = Callable[[Any], str]

# (column, heading, formatter): the one list of shown columns, their units and formats, for
# the terminal table and the panel's table alike. Missing figures show as "n/a".
SHOWN: list[tuple[str, str, Formatter]] = [
    ("pipeline", "pipeline", str),
    ("precision", "precision", str),
    ("batch_size", "batch", lambda v: f"{int(v)}"),
    ("status", "status", str),
    ("throughput_ips", "images/s", lambda v: f"{v:,.1f}"),
    ("latency_p50_s", "p50 ms", lambda v: f"{v * 1e3:.1f}"),
    ("latency_p99_s", "p99 ms", lambda v: f"{v * 1e3:.1f}"),
    ("host_baseline_bytes", "host base", format_bytes),
    ("host_peak_bytes", "host peak", format_bytes),
    ("gpu_peak_bytes", "GPU peak", format_bytes),
    ("accuracy", "accuracy", lambda v: f"{v:.3f}"),
    ("drift_max_abs", "drift", lambda v: f"{v:.2g}"),
    ("top1_agreement", "top-1 agree", lambda v: f"{v:.3f}"),
    ("error", "error", lambda v: str(v).splitlines()[0][:160]),
]
TEXT_COLUMNS = ("pipeline", "precision", "status", "error")


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def cell(column: str, value: Any, fmt: Formatter) -> str:
    """One formatted cell: ``n/a`` for a missing figure, empty for a missing error."""
    if is_missing(value):
        return "" if column == "error" else "n/a"
    return fmt(value)


def results_table(df: pd.DataFrame) -> str:
    """The key columns with units, missing figures as ``n/a``, errors listed underneath."""
    if df.empty:
        return "(no trials)"
    shown = [(col, head, fmt) for col, head, fmt in SHOWN if col in df.columns and col != "error"]
    rows = [[head for _, head, _ in shown]]
    for _, row in df.iterrows():
        rows.append([cell(col, row[col], fmt) for col, _, fmt in shown])
    widths = [max(len(r[i]) for r in rows) for i in range(len(shown))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = df[df["status"] != "ok"]
    for _, row in failed.iterrows():
        lines.append(f"  {row['status']}: {row['pipeline']} {row['precision']} batch {int(row['batch_size'])}: {row['error']}")
    return "\n".join(lines)
