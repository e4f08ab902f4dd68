"""A standalone HTML comparison of several results folders (``workbench compare``).

Data first, then one render, like :mod:`workbench.render.report`: :func:`compare_report_data`
turns a :class:`workbench.analysis.compare.Comparison` into plain values (the runs and their
machines side by side, the settings that differ, the settings every run measured, two plots
with one colour per run, every trial) and the packaged template renders them with autoescaping
on. Images are inline; nothing outside the file is referenced.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.analysis.compare import FIGURES, SETTING, Comparison, load_comparison
from workbench.atomic import atomic_write_text
from workbench.render.columns import COLUMNS, REPORT, table_data
from workbench.render.figures import data_uri, figure_png
from workbench.render.plots import PRECISION_STYLES, _batch_axis, _legend, byte_unit, new_axes
from workbench.render.report import environment_section
from workbench.render.templating import render
from workbench.results import ok_trials

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COMPARE_FILE = "compare.html"
TITLES = {"throughput_ips": "throughput", "host_peak_bytes": "peak host memory", "gpu_peak_bytes": "peak GPU memory"}
PIPELINE_STYLES = {"in_memory": "-", "batch_loop": "--", "stream": ":"}
# The plots of a comparison, caption and figure: the page and the panel draw these two.
PLOTS = (("Throughput vs batch size", "throughput_ips"), ("Peak host memory vs batch size", "host_peak_bytes"))


def compare_vs_batch(df: pd.DataFrame, *, ax: Axes | None = None, column: str = "throughput_ips") -> Axes:
    """A figure against batch size for each run: one colour per run (its machine), line style
    by pipeline, marker by precision. Only trials that finished are drawn."""
    from matplotlib import colormaps

    ax = new_axes(ax)
    ok = ok_trials(df)
    runs = list(dict.fromkeys(df["run"]))
    cmap = colormaps["tab10"]
    is_bytes = column.endswith("_bytes")
    unit, div = byte_unit(ok[column]) if is_bytes else ("images/s", 1.0)
    for key, part in ok.groupby(["run", "pipeline", "precision"], sort=False):
        run, pipeline, precision = (str(k) for k in key)
        part = part.sort_values("batch_size")
        values = part[column].astype(float) / div
        if not np.isfinite(values).any():
            continue
        ax.plot(part["batch_size"], values, color=cmap(runs.index(run) % cmap.N),
                linestyle=PIPELINE_STYLES.get(pipeline, "-"), marker=PRECISION_STYLES.get(precision, ("-", "o"))[1],
                label=f"{run} · {pipeline} · {precision}")
    _batch_axis(ax, df)
    what = TITLES.get(column, column.removesuffix("_bytes").replace("_", " "))
    ax.set_ylabel(f"{what} ({unit})")
    ax.set_ylim(bottom=0)
    ax.set_title(what[0].upper() + what[1:])
    _legend(ax)
    return ax


def _column(name: str) -> Any:
    return next(c for c in COLUMNS if c.name == name)


def common_table(cmp: Comparison) -> dict[str, Any]:
    """The settings every run measured: the setting, then each figure per run, formatted by
    the shared column spec (so a number reads as it does in every other table)."""
    labels = [r.label for r in cmp.runs]
    setting = [_column(n) for n in SETTING]
    figures = [(_column(f), f, label) for f in FIGURES for label in labels]
    headings = [{"label": c.label, "note": c.note, "is_text": c.is_text} for c in setting]
    headings += [{"label": f"{c.label}: {label}", "note": c.note, "is_text": False} for c, _, label in figures]
    rows = []
    for record in cmp.common.to_dict("records"):
        cells = [{"text": c.format(record[c.name]), "is_text": c.is_text} for c in setting]
        cells += [{"text": c.format(record[f"{f}:{label}"]), "is_text": False} for c, f, label in figures]
        rows.append({"status": "ok", "cells": cells})
    return {"headings": headings, "rows": rows}


def environments(cmp: Comparison) -> dict[str, Any]:
    """The machines side by side: one row per fact, one column per run, differing rows marked."""
    per_run = [dict(environment_section(r.environment)) for r in cmp.runs]
    keys = list(dict.fromkeys(k for env in per_run for k in env))
    rows = [{"key": k, "cells": [env.get(k, "n/a") for env in per_run],
             "differs": len({env.get(k, "n/a") for env in per_run}) > 1} for k in keys]
    return {"labels": [r.label for r in cmp.runs], "rows": rows}


def runs_rows(cmp: Comparison) -> list[dict[str, Any]]:
    """One row per run: its label, folder, machine ids and number of trials (the page and the panel)."""
    return [{"label": r.label, "path": r.path, "machines": ", ".join(r.machines) or "n/a", "trials": r.trials}
            for r in cmp.runs]


def compare_report_data(cmp: Comparison, *, title: str | None = None) -> dict[str, Any]:
    """Everything the comparison page shows, as plain values."""
    labels = [r.label for r in cmp.runs]
    return {
        "title": title or f"Comparison: {' vs '.join(labels)}",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": runs_rows(cmp),
        "differences": cmp.differences,
        "environments": environments(cmp),
        "common": common_table(cmp),
        "figures": [(caption, data_uri(figure_png(compare_vs_batch, cmp.df, column=column)))
                    for caption, column in PLOTS],
        "table": all_trials(cmp),
    }


def all_trials(cmp: Comparison, view: str = REPORT) -> dict[str, Any]:
    """Every trial in ``view``'s columns (the shared spec: the report's, or the panel's), with
    the run it belongs to first."""
    table = table_data(cmp.df, view)
    table["headings"].insert(0, {"label": "run", "note": "the results folder and its machine", "is_text": True})
    for row, run in zip(table["rows"], cmp.df["run"], strict=True):
        row["cells"].insert(0, {"text": str(run), "is_text": True})
    return table


def build_compare_report(cmp: Comparison, *, title: str | None = None) -> str:
    """The comparison as one standalone HTML string (plots inline, every string escaped)."""
    return render("compare_page.html", **compare_report_data(cmp, title=title))


def write_compare_report(folders: list[str | os.PathLike[str]], path: str | os.PathLike[str] | None = None,
                         *, title: str | None = None) -> tuple[Path, Comparison]:
    """Load and compare ``folders``, write the page (default ``./compare.html``); return its path
    and the comparison."""
    cmp = load_comparison(folders)
    out = Path(path) if path is not None else Path(COMPARE_FILE)
    return atomic_write_text(out, build_compare_report(cmp, title=title)), cmp
