"""A standalone HTML report of a results folder: one file that works offline.

Data first, then one render: :func:`report_data` gathers plain values (environment, sweep
settings, recommendation, memory model, search answer, plots as base64 PNG, the full results
table) and :func:`build_report` renders them through the packaged Jinja2 template with
autoescaping on, so every user-supplied string (model names, paths, errors) arrives as text.
No URL outside the file is referenced: no CDN, no web fonts, images inline.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from workbench.analysis import (
    Recommendation,
    fit_memory_model,
    max_batch_at,
    max_batch_for_budget,
    recommend,
)
from workbench.config import format_bytes
from workbench.engine.search import read_search
from workbench.render import plots

REPORT_FILE = "report.html"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(fmt: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda v: "n/a" if _missing(v) else fmt(v)


# (column, heading, formatter) for the full results table
TABLE: list[tuple[str, str, Callable[[Any], str]]] = [
    ("model", "model", _fmt(str)), ("dataset", "data", _fmt(str)), ("pipeline", "pipeline", _fmt(str)),
    ("precision", "precision", _fmt(str)), ("batch_size", "batch", _fmt(lambda v: f"{int(v)}")),
    ("status", "status", _fmt(str)), ("throughput_ips", "images/s", _fmt(lambda v: f"{v:.1f}")),
    ("latency_p50_s", "p50 ms", _fmt(lambda v: f"{v * 1e3:.2f}")),
    ("latency_p90_s", "p90 ms", _fmt(lambda v: f"{v * 1e3:.2f}")),
    ("latency_p99_s", "p99 ms", _fmt(lambda v: f"{v * 1e3:.2f}")),
    ("first_batch_s", "first batch s", _fmt(lambda v: f"{v:.2f}")),
    ("host_baseline_bytes", "host baseline", _fmt(format_bytes)),
    ("host_peak_bytes", "host peak", _fmt(format_bytes)),
    ("gpu_peak_bytes", "GPU peak", _fmt(format_bytes)),
    ("gpu_device_peak_bytes", "GPU device peak", _fmt(format_bytes)),
    ("drift_max_abs", "max |diff|", _fmt(lambda v: f"{v:.2g}")),
    ("top1_agreement", "top-1 agree", _fmt(lambda v: f"{v * 100:.1f} %")),
    ("accuracy", "accuracy", _fmt(lambda v: f"{v * 100:.1f} %")),
    ("error", "error", _fmt(str)),
]


def figure_png(draw: Callable[..., Any], df: pd.DataFrame, **kwargs: Any) -> str:
    """Draw one plot on a fresh pyplot-free figure; return it as a ``data:`` PNG URI."""
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    draw(df, ax=fig.add_subplot(), **kwargs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as ``("budget.host_bytes", "2000000000")`` pairs."""
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            out += _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list | tuple):
        value = ", ".join(map(str, value))
    return [(prefix, "n/a" if value is None else str(value))]


