"""Plain-text results table for the terminal (one renderer, shared by the subcommands).

Columns, headings and formats come from :mod:`workbench.render.columns`, the same spec as the
report's and the panel's tables; failed trials are listed underneath with their error.
"""

from __future__ import annotations

import pandas as pd

from workbench.render.columns import TERMINAL, formatted_rows, shown, text


def results_table(df: pd.DataFrame) -> str:
    """The key columns with units, missing figures as ``n/a``, errors listed underneath."""
    if df.empty:
        return "(no trials)"
    columns = shown(df, TERMINAL)
    rows = [[c.label for c in columns], *formatted_rows(df, columns)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    several = "backend" in df.columns and df["backend"].nunique() > 1
    for _, row in df[df["status"].map(text) != "ok"].iterrows():
        on = f"{row['backend']} " if several else ""
        lines.append(f"  {text(row['status'])}: {on}{row['pipeline']} {row['precision']} batch {int(row['batch_size'])}: "
                     f"{row['error']}")
    return "\n".join(lines)
