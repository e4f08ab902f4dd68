"""``workbench sweep``: run every combination of the chosen axes, one process per trial."""

from __future__ import annotations

import argparse

from tqdm import tqdm

from workbench.cli.options import (
    add_executor_options,
    add_sweep_axes,
    add_trial_options,
    executor,
    sweep_config,
)
from workbench.engine.runner import TrialEvent, run_sweep
from workbench.render.table import results_table
from workbench.results import load_results


def prepare_parser(p: argparse.ArgumentParser) -> None:
    add_trial_options(p)
    add_sweep_axes(p)
    add_executor_options(p)
    p.add_argument("--retry-failed", action="store_true", help="run failed trials again instead of keeping them")


def run(args: argparse.Namespace) -> int:
    sweep = sweep_config(args)  # validates everything before any trial starts
    runs_on = executor(args)
    from workbench.plan import expand

    total = len(expand(sweep))
    with tqdm(total=total, unit="trial", dynamic_ncols=True) as bar:
        def progress(event: TrialEvent) -> None:
            if event.kind == "start":
                bar.set_description(f"{event.trial.pipeline} {event.trial.precision} b{event.trial.batch_size}")
            else:
                bar.update(1)
                if event.result is not None and not event.result.ok:
                    bar.write(f"{event.trial.describe()}: {event.result.status}: {event.result.error}")

        run_sweep(sweep, args.out, progress=progress, retry_failed=args.retry_failed, executor=runs_on)
    df = load_results(args.out)
    print(results_table(df))
    print(f"\nresults: {args.out}/results.jsonl")
    return 0