def _environment(env: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [(k, env.get(k)) for k in ("hostname", "platform", "python", "tensorflow", "keras", "numpy",
                                      "cpu_model", "cpu_count")]
    rows.append(("RAM", format_bytes(env["ram_total_bytes"]) if env.get("ram_total_bytes") else None))
    rows.append(("GPU", env.get("gpu_name") or "none found"))
    if env.get("gpu_driver"):
        rows.append(("GPU driver", env["gpu_driver"]))
    return [(k, "n/a" if v is None else str(v)) for k, v in rows]


def default_budgets(df: pd.DataFrame) -> tuple[int | None, int | None]:
    """The budgets the sweep (or search) ran with, from the results header."""
    sweep = df.attrs.get("sweep") or {}
    if "search" in sweep:
        search = sweep["search"] or {}
        return search.get("host_budget_bytes"), search.get("gpu_budget_bytes")
    budget = sweep.get("budget") or {}
    return budget.get("host_bytes"), budget.get("gpu_bytes")


def _memory_model(df: pd.DataFrame, host_budget: int | None, margin: float) -> list[dict[str, str]]:
    """The fitted terms per series, and the largest batch for the budget at the largest
    dataset size measured (the N term moves it; with one size, at that size)."""
    rows = []
    for _, m in fit_memory_model(df).iterrows():
        size = m["max_images"]
        best: int | None = None
        if host_budget and not _missing(size):
            best = max_batch_at(m, host_budget, images=int(size), margin=margin)
        elif host_budget:  # the dataset size is unknown: the line as measured
            best = max_batch_for_budget(m["fixed_bytes"], m["per_image_bytes"], host_budget, margin)
        per_dataset = m["per_dataset_image_bytes"]
        rows.append({
            "series": f"{m['model']} · {m['pipeline']} · {m['precision']}",
            "fixed": _fmt(format_bytes)(m["fixed_bytes"]),
            "per_image": _fmt(format_bytes)(m["per_image_bytes"]),
            "per_dataset_image": "not measured" if _missing(per_dataset) else format_bytes(per_dataset),
            "r2": _fmt(lambda v: f"{v:.3f}")(m["r2"]),
            "miss": _fmt(format_bytes)(m["max_residual_bytes"]),
            "points": f"{int(m['n_points'])} (batch {int(m['min_batch'])}-{int(m['max_batch'])})",
            "max_batch": "n/a" if best is None else f"{best}" + ("" if _missing(size) else f" at {int(size):,} images"),
            "note": str(m["note"] or ""),
        })
    return rows


def report_data(df: pd.DataFrame, *, host_budget_bytes: int | None = None, gpu_budget_bytes: int | None = None,
                objective: str = "throughput", title: str | None = None, margin: float = 0.1,
                search: dict[str, Any] | None = None, budget_note: str | None = None) -> dict[str, Any]:
    """Everything the template shows, as plain values (strings, lists, dicts).

    ``budget_note`` says where the budget came from, when it was not the user's.
    """
    sweep_host, sweep_gpu = default_budgets(df)
    host_budget_bytes = host_budget_bytes or sweep_host
    gpu_budget_bytes = gpu_budget_bytes or sweep_gpu
    rec: Recommendation = recommend(df, host_budget_bytes=host_budget_bytes, gpu_budget_bytes=gpu_budget_bytes,
                                    objective=objective, margin=margin)
    figures = [
        ("Throughput vs batch size", figure_png(plots.throughput_vs_batch, df)),
        ("Peak host memory vs batch size", figure_png(plots.memory_vs_batch, df, kind="host", budget_bytes=host_budget_bytes,
                                                    margin=margin)),
        ("Peak GPU memory vs batch size", figure_png(plots.memory_vs_batch, df, kind="gpu", budget_bytes=gpu_budget_bytes,
                                                   margin=margin)),
        ("Memory vs throughput", figure_png(plots.pareto_plot, df, recommendation=rec)),
        ("Latency percentiles vs batch size", figure_png(plots.latency_vs_batch, df)),
        ("Agreement with float32 and accuracy", figure_png(plots.drift_by_precision, df)),
    ]
    statuses = df["status"].astype(str).value_counts().to_dict() if len(df) else {}
    rows = [{"status": str(r["status"]), "cells": [fmt(r.get(col)) for col, _, fmt in TABLE]}
            for r in df.to_dict("records")]
    models = sorted(map(str, df["model"].dropna().unique())) if len(df) else []
    return {
        "title": title or f"Memory trade-offs: {', '.join(models) or 'no trials'}",
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "environment": _environment(df.attrs.get("environment") or {}),
        "settings": _flatten(df.attrs.get("sweep") or {}),
        "counts": {"total": len(df), **statuses},
        "budgets": {"host": _fmt(format_bytes)(host_budget_bytes), "gpu": _fmt(format_bytes)(gpu_budget_bytes),
                    "margin": f"{margin * 100:g} %", "objective": objective, "note": budget_note},
        "recommendation": {"label": rec.label(), "reason": rec.reason, "notes": list(rec.notes),
                           "found": rec.row is not None},
        "memory_model": _memory_model(df, host_budget_bytes, margin),
        "search": _search_view(search),
        "figures": figures,
        "headings": [head for _, head, _ in TABLE],
        "rows": rows,
    }


def _search_view(search: dict[str, Any] | None) -> dict[str, Any] | None:
    if not search:
        return None
    probes = [{"batch": p.get("batch_size"), "status": p.get("status"),
               "peak": _fmt(format_bytes)(p.get("peak_bytes")), "fits": "yes" if p.get("fits") else "no"}
              for p in search.get("probes") or []]
    return {"batch_size": search.get("batch_size"), "n_probes": search.get("n_probes"),
            "host": _fmt(format_bytes)(search.get("host_budget_bytes")),
            "gpu": _fmt(format_bytes)(search.get("gpu_budget_bytes")),
            "margin": _fmt(lambda v: f"{v * 100:g} %")(search.get("margin")),
            "limited_by": search.get("limited_by"), "probes": probes, "notes": search.get("notes") or []}


def _environment_loader() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("workbench.render", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def build_report(df: pd.DataFrame, *, host_budget_bytes: int | None = None, gpu_budget_bytes: int | None = None,
                 objective: str = "throughput", title: str | None = None, margin: float = 0.1,
                 search: dict[str, Any] | None = None, budget_note: str | None = None) -> str:
    """The report as one standalone HTML string (plots inline, no external URL, all text escaped)."""
    data = report_data(df, host_budget_bytes=host_budget_bytes, gpu_budget_bytes=gpu_budget_bytes,
                       objective=objective, title=title, margin=margin, search=search, budget_note=budget_note)
    return _environment_loader().get_template("report_page.html").render(**data)


def write_report(results_dir: str | os.PathLike[str], path: str | os.PathLike[str] | None = None,
                 **options: Any) -> Path:
    """Load ``results_dir`` (and its ``search.json``, if any), write the report, return its path
    (``results_dir/report.html`` by default)."""
    from workbench.results import load_results

    df = load_results(results_dir)
    options.setdefault("search", read_search(results_dir))
    out = Path(path) if path is not None else Path(results_dir) / REPORT_FILE
    html = build_report(df, **options)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out
