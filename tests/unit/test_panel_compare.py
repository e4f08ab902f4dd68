"""The panel's **Open results** with several folders: the CLI's comparison, in the panel.

Real results folders on disk (written by ResultStore, as a sweep on another machine leaves
them: the hostnames differ), the panel's widgets driven from Python as a browser would.
"""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from workbench.analysis.compare import load_comparison
from workbench.errors import ConfigError
from workbench.ui.compare_view import split_folders

from ..helpers import make_panel, trial_processes
from .test_compare import HOSTILE, write_run


def status_text(wb) -> str:
    """The status line as the user reads it."""
    return html.unescape(re.sub(r"<[^>]+>", "", wb.status.value))


def test_several_folders_open_side_by_side_as_the_cli_loads_them(tmp_path):
    a = write_run(tmp_path / "laptop", "laptop", speed=10.0)
    b = write_run(tmp_path / "server", "server", speed=30.0, batches=(1, 16, 64, 128))
    wb = make_panel(tmp_path, out=str(a))
    wb.compare_with.value = f"{b}\n"
    wb.open_button.click()

    assert status_text(wb) == ("opened 2 folders: 9 trial(s) on 2 machine(s), 3 setting(s) measured by every run; "
                               "1 sweep setting(s) differ (listed below)")
    cmp = wb.comparison
    assert cmp is not None and [r.label for r in cmp.runs] == ["laptop (laptop)", "server (server)"]
    # the very DataFrame `workbench compare` builds: every trial with its run and machine
    pd.testing.assert_frame_equal(cmp.df, load_comparison([a, b]).df)
    assert cmp.df.groupby("run")["machine"].nunique().tolist() == [1, 1] and cmp.df["machine"].nunique() == 2
    # shown in place of one folder's view: the comparison's two plots and its tables
    assert wb.compare.widget.layout.display is None and wb.results.widget.layout.display == "none"
    assert all(bytes(img.value).startswith(b"\x89PNG") for img in wb.compare.plots.values())
    assert list(wb.compare.plots) == ["throughput_ips", "host_peak_bytes"]
    page = wb.compare.summary.value
    assert "settings differ: batch_sizes: 1, 16, 64 in laptop (laptop), 1, 16, 64, 128 in server (server)" in page
    common = page.split("wb-compare-common")[1].split("wb-compare-trials")[0]
    # batch 64 side by side: 640 img/s on the laptop, 1,920 on the server, 664 MiB peak on both
    assert ('<td class="num">64</td><td class="num">640.0</td><td class="num">1,920.0</td>'
            '<td class="num">664.00 MiB</td><td class="num">664.00 MiB</td>') in common
    assert common.count("<tr class=\"status-ok\">") == 3  # batch 1, 16, 64: not 128 (one run), not 256 (OOM)
    assert "All 9 trials" in page and page.count('<tr class="status-oom"><td>laptop (laptop)</td>') == 1
    # a comparison has no one recommendation: reports and CSV yes, a job script no
    assert not wb.report_button.disabled and not wb.csv_button.disabled and wb.script_button.disabled
    assert not wb.jobs.busy and trial_processes() == []


def test_exports_write_the_cli_comparison_page_next_to_the_first_folder(tmp_path):
    a = write_run(tmp_path / "a", "h1", 10.0)
    b = write_run(tmp_path / "b", "h2", 20.0, batches=(1, 16))
    wb = make_panel(tmp_path)
    wb.title.value = "two boxes <b>"
    wb.open([a, b])
    assert wb.form.out.value == str(a) and wb.compare_with.value == str(b)

    wb.report_button.click()
    page = (a / "compare.html").read_text()
    assert "<title>two boxes &lt;b&gt;</title>" in page and "a (h1)" in page and "b (h2)" in page
    assert page.count('src="data:image/png;base64,') == 2
    assert "comparison report: <a href=" in wb.links.value and "compare.html" in wb.links.value
    assert not (a / "report.html").exists()  # not one folder's report

    wb.csv_button.click()
    csv = pd.read_csv(a / "compare.csv")
    assert len(csv) == 4 + 3 and list(csv.columns[:1]) == ["run"] and "machine" in csv.columns
    assert csv.groupby("run")["machine"].nunique().to_dict() == {"a (h1)": 1, "b (h2)": 1}
    assert "compare.csv" in wb.links.value


def test_a_bad_folder_among_several_is_one_line_and_nothing_is_lost(tmp_path):
    a = write_run(tmp_path / "a", "h1", 10.0)
    b = write_run(tmp_path / "b", "h2", 20.0)
    missing = tmp_path / "nowhere"
    wb = make_panel(tmp_path, out=str(a))
    wb.open_button.click()
    shown = wb.results.table.value
    assert status_text(wb) == f"opened {a}: 4 trial(s)"

    typed = f"{b}, {missing}"  # no folder of that whole name: read as two, one of them missing
    wb.compare_with.value = typed
    wb.open_button.click()
    said = (f"error: compare with: there is no folder '{missing}' (the line '{typed}' names no folder, "
            "so it was read as folders separated by commas): correct that path")
    assert status_text(wb) == said and "\n" not in said
    assert html.unescape(re.sub(r"<[^>]+>", "", wb.compare_message.value)) == said.removeprefix("error: ")
    assert wb.details.value == ""  # no traceback
    # what was shown stays shown, and what was typed stays typed
    assert wb.comparison is None and wb.results.table.value == shown and wb.results.widget.layout.display is None
    assert wb.compare_with.value == typed and wb.form.out.value == str(a)
    assert not wb.report_button.disabled and not wb.script_button.disabled  # one folder's exports still work

    wb.compare_with.value = str(b)  # fixed: the comparison, and the message goes
    wb.open_button.click()
    assert wb.comparison is not None and len(wb.comparison.runs) == 2 and wb.compare_message.value == ""

    # Runs that share no finished setting: the CLI's refusal, and the comparison shown stays.
    c = write_run(tmp_path / "c", "h3", 10.0, batches=(8,))
    wb.compare_with.value = str(c)
    wb.open_button.click()
    assert "share no setting" in status_text(wb) and "nothing to compare" in wb.compare_message.value
    assert wb.comparison is not None and [r.path for r in wb.comparison.runs] == [str(a), str(b)]
    wb.form.out.value = ""  # one folder in all: nothing to compare it with
    wb.compare_with.value = str(b)
    wb.open_button.click()
    assert "fill in the results folder" in wb.compare_message.value and len(wb.comparison.runs) == 2


