"""A standalone HTML report of a results folder: one file that works offline.

Data first, then one render: :func:`report_data` gathers plain values (environment, sweep
settings, recommendation, memory model, search answer, plots as base64 PNG, the full results
table) and :func:`build_report` renders them through the packaged Jinja2 template with
autoescaping on, so every user-supplied string (model names, paths, errors) arrives as text.
No URL outside the file is referenced: no CDN, no web fonts, images inline.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.analysis import (
    Recommendation,
    budget_peak,
    fit_memory_model,
    max_batch_at,
    max_batch_for_budget,
    recommend,
    spread_notes,
)
from workbench.analysis.target import added_sizes_note, max_batch_line, series_at, settings_at
from workbench.atomic import atomic_write_text
from workbench.config import format_bytes
from workbench.engine.search import read_search
from workbench.engine.targets import target_for_results
from workbench.render import plots
from workbench.render.columns import REPORT, is_missing, table_data
from workbench.render.figures import data_uri, figure_png
from workbench.render.templating import render
from workbench.types import Objective

REPORT_FILE = "report.html"


def _fmt(fmt: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda v: "n/a" if is_missing(v) else fmt(v)


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


def default_budgets(df: pd.DataFrame) -> tuple[int | None, int | None]:
    """The budgets the sweep (or search) ran with, from the results header."""
    sweep = df.attrs.get("sweep") or {}
    if "search" in sweep:
        search = sweep["search"] or {}
        return search.get("host_budget_bytes"), search.get("gpu_budget_bytes")
    budget = sweep.get("budget") or {}
    return budget.get("host_bytes"), budget.get("gpu_bytes")


# One function per section, each returning plain values (strings, lists, dicts) for the template.

def header_section(df: pd.DataFrame, title: str | None) -> dict[str, Any]:
    """Title, time of writing and the trial counts by status."""
    statuses = df["status"].astype(str).value_counts().to_dict() if len(df) else {}
    models = sorted(map(str, df["model"].dropna().unique())) if len(df) else []
    return {"title": title or f"Memory trade-offs: {', '.join(models) or 'no trials'}",
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "counts": {"total": len(df), **statuses}}


def budgets_section(host_budget: int | None, gpu_budget: int | None, margin: float, objective: Objective,
                    note: str | None) -> dict[str, Any]:
    """What the recommendation was asked for; ``note`` says where the budget came from."""
    return {"host": _fmt(format_bytes)(host_budget), "gpu": _fmt(format_bytes)(gpu_budget),
            "margin": f"{margin * 100:g} %", "objective": objective, "note": note}


def recommendation_section(rec: Recommendation) -> dict[str, Any]:
    """The recommended setting and why, or why there is none."""
    return {"label": rec.label(), "reason": rec.reason, "notes": list(rec.notes), "found": rec.row is not None}


def figures_section(df: pd.DataFrame, rec: Recommendation, host_budget: int | None, gpu_budget: int | None,
                    margin: float, target: int | None = None) -> list[tuple[str, str]]:
    """(caption, inline PNG) for each plot: the batch-size plots, then peak host memory against
    the number of images, one figure per pipeline, with the target marked."""
    n_options: dict[str, Any] = {"target_images": target, "budget_bytes": host_budget, "margin": margin}
    pipelines = sorted(set(map(str, df["pipeline"].dropna())))
    per_pipeline = [(f"Peak host memory vs number of images: {pipeline}", df[df["pipeline"] == pipeline])
                    for pipeline in pipelines]
    batch_plots: tuple[tuple[str, Callable[..., Any], dict[str, Any]], ...] = (
        ("Throughput vs batch size", plots.throughput_vs_batch, {}),
        ("Peak host memory vs batch size", plots.memory_vs_batch,
         {"kind": "host", "budget_bytes": host_budget, "margin": margin}),
        ("Peak GPU memory vs batch size", plots.memory_vs_batch,
         {"kind": "gpu", "budget_bytes": gpu_budget, "margin": margin}),
        ("Memory vs throughput", plots.pareto_plot, {"recommendation": rec}),
        ("Latency percentiles vs batch size", plots.latency_vs_batch, {}),
        ("Agreement with float32 and accuracy", plots.drift_by_precision, {}),
    )
    return ([(caption, data_uri(figure_png(plot, df, **options))) for caption, plot, options in batch_plots]
            + [(caption, data_uri(figure_png(plots.memory_vs_images, part, **n_options)))
               for caption, part in per_pipeline])


def memory_model_section(df: pd.DataFrame, host_budget: int | None, margin: float) -> list[dict[str, str]]:
    """The fitted terms per series, and the largest batch for the budget at the largest
    dataset size measured (the N term moves it; with one size, at that size)."""
    rows = []
    for _, m in fit_memory_model(df).iterrows():
        size = m["max_images"]
        best: int | None = None
        if host_budget and not is_missing(size):
            best = max_batch_at(m, host_budget, images=int(size), margin=margin)
        elif host_budget:  # the dataset size is unknown: the line as measured
            best = max_batch_for_budget(m["fixed_bytes"], m["per_image_bytes"], host_budget, margin)
        per_dataset = m["per_dataset_image_bytes"]
        rows.append({
            "series": " · ".join(str(m[k]) for k in ("model", "backend", "pipeline", "precision") if k in m),
            "fixed": _fmt(format_bytes)(m["fixed_bytes"]),
            "per_image": _fmt(format_bytes)(m["per_image_bytes"]),
            "per_dataset_image": "not measured" if is_missing(per_dataset) else format_bytes(per_dataset),
            "r2": _fmt(lambda v: f"{v:.3f}")(m["r2"]),
            "miss": _fmt(format_bytes)(m["max_residual_bytes"]),
            "points": f"{int(m['n_points'])} (batch {int(m['min_batch'])}-{int(m['max_batch'])})",
            "max_batch": "n/a" if best is None else f"{best}" + ("" if is_missing(size) else f" at {int(size):,} images"),
            "note": str(m["note"] or ""),
        })
    return rows


def target_section(df: pd.DataFrame, target: int | None, source: str, host_budget: int | None,
                   margin: float) -> dict[str, Any] | None:
    """The answer at the user's dataset size: per series how far the prediction reaches and the
    largest batch that fits there; per setting its budget peak predicted there and whether it
    fits. None when there is no target (the answers are for the largest size measured)."""
    if target is None or df.empty:
        return None
    series = series_at(df, target, host_budget_bytes=host_budget, margin=margin)
    settings = settings_at(df, target, host_budget_bytes=host_budget, margin=margin)
    rows = []
    several = "backend" in settings.columns and settings["backend"].nunique() > 1
    for _, r in settings.sort_values(["pipeline", "precision", "batch_size"], kind="mergesort").iterrows():
        predicted = r["predicted_host_bytes"]
        on = f"{r['backend']} · " if several else ""
        rows.append({"setting": f"{on}{r['pipeline']} · {r['precision']} · batch {int(r['batch_size'])}",
                     "measured": f"{format_bytes(budget_peak(r))} at {int(r['images']):,}" if r["images"] > 0
                     else format_bytes(budget_peak(r)),
                     "predicted": "cannot be predicted" if is_missing(predicted) else format_bytes(predicted),
                     "fits": "n/a" if not host_budget or is_missing(predicted) else ("yes" if r["fits"] else "no")})
    return {"images": f"{target:,}", "source": source, "settings": rows, "added": added_sizes_note(df),
            "series": [{"series": e["series"], "line": max_batch_line(e, target, margin),
                        "unknown": bool(e["why"])} for e in series]}


def search_section(search: dict[str, Any] | None) -> dict[str, Any] | None:
    """The largest-batch search answer and its probes (None when no search ran)."""
    if not search:
        return None
    probes = [{"batch": p.get("batch_size"), "status": p.get("status"),
               "peak": _fmt(format_bytes)(p.get("peak_bytes")), "fits": "yes" if p.get("fits") else "no"}
              for p in search.get("probes") or []]
    return {"batch_size": search.get("batch_size"), "n_probes": search.get("n_probes"),
            "host": _fmt(format_bytes)(search.get("host_budget_bytes")),
            "gpu": _fmt(format_bytes)(search.get("gpu_budget_bytes")),
            "margin": _fmt(lambda v: f"{v * 100:g} %")(search.get("margin")),
            "limited_by": search.get("limited_by"), "probes": probes, "notes": search.get("notes") or [],
            "target": _search_target(search.get("target") or {}),
            "confirmed": bool(search.get("confirmed")),
            "again": [{"batch": c.get("batch_size"), "status": c.get("status"),
                       "peak": _fmt(format_bytes)(c.get("peak_bytes")), "fits": "yes" if c.get("fits") else "no"}
                      for c in search.get("confirmations") or []]}



def _search_target(target: dict[str, Any]) -> str | None:
    """The search's answer at the target size, in one line (None without a target)."""
    answer = target.get("answer") or {}
    if not target or answer.get("predicted_peak_bytes") is None:
        return None
    return (f"at {target['target_images']:,} images: predicted peak {format_bytes(answer['predicted_peak_bytes'])} "
            f"(measured {format_bytes(answer['measured_peak_bytes'])} on {target['sample_images']:,}); {target['reach']}")


