"""``workbench demo``: the default demo sweep, then its report.

The demo model (a small CNN trained here on real handwritten digits) over the demo images,
through the four pipelines and three precisions at a few batch sizes: 36 trials, a few
minutes on a laptop CPU. Re-running resumes; the report is rewritten each time.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from workbench.cli.options import add_sweep_axes, add_target_option, add_trial_options, sweep_config
from workbench.cli.progress import print_target_answer, run_sweep_with_progress
from workbench.config import PIPELINES, PRECISIONS, SweepConfig, format_bytes
from workbench.results import is_ok, load_results

DEMO_MODEL = "demo"
DEMO_DATA = "demo:600"  # the held-out images: accuracy on them means something
DEMO_BATCHES = (8, 64, 512)
DEMO_OUT = "runs/demo"


def prepare_parser(p: argparse.ArgumentParser) -> None:
    # The sweep's options with the demo's defaults: nothing is required.
    add_trial_options(p, model=DEMO_MODEL, data=DEMO_DATA, out=DEMO_OUT)
    add_sweep_axes(p, batch_sizes=DEMO_BATCHES, precisions=PRECISIONS, pipelines=PIPELINES)
    add_target_option(p)
    p.add_argument("--report", default=None, help="where to write the report (default OUT/report.html)")


def run(args: argparse.Namespace) -> int:
    from workbench.engine.sweep_sizes import plan_sizes
    from workbench.plan import expand
    from workbench.render.report import write_report

    sweep = sweep_config(args)  # validates everything before any trial starts
    plan = plan_sizes(sweep)  # made once for the whole run: making it reads the data
    expand(sweep, plan)  # ... and every trial (dataset sizes included) before the demo model is trained
    print(f"demo sweep: {sweep.model.label} | {sweep.data.label} | pipelines {', '.join(sweep.pipelines)} | "
          f"precisions {', '.join(sweep.precisions)} | batch sizes {', '.join(map(str, sweep.batch_sizes))}",
          flush=True)
    _prepare(sweep)
    t0 = time.monotonic()
    run_sweep_with_progress(sweep, args.out, size_plan=plan)
    print_target_answer(sweep, args.out)
    budget, note = sweep.budget.host_bytes, None
    if not budget:
        budget = teaching_budget(load_results(args.out))
        note = (f"The demo chose this budget ({format_bytes(budget)}) between the smallest and largest "
                "peaks measured, so that some settings fit and some do not; give --host-budget for yours.")
        print(f"\n{note}")
    path = write_report(args.out, args.report, host_budget_bytes=budget, budget_note=note,
                        target_images=sweep.target_images)
    print(f"\ndemo finished in {time.monotonic() - t0:.0f} s")
    print(f"report: {path}  (open it in a browser; it works offline)")
    return 0


def _prepare(sweep: SweepConfig) -> None:
    """Train the demo model / build the demo data once, before the first trial (the sweep
    would do it too; doing it here first says why the first run waits)."""
    from workbench.engine.prepare import prepare

    print("preparing the demo model and data (trained once, then cached) ...", flush=True)
    prepare(sweep.model, sweep.data)


def teaching_budget(df: pd.DataFrame, *, at: float = 0.6, margin: float = 0.1) -> int | None:
    """A host budget for the demo's report when none was given: its limit (after the margin)
    sits ``at`` of the way from the smallest to the largest peak measured, so the report shows
    settings on both sides of it. None when fewer than two peaks were measured."""
    peaks = df.loc[is_ok(df), "host_peak_bytes"].dropna()
    if len(peaks) < 2 or peaks.max() <= peaks.min():
        return None
    limit = peaks.min() + at * (peaks.max() - peaks.min())
    mib = 2**20
    return int(-(-limit / (1 - margin) // mib) * mib)  # rounded up to a whole MiB
