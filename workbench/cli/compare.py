"""``workbench compare``: several results folders side by side in one HTML page."""

from __future__ import annotations

import argparse


def prepare_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", help="two or more results folders (each holding results.jsonl)")
    p.add_argument("-o", "--output", default=None, help="the HTML file to write (default ./compare.html)")
    p.add_argument("--title", default=None, help="the page's title")


def run(args: argparse.Namespace) -> int:
    from workbench.render.compare_report import write_compare_report

    path, cmp = write_compare_report(args.results, args.output, title=args.title)
    for difference in cmp.differences:
        print(f"note: settings differ: {difference}")
    print(f"{len(cmp.common)} setting(s) measured by every run; comparison: {path}")
    return 0
