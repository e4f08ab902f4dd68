"""A sweep run from the command line: a progress bar while it runs, the results table after.

Shared by ``workbench sweep`` and ``workbench demo``, so one command never calls another.
"""

from __future__ import annotations

import os

from tqdm import tqdm

from workbench.config import SweepConfig
from workbench.engine.executors import Executor
from workbench.engine.runner import TrialEvent, run_sweep
from workbench.plan import expand
from workbench.render.table import results_table
from workbench.results import load_results


def run_sweep_with_progress(sweep: SweepConfig, out: str | os.PathLike[str], *, retry_failed: bool = False,
                            allow_other_machine: bool = False, executor: Executor | None = None) -> None:
    """Run ``sweep`` into ``out`` with a progress bar (failed trials are written under it as they
    end), then print the results table and where the results are."""
    total = len(expand(sweep))
    bars: list[tqdm] = []  # made at the first trial: an input refused before that prints its line alone

    def progress(event: TrialEvent) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="trial", dynamic_ncols=True))
        bar = bars[0]
        if event.kind == "start":
            bar.set_description(f"{event.trial.pipeline} {event.trial.precision} b{event.trial.batch_size}")
        else:
            bar.update(1)
            if event.result is not None and not event.result.ok:
                bar.write(f"{event.trial.describe()}: {event.result.status}: {event.result.error}")

    try:
        run_sweep(sweep, out, progress=progress, retry_failed=retry_failed,
                  allow_other_machine=allow_other_machine, executor=executor)
    finally:
        for bar in bars:
            bar.close()
    print(results_table(load_results(out)))
    print(f"\nresults: {out}/results.jsonl")
