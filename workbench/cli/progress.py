"""A sweep run from the command line: a progress bar while it runs, the results table after,
and the answer at the user's target dataset size.

Shared by ``workbench sweep`` and ``workbench demo``, so one command never calls another.
"""

from __future__ import annotations

import os

from tqdm import tqdm

from workbench.config import SweepConfig, format_bytes
from workbench.engine.executors import Executor
from workbench.engine.runner import TrialEvent, run_sweep
from workbench.engine.sweep_sizes import SizePlan, plan_sizes
from workbench.engine.targets import resolve_target
from workbench.plan import expand
from workbench.render.table import results_table
from workbench.results import load_results


def run_sweep_with_progress(sweep: SweepConfig, out: str | os.PathLike[str], *, retry_failed: bool = False,
                            allow_other_machine: bool = False, executor: Executor | None = None,
                            size_plan: SizePlan | None = None) -> None:
    """Run ``sweep`` into ``out`` with a progress bar (failed trials are written under it as they
    end), then print the results table and where the results are. ``size_plan``: the sweep's
    :func:`~workbench.engine.sweep_sizes.plan_sizes` where the caller already made it."""
    # Made once and handed on (the count, the line below, the runner's trials and header): making
    # it reads the data, and a large folder's scan is worth doing once per sweep.
    plan = plan_sizes(sweep) if size_plan is None else size_plan
    total = len(expand(sweep, plan))
    added = plan.announce()  # the sizes added to measure the N term, said before they run
    if added:
        print(added, flush=True)
    bars: list[tqdm] = []  # made at the first trial: an input refused before that prints its line alone

    def progress(event: TrialEvent) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="trial", dynamic_ncols=True))
        bar = bars[0]
        if event.kind == "start":
            on = f"{event.trial.backend} " if len(sweep.backends) > 1 else ""
            bar.set_description(f"{on}{event.trial.pipeline} {event.trial.precision} b{event.trial.batch_size}")
        else:
            bar.update(1)
            if event.result is not None and not event.result.ok:
                on = f" | {event.trial.backend}" if len(sweep.backends) > 1 else ""
                bar.write(f"{event.trial.describe()}{on}: {event.result.status}: {event.result.error}")

    try:
        run_sweep(sweep, out, progress=progress, retry_failed=retry_failed,
                  allow_other_machine=allow_other_machine, executor=executor, size_plan=plan)
    finally:
        for bar in bars:
            bar.close()
    print(results_table(load_results(out)))
    print(f"\nresults: {out}/results.jsonl")


def print_target_answer(sweep: SweepConfig, out: str | os.PathLike[str]) -> None:
    """After the table: each series' answer at the target size (the sweep's ``target_images``,
    else the full count of a folder or ``.npy``), and the recommendation there under the host
    budget. Nothing for synthetic or demo data without a target."""
    from workbench.analysis import recommend
    from workbench.analysis.target import added_sizes_note, answer_lines

    target, source = resolve_target(sweep.target_images, sweep.data)
    df = load_results(out)
    if target is None or df.empty:
        return
    budget = sweep.budget.host_bytes
    under = f", host budget {format_bytes(budget)}" if budget else ""
    print(f"\nat your target size, {target:,} images ({source}{under}):")
    for line in answer_lines(df, target, host_budget_bytes=budget):
        print(f"  {line}")
    added = added_sizes_note(df)
    if added:
        print(f"  note: {added}")
    if budget:
        print(f"  recommended: {recommend(df, host_budget_bytes=budget, target_images=target).reason}")
