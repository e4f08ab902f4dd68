"""One way to turn a plot into PNG bytes, for the report (inline ``data:`` URI) and the panel
(``Image`` widgets).

Figures are :class:`matplotlib.figure.Figure` objects on the Agg canvas, never pyplot: the panel
draws from the sweep's thread, and pyplot's global figure state is not safe there.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

REPORT_SIZE = (6.4, 4.0)  # inches; at 100 dpi the report's 640 x 400 images
PANEL_SIZE = (4.6, 3.4)  # at PANEL_DPI the panel's 414 px wide images
PANEL_DPI = 90


def figure_png(plot: Callable[..., Axes], df: pd.DataFrame, *, size: tuple[float, float] = REPORT_SIZE,
               dpi: int = 100, **options: Any) -> bytes:
    """Draw ``plot(df, ax=..., **options)`` on a fresh figure and return it as PNG bytes.

    The PNG carries no software or date stamp, so the same data gives the same bytes.
    """
    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    plot(df, ax=fig.add_subplot(), **options)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI, to inline an image in a standalone page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