def results_section(df: pd.DataFrame) -> dict[str, Any]:
    """Every trial, failed ones included, in the report's columns (the shared column spec)."""
    return table_data(df, REPORT)


def settings_section(df: pd.DataFrame) -> list[tuple[str, str]]:
    """The sweep settings from the results header, flattened."""
    return _flatten(df.attrs.get("sweep") or {})


def environment_section(env: dict[str, Any]) -> list[tuple[str, str]]:
    """The machine and versions the trials ran on."""
    rows = [(k, env.get(k)) for k in ("hostname", "platform", "python", "tensorflow", "keras", "numpy",
                                      "cpu_model", "cpu_count")]
    rows += [(k, env[k]) for k in ("jax", "torch") if env.get(k)]  # the other Keras backends, where installed
    rows.append(("RAM", format_bytes(env["ram_total_bytes"]) if env.get("ram_total_bytes") else None))
    rows.append(("GPU", env.get("gpu_name") or "none found"))
    if env.get("gpu_driver"):
        rows.append(("GPU driver", env["gpu_driver"]))
    return [(k, "n/a" if v is None else str(v)) for k, v in rows]


def report_data(df: pd.DataFrame, *, host_budget_bytes: int | None = None, gpu_budget_bytes: int | None = None,
                objective: Objective = "throughput", title: str | None = None, margin: float = 0.1,
                search: dict[str, Any] | None = None, budget_note: str | None = None,
                target_images: int | None = None) -> dict[str, Any]:
    """Everything the template shows, as plain values (strings, lists, dicts), one key per section.

    ``budget_note`` says where the budget came from, when it was not the user's.
    ``target_images``: the dataset size the answers are for; default the sweep's (or search's)
    target, else the full count of the folder or ``.npy`` it ran on, else the largest measured.
    """
    sweep_host, sweep_gpu = default_budgets(df)
    host_budget_bytes = host_budget_bytes or sweep_host
    gpu_budget_bytes = gpu_budget_bytes or sweep_gpu
    target, source = target_for_results(df, target_images)
    rec = recommend(df, host_budget_bytes=host_budget_bytes, gpu_budget_bytes=gpu_budget_bytes,
                    objective=objective, margin=margin, target_images=target)
    return {
        **header_section(df, title),
        "budgets": budgets_section(host_budget_bytes, gpu_budget_bytes, margin, objective, budget_note),
        "recommendation": recommendation_section(rec),
        "target": target_section(df, target, source, host_budget_bytes, margin),
        "figures": figures_section(df, rec, host_budget_bytes, gpu_budget_bytes, margin, target),
        "memory_model": memory_model_section(df, host_budget_bytes, margin),
        "spread": spread_notes(df),  # how much the numbers moved: within trials, between runs
        "search": search_section(search),
        "table": results_section(df),
        "settings": settings_section(df),
        "environment": environment_section(df.attrs.get("environment") or {}),
    }


