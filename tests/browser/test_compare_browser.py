"""The panel's comparison in a real JupyterLab, in headless Chromium: two results folders typed
into **Open results** and *compare with*, shown side by side.

The folders are real results folders written beforehand with ResultStore (as a sweep on two
machines leaves them, hostnames differing; no trial runs here), one of them named with a comma.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..unit.test_compare import write_run
from .test_quickstart_browser import open_panel, set_text

pytestmark = pytest.mark.browser


def test_two_folders_open_side_by_side(page, lab):
    write_run(lab.root / "runs" / "laptop", "laptop", speed=10.0)
    write_run(lab.root / "runs" / "server, rack 2", "server", speed=30.0, batches=(1, 16, 64, 128))
    open_panel(page, lab, "compare.ipynb")

    set_text(page, ".wb-out", "runs/laptop")  # the kernel's folder is the notebook's: lab.root
    page.locator(".wb-compare-with textarea").fill("runs/server, rack 2")  # one line: the folder's whole name
    page.click("button.wb-open")
    expect(page.locator(".wb-status")).to_contain_text(
        "opened 2 folders: 9 trial(s) on 2 machine(s), 3 setting(s) measured by every run")

    # Both runs, with their machines, in place of one folder's view.
    runs = page.locator(".wb-compare-runs table tbody tr")
    expect(runs).to_have_count(2)
    assert [runs.nth(i).locator("td").first.inner_text() for i in range(2)] == [
        "laptop (laptop)", "server, rack 2 (server)"]
    assert runs.nth(1).locator("td").nth(1).inner_text() == "runs/server, rack 2"
    expect(page.locator(".wb-compare-note")).to_contain_text("settings differ: batch_sizes: 1, 16, 64 in laptop")
    expect(page.locator(".wb-table")).to_be_hidden()

    # The side-by-side table: one column per run, a row per setting both measured ok (1, 16, 64).
    common = page.locator(".wb-compare-common table")
    heads = common.locator("thead th").all_inner_texts()
    assert sum(h.endswith(": laptop (laptop)") for h in heads) == 2, heads  # throughput and peak
    assert sum(h.endswith(": server, rack 2 (server)") for h in heads) == 2, heads
    rows = common.locator("tbody tr")
    expect(rows).to_have_count(3)
    assert rows.nth(2).locator("td").all_inner_texts()[-4:] == ["640.0", "1,920.0", "664.00 MiB", "664.00 MiB"]

    # The comparison's two plots, drawn.
    for plot in ("throughput", "host"):
        img = page.locator(f"img.wb-compare-plot-{plot}")
        expect(img).to_be_visible()
        assert img.evaluate("el => el.complete && el.naturalWidth > 100"), f"{plot} plot did not render"
    expect(page.locator("button.wb-report")).to_be_enabled()
    expect(page.locator("button.wb-script")).to_be_disabled()

    # A misspelt comma folder: one line beside the box naming the missing folder; the comparison stays.
    page.locator(".wb-compare-with textarea").fill("runs/server, rack 3")
    page.click("button.wb-open")
    expect(page.locator(".wb-compare-message")).to_have_text(
        "compare with: there is no folder 'runs/server' (the line 'runs/server, rack 3' names no folder, "
        "so it was read as folders separated by commas): correct that path")
    expect(rows).to_have_count(3)
