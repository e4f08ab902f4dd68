"""The panel's live results: trade-off plots, the results table and the recommendation.

Figures are drawn by :func:`workbench.render.figures.figure_png` (a pyplot-free Agg figure:
this runs off the main thread) and sent as PNG bytes into ``Image`` widgets, so an update is
a trait change, safe from the sweep's thread, and the page needs no extra front-end.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as W
import pandas as pd

from workbench.config import format_bytes
from workbench.render.columns import PANEL, table_data
from workbench.render.figures import PANEL_DPI, PANEL_SIZE, figure_png
from workbench.render.templating import render
from workbench.types import Objective


def results_table_html(df: pd.DataFrame) -> str:
    """The results as an HTML table (the shared column spec; every string escaped by the template)."""
    if df.empty:
        return "<i>no trials yet</i>"
    return render("panel_table.html", table=table_data(df, PANEL))


def _png(plot: Any, df: pd.DataFrame, **options: Any) -> bytes:
    """One plot at the panel's size."""
    return figure_png(plot, df, size=PANEL_SIZE, dpi=PANEL_DPI, **options)


def has_gpu_figures(df: pd.DataFrame) -> bool:
    return "gpu_peak_bytes" in df.columns and bool(df["gpu_peak_bytes"].notna().any())


class ResultsView:
    """Plots, table and recommendation for one results DataFrame, re-drawn on demand."""

    def __init__(self) -> None:
        def image(name: str) -> W.Image:
            img = W.Image(format="png", layout=W.Layout(width="414px", display="none"))
            img.add_class(f"wb-plot-{name}")
            return img

        self.throughput = image("throughput")
        self.host_memory = image("host-memory")
        self.gpu_memory = image("gpu-memory")
        self.pareto = image("pareto")
        self.memory_n = image("memory-n")
        self.gpu_note = W.HTML()
        self.recommendation = W.HTML()
        self.recommendation.add_class("wb-recommendation")
        self.table = W.HTML()
        self.table.add_class("wb-table")
        plots = W.Box([self.throughput, self.host_memory, self.gpu_memory, self.pareto, self.memory_n],
                      layout=W.Layout(flex_flow="row wrap"))
        plots.add_class("wb-plots")
        self.widget = W.VBox([self.recommendation, plots, self.gpu_note, self.table])
        self.df: pd.DataFrame | None = None
        self.decision: Any = None  # the latest Recommendation
        self._lock = threading.Lock()  # the sweep thread and a budget change may both re-draw

    def show(self, df: pd.DataFrame, **decide: Any) -> None:
        """Show a new results DataFrame: every plot, the table and the recommendation."""
        from workbench.render import plots

        with self._lock:
            self.df = df
            self.table.value = results_table_html(df)
            if df.empty:
                for img in (self.throughput, self.host_memory, self.gpu_memory, self.pareto, self.memory_n):
                    img.layout.display = "none"
                self.recommendation.value = ""
                return
            self.throughput.value = _png(plots.throughput_vs_batch, df)
            self.throughput.layout.display = None
            self._decide(df, **decide)

    def update_decision(self, **decide: Any) -> None:
        """Budgets or objective changed: re-decide and re-draw what depends on them only."""
        with self._lock:
            if self.df is not None and not self.df.empty:
                self._decide(self.df, **decide)

    def _decide(self, df: pd.DataFrame, *, host_budget_bytes: int | None = None,
                gpu_budget_bytes: int | None = None, objective: Objective = "throughput",
                margin: float = 0.1, target_images: int | None = None) -> None:
        from workbench import analysis
        from workbench.render import plots

        rec = analysis.recommend(df, host_budget_bytes=host_budget_bytes, gpu_budget_bytes=gpu_budget_bytes,
                                 objective=objective, margin=margin, target_images=target_images)
        self.decision = rec
        self.recommendation.value = recommendation_html(rec, host_budget_bytes, gpu_budget_bytes)
        # Peak against the number of images, up to the target: shown when there is a target or
        # the trials ran at several sizes.
        if target_images or len(analysis.dataset_sizes(df)) > 1:
            self.memory_n.value = _png(plots.memory_vs_images, df, target_images=target_images,
                                       budget_bytes=host_budget_bytes, margin=margin)
            self.memory_n.layout.display = None
        else:
            self.memory_n.layout.display = "none"
        self.host_memory.value = _png(plots.memory_vs_batch, df, kind="host", budget_bytes=host_budget_bytes)
        self.host_memory.layout.display = None
        if has_gpu_figures(df):
            self.gpu_memory.value = _png(plots.memory_vs_batch, df, kind="gpu", budget_bytes=gpu_budget_bytes)
            self.gpu_memory.layout.display = None
            self.gpu_note.value = ""
        else:
            self.gpu_memory.layout.display = "none"
            self.gpu_note.value = "<i>GPU memory: not available (these trials ran without a GPU)</i>"
        self.pareto.value = _png(plots.pareto_plot, df, recommendation=rec)
        self.pareto.layout.display = None


def recommendation_html(rec: Any, host_budget: int | None, gpu_budget: int | None) -> str:
    """One line: the recommended setting and why, or why there is none."""
    budgets = [f"host {format_bytes(host_budget)}" if host_budget else "",
               f"GPU {format_bytes(gpu_budget)}" if gpu_budget else ""]
    under = " and ".join(b for b in budgets if b) or "no budget"
    if getattr(rec, "target_images", None):
        under += f", at {rec.target_images:,} images"
    reason = html.escape(str(rec.reason))
    # At a target size, how far the prediction reaches (an extrapolation, or not predictable) matters.
    notes = "".join(f"<div class='wb-note'>{html.escape(n)}</div>" for n in rec.notes) if getattr(
        rec, "target_images", None) else ""
    if rec.row is None:
        return f"<b>No recommendation</b> ({under}): {reason}{notes}"
    r = rec.row
    on = f"{r.get('backend')} · " if r.get("backend") not in (None, "tensorflow") else ""
    setting = f"{on}{r.get('pipeline')} · {r.get('precision')} · batch {int(r.get('batch_size'))}"
    return f"<b>Recommended</b> ({under}): <b>{html.escape(setting)}</b>: {reason}{notes}"