def test_one_folder_opens_as_before_and_a_sweep_shows_its_own_folder_again(tmp_path):
    a = write_run(tmp_path / "a", "h1", 10.0)
    b = write_run(tmp_path / "b", "h2", 20.0)
    c = write_run(tmp_path / "c", "h3", 30.0)
    wb = make_panel(tmp_path, out=str(a))
    wb.compare_with.value = f"{b},{c}"  # commas, too
    wb.open_button.click()
    assert wb.comparison is not None and [r.label for r in wb.comparison.runs] == ["a (h1)", "b (h2)", "c (h3)"]

    wb.open(b)  # one path: that folder alone, exactly as before
    assert wb.comparison is None and wb.compare_with.value == "" and wb.form.out.value == str(b)
    assert status_text(wb) == f"opened {b}: 4 trial(s)" and wb.results.widget.layout.display is None
    assert wb.compare.widget.layout.display == "none" and len(wb.results.df) == 4
    assert "machine" in wb.results.df.columns and not wb.script_button.disabled

    wb.open([a, c])
    wb.show_results(a)  # what a sweep's progress does: its own folder replaces the comparison
    assert wb.comparison is None and wb.results.widget.layout.display is None

    wb.compare_with.value = "  \n , "  # blanks only: one folder
    wb.form.out.value = str(tmp_path / "empty")
    wb.open_button.click()
    assert "no results in" in wb.form.messages["out"].value and wb.comparison is None


def test_user_strings_in_the_comparison_are_escaped(tmp_path):
    a = write_run(tmp_path / "a", "laptop", 10.0, model=HOSTILE)
    b = write_run(tmp_path / "b", HOSTILE, 30.0, model=HOSTILE)
    wb = make_panel(tmp_path)
    wb.open([a, b])
    page = wb.compare.summary.value
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_folder_whose_name_holds_a_comma_is_typed_on_its_own_line(tmp_path):
    a = write_run(tmp_path / "laptop", "laptop", speed=10.0)
    b = write_run(tmp_path / "server, rack 2", "server", speed=30.0)  # a real folder, named with a comma
    c = write_run(tmp_path / "desk", "desk", speed=20.0)
    wb = make_panel(tmp_path, out=str(a))
    wb.compare_with.value = f"{b}\n{c}"
    wb.open_button.click()
    assert [r.path for r in wb.comparison.runs] == [str(a), str(b), str(c)]
    assert [r.label for r in wb.comparison.runs] == ["laptop (laptop)", "server, rack 2 (server)", "desk (desk)"]
    assert status_text(wb).startswith("opened 3 folders: 12 trial(s) on 3 machine(s)")
    assert "server, rack 2 (server)" in wb.compare.summary.value

    # Commas still separate folders on a line that names no folder whole.
    wb.compare_with.value = f"{c}, {a}"
    wb.open_button.click()
    assert [r.path for r in wb.comparison.runs] == [str(a), str(c), str(a)]

    # The comma folder misspelt: the line is read as two folders, and the missing one is named.
    typo = tmp_path / "server, rack 3"
    wb.compare_with.value = str(typo)
    wb.open_button.click()
    missing = str(tmp_path / "server")
    said = (f"compare with: there is no folder '{missing}' (the line '{typo}' names no folder, "
            "so it was read as folders separated by commas): correct that path")
    assert status_text(wb) == f"error: {said}"
    assert html.unescape(re.sub(r"<[^>]+>", "", wb.compare_message.value)) == said
    assert [r.path for r in wb.comparison.runs] == [str(a), str(c), str(a)]  # what was shown stays


def test_split_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b", "c", "d, e", "d"):
        (tmp_path / "runs" / name).mkdir(parents=True)
    assert split_folders("runs/a\n runs/b ,runs/c\n\n,") == ["runs/a", "runs/b", "runs/c"]
    # a whole line naming a folder wins over its commas (runs/d exists too)
    assert split_folders(" runs/d, e \nruns/a,runs/d") == ["runs/d, e", "runs/a", "runs/d"]
    assert split_folders("runs/nowhere\n") == ["runs/nowhere"]  # no comma: the loader names what is missing
    assert split_folders("  ") == []
    with pytest.raises(ConfigError, match=r"^compare with: there is no folder 'runs/x' \(the line 'runs/a, runs/x'"):
        split_folders("runs/b\nruns/a, runs/x")