def build_report(df: pd.DataFrame, *, host_budget_bytes: int | None = None, gpu_budget_bytes: int | None = None,
                 objective: Objective = "throughput", title: str | None = None, margin: float = 0.1,
                 search: dict[str, Any] | None = None, budget_note: str | None = None,
                 target_images: int | None = None) -> str:
    """The report as one standalone HTML string (plots inline, no external URL, all text escaped)."""
    data = report_data(df, host_budget_bytes=host_budget_bytes, gpu_budget_bytes=gpu_budget_bytes,
                       objective=objective, title=title, margin=margin, search=search, budget_note=budget_note,
                       target_images=target_images)
    return render("report_page.html", **data)


def write_report(results_dir: str | os.PathLike[str], path: str | os.PathLike[str] | None = None,
                 **options: Any) -> Path:
    """Load ``results_dir`` (and its ``search.json``, if any), write the report, return its path
    (``results_dir/report.html`` by default). ``options`` are :func:`build_report`'s
    (``target_images=N``: the answers for the real job's size)."""
    from workbench.results import load_results

    df = load_results(results_dir)
    options.setdefault("search", read_search(results_dir))
    out = Path(path) if path is not None else Path(results_dir) / REPORT_FILE
    return atomic_write_text(out, build_report(df, **options))
