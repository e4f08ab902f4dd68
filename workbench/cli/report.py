"""``workbench report``: a standalone HTML report of a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.analysis import OBJECTIVES
from workbench.cli.options import add_target_option, optional_bytes, parse_margin
from workbench.config import parse_target_images
from workbench.errors import ConfigError


def prepare_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", help="a results folder (holding results.jsonl)")
    p.add_argument("-o", "--output", default=None, help="the HTML file to write (default RESULTS/report.html)")
    p.add_argument("--host-budget", default=None, help="host budget for the recommendation, e.g. 2GB (default: the sweep's)")
    p.add_argument("--gpu-budget", default=None, help="GPU budget for the recommendation, e.g. 8GB (default: the sweep's)")
    p.add_argument("--objective", default="throughput", choices=tuple(OBJECTIVES),
                   help="what the recommendation optimises (default %(default)s)")
    p.add_argument("--margin", default="10%", help="headroom kept under the budget (default %(default)s)")
    p.add_argument("--title", default=None, help="the report's title")
    add_target_option(p)


def run(args: argparse.Namespace) -> int:
    from workbench.render.report import write_report

    target = parse_target_images(args.target_images)  # a malformed target stops here, in one line
    results = Path(args.results)
    if not results.is_dir():
        raise ConfigError(f"results folder {args.results!r} does not exist: give the --out folder of a sweep or search")
    path = write_report(
        results, args.output,
        host_budget_bytes=optional_bytes(args.host_budget), gpu_budget_bytes=optional_bytes(args.gpu_budget),
        objective=args.objective, margin=parse_margin(args.margin), title=args.title, target_images=target,
    )
    print(f"report: {path}")
    return 0
