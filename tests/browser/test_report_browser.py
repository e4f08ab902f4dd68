"""The report in a real headless Chromium: offline, plots shown, hostile names shown as text."""

from __future__ import annotations

import pytest

from workbench.render.report import write_report

from ..unit.test_report import HOSTILE, write_results

pytestmark = pytest.mark.browser


def test_report_opens_offline_with_plots_and_hostile_text(browser, tmp_path):
    report = write_report(write_results(tmp_path / "run", model=HOSTILE), host_budget_bytes=1000 * 2**20)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests, failed, dialogs, errors = [], [], [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report.as_uri(), wait_until="load")

    # Nothing but the file itself was requested (plots are inline), nothing failed, no script ran.
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert failed == [] and dialogs == [] and errors == []

    # Every plot decoded and is laid out at a visible size.
    images = page.locator("figure img")
    assert images.count() == 6 + 1  # and peak vs number of images for its one pipeline
    for i in range(images.count()):
        img = images.nth(i)
        img.scroll_into_view_if_needed()
        assert img.is_visible()
        natural = img.evaluate("el => [el.complete, el.naturalWidth, el.naturalHeight]")
        assert natural[0] and natural[1] >= 600 and natural[2] >= 350, natural
        box = img.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150

    # The hostile model name is text on the page, not markup.
    assert page.locator("script").count() == 0
    assert HOSTILE in page.locator("h1").inner_text()
    assert HOSTILE in page.locator("#results").inner_text()
    assert page.locator("#recommendation .choice").inner_text() == "batch 64, mixed_bfloat16, in_memory"
    page.close()
