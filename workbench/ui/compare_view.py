"""The panel's comparison of several results folders: what ``workbench compare`` writes, live.

**Open results** with folders under *compare with* loads them through
:func:`workbench.analysis.compare.load_comparison` (the CLI's loader: one DataFrame with ``run``
and ``machine`` columns, refused when the runs share no finished setting) and shows the runs
and their machines, the sweep settings that differ, the settings every run measured side by
side, the comparison page's two plots (one colour per run) and every trial. Its own small view,
beside :class:`~workbench.ui.results_view.ResultsView`, so neither branches on a mode.
"""

from __future__ import annotations

import re

import ipywidgets as W

from workbench.analysis.compare import Comparison
from workbench.render.columns import PANEL
from workbench.render.compare_report import (
    PLOTS,
    all_trials,
    common_table,
    compare_vs_batch,
    runs_rows,
)
from workbench.render.figures import PANEL_DPI, PANEL_SIZE, figure_png
from workbench.render.templating import render


def split_folders(text: str) -> list[str]:
    """The folders typed into *compare with*: one per line or separated by commas, blanks dropped."""
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


def comparison_html(cmp: Comparison) -> str:
    """The runs, the settings that differ, the side-by-side table and every trial (escaped by the template)."""
    return render("panel_compare.html", runs=runs_rows(cmp), differences=cmp.differences,
                  common=common_table(cmp), trials=all_trials(cmp, PANEL))


class CompareView:
    """Several runs side by side; hidden until :meth:`show`, hidden again by :meth:`hide`."""

    def __init__(self) -> None:
        self.plots: dict[str, W.Image] = {}
        for _caption, column in PLOTS:
            img = W.Image(format="png", layout=W.Layout(width="414px"))
            img.add_class(f"wb-compare-plot-{column.split('_')[0]}")  # wb-compare-plot-throughput, -host
            self.plots[column] = img
        self.summary = W.HTML()
        self.summary.add_class("wb-compare")
        box = W.Box(list(self.plots.values()), layout=W.Layout(flex_flow="row wrap"))
        self.widget = W.VBox([box, self.summary], layout=W.Layout(display="none"))
        self.comparison: Comparison | None = None

    def show(self, cmp: Comparison) -> None:
        """Draw a comparison: the plots the comparison page draws, at the panel's size, and the tables."""
        for column, img in self.plots.items():
            img.value = figure_png(compare_vs_batch, cmp.df, size=PANEL_SIZE, dpi=PANEL_DPI, column=column)
        self.summary.value = comparison_html(cmp)
        self.comparison = cmp
        self.widget.layout.display = None

    def hide(self) -> None:
        """Back to one folder (a sweep writes, or one folder is opened)."""
        self.comparison = None
        self.widget.layout.display = "none"
