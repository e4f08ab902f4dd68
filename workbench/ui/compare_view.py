"""The panel's comparison of several results folders: what ``workbench compare`` writes, live.

**Open results** with folders under *compare with* loads them through
:func:`workbench.analysis.compare.load_comparison` (the CLI's loader: one DataFrame with ``run``
and ``machine`` columns, refused when the runs share no finished setting) and shows the runs
and their machines, the sweep settings that differ, the settings every run measured side by
side, the comparison page's two plots (one colour per run) and every trial. Its own small view,
beside :class:`~workbench.ui.results_view.ResultsView`, so neither branches on a mode; it owns
the *compare with* box and the one-line message beside it.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import ipywidgets as W

from workbench.analysis.compare import Comparison, load_comparison
from workbench.errors import ConfigError, WorkbenchError
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

T = TypeVar("T")


def split_folders(text: str) -> list[str]:
    """The folders typed into *compare with*: one per line, or several on a line separated by
    commas; blanks dropped. A line that names an existing folder is kept whole, so a folder
    whose name holds a comma can be typed on a line of its own. A line split at its commas must
    name existing folders: otherwise a :class:`ConfigError` names the one missing (one line)."""
    folders: list[str] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line:
            continue
        if "," not in line or Path(line).is_dir():
            folders.append(line)  # a missing folder without a comma: the loader says which, and why
            continue
        parts = [part.strip() for part in line.split(",") if part.strip()]
        for part in parts:
            if not Path(part).is_dir():
                raise ConfigError(f"compare with: there is no folder {part!r} (the line {line!r} names no folder, "
                                  "so it was read as folders separated by commas): correct that path")
        folders += parts
    return folders


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
        self.folders = W.Textarea(placeholder="other results folders, one per line: Open results shows "
                                              "them beside the results folder", description="compare with",
                                  rows=2, style={"description_width": "90px"}, layout=W.Layout(width="420px"))
        self.message = W.HTML()
        self.folders.add_class("wb-compare-with")
        self.message.add_class("wb-compare-message")

    def others(self) -> list[str]:
        """The folders under *compare with* (see :func:`split_folders`); a typing mistake is also
        shown beside the box."""
        return self._said(lambda: split_folders(self.folders.value))

    def load(self, folders: Sequence[str | os.PathLike[str]]) -> Comparison:
        """Load the folders with the CLI's loader (:func:`load_comparison`); a bad folder, or runs
        that share no finished setting, raises and is shown beside the box (nothing is drawn)."""

        def compare() -> Comparison:
            if len(folders) < 2:
                raise WorkbenchError("comparing needs the results folder and one or more folders under "
                                     "'compare with': fill in the results folder")
            return load_comparison(folders)

        return self._said(compare)

    def _said(self, action: Callable[[], T]) -> T:
        """``action()``; its one-line error is shown beside the box too (and raised)."""
        try:
            result = action()
        except WorkbenchError as exc:
            self.message.value = f"<span class='wb-error' style='color:#b00020'>{html.escape(str(exc))}</span>"
            raise
        self.message.value = ""
        return result

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
