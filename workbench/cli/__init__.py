"""Command line: ``python -m workbench COMMAND ...`` (also the ``workbench`` script).

Each command is a small module in :mod:`workbench.cli` with ``prepare_parser(parser)`` and
``run(args) -> int``, listed once in :data:`COMMANDS`. Commands share option helpers
(:mod:`workbench.cli.options`) and the sweep runner (:mod:`workbench.cli.progress`); none
calls another. ``main(argv)`` maps the workbench's own errors to a one-line message and exit
code 2, so a user's typo never shows a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from workbench.cli import compare, demo, report, script, search, sweep
from workbench.errors import WorkbenchError


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one-line help, how to declare its options, how to run it."""

    name: str
    help: str
    prepare_parser: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: tuple[Command, ...] = (
    Command("sweep", "run a sweep of trials and print the results table", sweep.prepare_parser, sweep.run),
    Command("search", "find the largest batch size that fits a memory budget", search.prepare_parser, search.run),
    Command("report", "write a standalone HTML report of a results folder", report.prepare_parser, report.run),
    Command("demo", "run the default demo sweep and write its report", demo.prepare_parser, demo.run),
    Command("compare", "compare several results folders (machines) in one HTML page",
            compare.prepare_parser, compare.run),
    Command("script", "write a standalone Python script that runs the real job for one setting",
            script.prepare_parser, script.run),
)


def build_parser() -> argparse.ArgumentParser:
    """The ``workbench`` parser with every command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Measure the memory / speed / accuracy trade-offs of Keras inference.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.prepare_parser(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``workbench ARGV``; the exit code (2 for a user's error, 130 when interrupted)."""
    from workbench.cli.options import attach_signed_values

    parser = build_parser()
    args = parser.parse_args(attach_signed_values(sys.argv[1:] if argv is None else list(argv)))
    try:
        return int(args._run(args) or 0)
    except WorkbenchError as exc:
        print(f"workbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("workbench: interrupted; finished trials are saved and a re-run resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
