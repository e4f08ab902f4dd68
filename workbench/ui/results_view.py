"""The panel's live results: trade-off plots, the results table and the recommendation.

Figures are drawn with :class:`matplotlib.figure.Figure` on the Agg canvas (never pyplot:
this runs off the main thread) and sent as PNG bytes into ``Image`` widgets, so an update is
a trait change, safe from the sweep's thread, and the page needs no extra front-end.
"""

from __future__ import annotations

import html
import io
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from workbench.config import format_bytes
from workbench.render.table import SHOWN, TEXT_COLUMNS, cell

_TABLE_CSS = ("<style>.wb-results td,.wb-results th{padding:2px 8px;text-align:right;font-size:12px}"
              ".wb-results tr.wb-failed td{color:#b00020}.wb-results td.wb-text{text-align:left}</style>")


def results_table_html(df: pd.DataFrame) -> str:
    """The results as an HTML table: units in the headings, ``n/a`` for missing figures."""
    if df.empty:
        return "<i>no trials yet</i>"
    cols = [c for c in SHOWN if c[0] in df.columns and c[0] != "host_baseline_bytes"]
    head = "".join(f"<th>{h}</th>" for _, h, _ in cols)
    rows = []
    for _, row in df.iterrows():
        cells = []
        for col, _, fmt in cols:
            value = row[col]
            text = cell(col, value, fmt)
            cls = " class='wb-text'" if col in TEXT_COLUMNS else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        failed = " class='wb-failed'" if row.get("status") != "ok" else ""
        rows.append(f"<tr{failed}>{''.join(cells)}</tr>")
    return f"{_TABLE_CSS}<table class='wb-results'><tr>{head}</tr>{''.join(rows)}</table>"


def figure_png(draw: Callable[[Axes], Any], *, size: tuple[float, float] = (4.6, 3.4)) -> bytes:
    """Draw on a fresh Agg figure (no pyplot state) and return it as PNG bytes."""
    fig = Figure(figsize=size, dpi=90)
    FigureCanvasAgg(fig)
    draw(fig.add_subplot())
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


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
        self.gpu_note = W.HTML()
        self.recommendation = W.HTML()
        self.recommendation.add_class("wb-recommendation")
        self.table = W.HTML()
        self.table.add_class("wb-table")
        plots = W.Box([self.throughput, self.host_memory, self.gpu_memory, self.pareto],
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
                for img in (self.throughput, self.host_memory, self.gpu_memory, self.pareto):
                    img.layout.display = "none"
                self.recommendation.value = ""
                return
            self.throughput.value = figure_png(lambda ax: plots.throughput_vs_batch(df, ax=ax))
            self.throughput.layout.display = None
            self._decide(df, **decide)

    def update_decision(self, **decide: Any) -> None:
        """Budgets or objective changed: re-decide and re-draw what depends on them only."""
        with self._lock:
            if self.df is not None and not self.df.empty:
                self._decide(self.df, **decide)

    def _decide(self, df: pd.DataFrame, *, host_budget_bytes: int | None = None,
                gpu_budget_bytes: int | None = None, objective: str = "throughput",
                margin: float = 0.1) -> None:
        from workbench import analysis
        from workbench.render import plots

        rec = analysis.recommend(df, host_budget_bytes=host_budget_bytes, gpu_budget_bytes=gpu_budget_bytes,
                                 objective=objective, margin=margin)
        self.decision = rec
        self.recommendation.value = recommendation_html(rec, host_budget_bytes, gpu_budget_bytes)
        self.host_memory.value = figure_png(
            lambda ax: plots.memory_vs_batch(df, ax=ax, kind="host", budget_bytes=host_budget_bytes))
        self.host_memory.layout.display = None
        if has_gpu_figures(df):
            self.gpu_memory.value = figure_png(
                lambda ax: plots.memory_vs_batch(df, ax=ax, kind="gpu", budget_bytes=gpu_budget_bytes))
            self.gpu_memory.layout.display = None
            self.gpu_note.value = ""
        else:
            self.gpu_memory.layout.display = "none"
            self.gpu_note.value = "<i>GPU memory: not available (these trials ran without a GPU)</i>"
        self.pareto.value = figure_png(lambda ax: plots.pareto_plot(df, ax=ax, recommendation=rec))
        self.pareto.layout.display = None


def recommendation_html(rec: Any, host_budget: int | None, gpu_budget: int | None) -> str:
    """One line: the recommended setting and why, or why there is none."""
    budgets = [f"host {format_bytes(host_budget)}" if host_budget else "",
               f"GPU {format_bytes(gpu_budget)}" if gpu_budget else ""]
    under = " and ".join(b for b in budgets if b) or "no budget"
    reason = html.escape(str(rec.reason))
    if rec.row is None:
        return f"<b>No recommendation</b> ({under}): {reason}"
    r = rec.row
    setting = f"{r.get('pipeline')} · {r.get('precision')} · batch {int(r.get('batch_size'))}"
    return f"<b>Recommended</b> ({under}): <b>{html.escape(setting)}</b>: {reason}"
