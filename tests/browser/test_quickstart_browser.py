"""The quickstart notebook in a real JupyterLab, in headless Chromium: run it, use the panel.

Each test opens its own copy of the notebook (a fresh kernel), runs all cells, sets a tiny
configuration in the panel's controls like a user would, and presses the buttons.
"""

from __future__ import annotations

import json
import time

import psutil
import pytest
from playwright.sync_api import expect

from ..helpers import trial_processes

pytestmark = pytest.mark.browser

KERNEL_IDLE = """() => {
  const w = window.jupyterapp && jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""
# Runs code in the notebook's kernel from the page and reports how long the reply took.
KERNEL_ROUND_TRIP = """async (code) => {
  const k = jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const t0 = performance.now();
  const reply = await k.requestExecute({code}).done;
  return [reply.content.status, performance.now() - t0];
}"""


def open_panel(page, lab, name: str) -> None:
    """Open a copy of the quickstart, wait for its kernel, run all cells, wait for the panel."""
    # ?reset: a fresh workspace, so the previous test's notebook (and its panel's widgets,
    # with the same class names) is not restored into a hidden tab
    page.goto(f"{lab.url}/lab/tree/{lab.notebook(name)}?reset")
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    page.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
    expect(page.locator("button.wb-run")).to_be_enabled(timeout=120_000)


def set_text(page, selector: str, value: str) -> None:
    box = page.locator(f"{selector} input")
    box.fill(value)
    box.press("Enter")  # number boxes send their value on Enter or blur


def tiny_config(page, batch_sizes: str, out: str) -> None:
    page.locator(".wb-model select >> visible=true").select_option(label="tiny")
    set_text(page, ".wb-data-count", "64")
    set_text(page, ".wb-batch-sizes", batch_sizes)
    set_text(page, ".wb-out", out)
    n = len(batch_sizes.split(","))
    # The plan line is written by the kernel: it has seen every value once it shows the count.
    expect(page.locator(".wb-plan")).to_contain_text(f"{n} trial{'s' * (n != 1)}:")


def trial_records(path) -> list[dict]:
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r.get("record") == "trial"]


def test_run_sweep_shows_plots_table_and_recommendation(page, lab):
    open_panel(page, lab, "run_sweep.ipynb")
    expect(page.locator(".wb-header")).to_contain_text("GPU:")
    tiny_config(page, "8", "runs/run")
    page.click("button.wb-run")
    expect(page.locator("button.wb-cancel")).to_be_enabled()
    expect(page.locator(".wb-status")).to_contain_text("done: 1 of 1 trials (0 failed", timeout=150_000)

    for plot in ("throughput", "host-memory", "pareto"):
        img = page.locator(f"img.wb-plot-{plot}")
        expect(img).to_be_visible()
        assert img.evaluate("el => el.complete && el.naturalWidth > 100"), f"{plot} plot did not render"
    rows = page.locator(".wb-table table.wb-results tr")
    expect(rows).to_have_count(2)  # heading and the trial
    assert rows.nth(1).inner_text().split("\t")[:4] == ["in_memory", "float32", "8", "ok"]
    expect(page.locator(".wb-recommendation")).to_contain_text("Recommended")
    expect(page.locator("button.wb-run")).to_be_enabled()
    expect(page.locator("button.wb-cancel")).to_be_disabled()
    records = trial_records(lab.root / "runs" / "run" / "results.jsonl")
    assert [(r["batch_size"], r["status"]) for r in records] == [(8, "ok")]
    assert records[0]["throughput_ips"] > 0

    # Export: files next to the results, linked relative to the notebook.
    page.click("button.wb-report")
    page.click("button.wb-csv")
    links = page.locator(".wb-links a")
    expect(links).to_have_count(2)
    assert [links.nth(i).get_attribute("href") for i in range(2)] == ["runs/run/report.html", "runs/run/results.csv"]
    assert "<html" in (lab.root / "runs" / "run" / "report.html").read_text().lower()
    assert len((lab.root / "runs" / "run" / "results.csv").read_text().strip().splitlines()) == 2
    assert lab.api("GET", "/api/contents/runs/run/report.html?content=0")["type"] == "file"

    # A new panel opens the folder: plots and table, nothing run.
    page.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
    expect(page.locator(".wb-table table.wb-results")).to_have_count(0)  # the fresh panel is empty
    set_text(page, ".wb-out", "runs/run")
    page.click("button.wb-open")
    expect(page.locator(".wb-status")).to_contain_text("opened runs/run: 1 trial(s)")
    expect(page.locator(".wb-table table.wb-results tr")).to_have_count(2)
    expect(page.locator("img.wb-plot-throughput")).to_be_visible()
    assert len(trial_records(lab.root / "runs" / "run" / "results.jsonl")) == 1


def test_cancel_stops_a_long_sweep_and_the_kernel_stays_free(page, lab):
    open_panel(page, lab, "cancel.ipynb")
    tiny_config(page, "1,2,4,8,16,32,64", "runs/cancel")
    page.click("button.wb-run")
    expect(page.locator(".wb-status")).to_contain_text("trial 1 of 7 running", timeout=60_000)
    workers = []
    deadline = time.monotonic() + 30
    while not workers and time.monotonic() < deadline:
        workers = trial_processes(lab.process.pid)
        time.sleep(0.1)
    tree = [(p.pid, p.cmdline()[:4]) for p in psutil.Process(lab.process.pid).children(recursive=True)]
    assert workers, f"no trial process started: {tree}"

    # Other code runs in the kernel while the sweep does.
    status, took_ms = page.evaluate(KERNEL_ROUND_TRIP, "import threading; n = threading.active_count()")
    assert status == "ok" and took_ms < 5000, (status, took_ms)

    t0 = time.monotonic()
    page.click("button.wb-cancel")
    expect(page.locator(".wb-status")).to_contain_text("cancelled", timeout=10_000)
    took = time.monotonic() - t0
    assert took < 3.0, f"Cancel took {took:.1f} s in the browser"
    psutil.wait_procs(workers, timeout=2)
    assert trial_processes(lab.process.pid) == []
    expect(page.locator("button.wb-run")).to_be_enabled()
    expect(page.locator("button.wb-cancel")).to_be_disabled()
    assert len(trial_records(lab.root / "runs" / "cancel" / "results.jsonl")) < 7
