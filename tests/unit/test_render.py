"""The one column spec: the terminal table, the report's table and the panel's table show the
same strings for the same trial; user strings are escaped; one figure_png for report and panel.

The panel's table is rendered straight from a DataFrame: no trial process is started here.
"""

from __future__ import annotations

import fnmatch
import math
import struct
import subprocess
import sys
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest

from workbench.render import columns, plots
from workbench.render.columns import COLUMNS, PANEL, REPORT, TERMINAL, shown
from workbench.render.figures import PANEL_DPI, PANEL_SIZE, data_uri, figure_png
from workbench.render.report import build_report
from workbench.render.table import results_table
from workbench.results import load_results
from workbench.ui.results_view import results_table_html

from .test_analysis import MIB
from .test_plots import sweep_df
from .test_report import ESCAPED, HOSTILE, write_results

ROOT = Path(__file__).resolve().parents[2]


def full_df():
    """sweep_df with every shown figure filled in somewhere (GPU figures are faked: no GPU here)."""
    df = sweep_df()
    ok = df["status"] == "ok"
    df.loc[ok, "host_baseline_bytes"] = 400 * MIB
    df.loc[ok, "gpu_peak_bytes"] = df.loc[ok, "host_peak_bytes"] / 2
    df.loc[ok, "gpu_device_peak_bytes"] = df.loc[ok, "host_peak_bytes"] / 2 + 300 * MIB
    df.loc[ok, "first_batch_s"] = 2.345
    df.loc[ok, "throughput_cv"] = 0.034
    df["unstable"] = [False if good else None for good in ok]
    df["host_creeping"] = [False if good else None for good in ok]
    df.loc[df.index[5], "host_creeping"] = True  # one setting whose memory kept growing over its passes
    df["repeat"] = 0  # load_results always has it: which run of the setting
    return df


