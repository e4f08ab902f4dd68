"""Command line: ``python -m workbench SUBCOMMAND ...`` (also the ``workbench`` script).

Each subcommand is a small module in :mod:`workbench.cli` with ``prepare_parser(parser)``
and ``run(args) -> int``. ``main(argv)`` maps the workbench's own errors to a one-line message
and exit code 2, so a user's typo never shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from workbench.errors import WorkbenchError

# name -> (module in workbench.cli, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "sweep": ("sweep", "run a sweep of trials and print the results table"),
    "search": ("search", "find the largest batch size that fits a memory budget"),
    "report": ("report", "write a standalone HTML report of a results folder"),
    "demo": ("demo", "run the default demo sweep and write its report"),
    "compare": ("compare", "compare several results folders (machines) in one HTML page"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Measure the memory / speed / accuracy trade-offs of Keras inference.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(f"workbench.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"workbench.cli.{module_name}":
                raise
            continue  # a subcommand not built yet
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.prepare_parser(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
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
