"""``workbench sweep``: run every combination of the chosen axes, one process per trial."""

from __future__ import annotations

import argparse

from workbench.cli.options import (
    add_executor_options,
    add_sweep_axes,
    add_target_option,
    add_trial_options,
    executor,
    sweep_config,
)
from workbench.cli.progress import print_target_answer, run_sweep_with_progress


def prepare_parser(p: argparse.ArgumentParser) -> None:
    add_trial_options(p)
    add_sweep_axes(p)
    add_executor_options(p)
    add_target_option(p)
    p.add_argument("--retry-failed", action="store_true", help="run failed trials again instead of keeping them")


def run(args: argparse.Namespace) -> int:
    sweep = sweep_config(args)  # validates everything before any trial starts
    runs_on = executor(args)
    run_sweep_with_progress(sweep, args.out, retry_failed=args.retry_failed,
                            allow_other_machine=args.allow_other_machine, executor=runs_on)
    print_target_answer(sweep, args.out)
    return 0