class Tables(HTMLParser):
    """Every <table> of a page as {class: [[cell text, ...] per row]}, entities decoded."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._rows: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._rows = self.tables.setdefault(dict(attrs).get("class") or "", [])
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._rows is not None:
            self._rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._rows = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_table(page: str, css_class: str) -> list[dict[str, str]]:
    parser = Tables()
    parser.feed(page)
    head, *rows = parser.tables[css_class]
    return [dict(zip(head, row, strict=True)) for row in rows]


def terminal_table(text: str, n_rows: int) -> list[dict[str, str]]:
    """Cut each line at the column spans the dashed line gives (cells may hold single spaces)."""
    lines = text.splitlines()
    spans, pos = [], 0
    for dashes in lines[1].split("  "):
        spans.append((pos, pos + len(dashes)))
        pos += len(dashes) + 2
    head, *rows = ([line[a:b].strip() for a, b in spans] for line in [lines[0], *lines[2:2 + n_rows]])
    return [dict(zip(head, row, strict=True)) for row in rows]


def test_terminal_report_and_panel_show_the_same_strings():
    df = full_df()
    term = terminal_table(results_table(df), len(df))
    report = html_table(build_report(df), "results")
    panel = html_table(results_table_html(df), "wb-results")
    assert len(term) == len(report) == len(panel) == len(df) == 9
    assert list(term[0]) == [c.label for c in shown(df, TERMINAL)]
    # The report shows every column (but one backend's column, and PyTorch's extra figure, here absent).
    assert list(report[0]) == [c.label for c in COLUMNS if not (c.only_if_varied or c.only_if_measured)]
    assert list(panel[0]) == [c.label for c in shown(df, PANEL)]
    for t, r, p in zip(term, report, panel, strict=True):
        assert t == {k: r[k] for k in t}
        assert p == {k: r[k] for k in p}
    # batch_loop · mixed_bfloat16 at batch 64: 1350 img/s, p50 64/900/1.5 s, p99 2*64/900 s.
    row = report[5]
    assert (row["pipeline"], row["batch"], row["status"]) == ("batch_loop", "64", "ok")
    assert row["throughput img/s"] == "1,350.0"
    assert (row["p50 ms"], row["p90 ms"], row["p99 ms"]) == ("47.4", "71.1", "142.2")
    assert (row["host baseline"], row["host peak"], row["GPU peak"]) == ("400.00 MiB", "740.00 MiB", "370.00 MiB")
    assert row["GPU device peak"] == "670.00 MiB" and row["first batch s"] == "2.35"
    assert (row["accuracy %"], row["top-1 agree %"], row["drift"]) == ("88.0", "98.0", "0.01")
    assert row["error"] == "" and report[0]["drift"] == "0"  # float32 against itself: 0, measured
    assert (row["run"], row["spread %"], row["unstable"], row["creeps"]) == ("1", "3.4", "no", "yes")
    assert report[0]["creeps"] == "no"
    # The out-of-memory trial measured nothing: n/a, never 0.
    oom = report[6]
    assert oom["status"] == "oom" and oom["error"] == "oom here"
    assert {oom[c.label] for c in COLUMNS if not c.is_text and c.name not in ("batch_size", "repeat") and c.label in oom} == {"n/a"}
    assert oom["unstable"] == oom["creeps"] == "n/a"


def test_missing_figures_are_na_and_small_times_keep_their_digits():
    for column in COLUMNS:
        expected = "" if column.name == "error" else "n/a"
        assert column.format(math.nan) == column.format(None) == expected, column.name
    p50 = next(c for c in COLUMNS if c.name == "latency_p50_s")
    assert [p50.format(s) for s in (0.000051, 0.00123, 0.0123, 1.2345)] == ["0.051", "1.23", "12.3", "1,234.5"]
    error = next(c for c in COLUMNS if c.name == "error")
    assert error.format("first line\n" + "x" * 500) == "first line"
    assert len(error.format("y" * 500)) == columns.ERROR_CHARS


def test_a_hostile_model_name_is_escaped_in_the_panel_and_the_report(tmp_path):
    df = load_results(write_results(tmp_path / "run"))  # model and errors hold HTML
    panel = results_table_html(df)
    report = build_report(df)
    for page in (panel, report):
        assert HOSTILE not in page and "<script" not in page.lower() and "<b>hard</b>" not in page
        assert f"killed &lt;b&gt;hard&lt;/b&gt; while loading {ESCAPED}" in page
    assert [row["model"] for row in html_table(report, "results")] == [HOSTILE] * 8  # decoded: the text itself
    errors = [row["error"] for row in html_table(panel, "wb-results")]
    assert errors.count(f"killed <b>hard</b> while loading {HOSTILE}") == 2  # decoded: the text itself


def test_panel_table_marks_failed_rows_and_says_when_empty():
    html = results_table_html(sweep_df())
    assert html.count('<tr class="status-ok">') == 6 and html.count('<tr class="status-oom">') == 1
    assert results_table_html(sweep_df().iloc[:0]) == "<i>no trials yet</i>"


def test_unknown_view_is_refused():
    with pytest.raises(ValueError, match="view 'pdf'"):
        shown(sweep_df(), "pdf")
    # The report shows every column, but for those that say nothing here: one backend, one dataset
    # size, no PyTorch figure.
    quiet = {c.name for c in COLUMNS if c.only_if_varied or c.only_if_measured}
    assert quiet == {"backend", "images", "gpu_reserved_peak_bytes"}
    assert {c.name for c in shown(full_df(), REPORT)} == {c.name for c in COLUMNS} - quiet


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", png[16:24])


def test_one_figure_png_for_report_and_panel():
    df = sweep_df()
    report = figure_png(plots.throughput_vs_batch, df)
    assert png_size(report) == (640, 400)
    panel = figure_png(plots.memory_vs_batch, df, size=PANEL_SIZE, dpi=PANEL_DPI, kind="host", budget_bytes=800 * MIB)
    assert png_size(panel) == (414, 306)
    assert figure_png(plots.throughput_vs_batch, df) == report  # no date stamp: same data, same bytes
    assert data_uri(b"\x89PNG") == "data:image/png;base64,iVBORw=="


def test_figures_never_touch_pyplot():
    code = ("import sys; from tests.unit.test_plots import sweep_df; from workbench.render import plots;"
            "from workbench.render.figures import figure_png; figure_png(plots.pareto_plot, sweep_df());"
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_every_template_is_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    packaged = patterns["workbench.render"]
    templates = resources.files("workbench.render") / "templates"
    names = sorted(p.name for p in templates.iterdir() if p.is_file())
    assert {"report_page.html", "results_table.html", "panel_table.html", "docs_page.html",
            "docs_index.html", "docs.css", "report.css"} <= set(names)
    assert all(any(fnmatch.fnmatch(f"templates/{n}", pat) for pat in packaged) for n in names)


def test_the_recommendation_warns_when_the_chosen_setting_creeps():
    from workbench.analysis import recommend

    df = full_df()
    df["host_creep_bytes_per_pass"] = float("nan")
    df["host_creeping"] = df["host_creeping"].map(lambda v: False if v is True else v)
    best = df["throughput_ips"].astype(float).idxmax()
    quiet = recommend(df)
    assert not any("kept growing" in n for n in quiet.notes)
    df.loc[best, ["host_creeping", "host_creep_bytes_per_pass"]] = [True, 3 * MIB]
    rec = recommend(df)
    assert rec.row is not None and rec.row["batch_size"] == df.loc[best, "batch_size"]
    assert any("kept growing over the timed passes (3.00 MiB a pass)" in n for n in rec.notes), rec.notes
