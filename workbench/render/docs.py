"""Executed notebooks as standalone HTML pages that display offline.

    python -m workbench.render.docs notebooks docs/html           # what `make docs` runs
    python -m workbench.render.docs notebooks docs/html --execute always

Each notebook is executed (in a real kernel, through nbclient) when it has cells that never
ran, then rendered with nbconvert's ``basic`` template (cells only) into a page of our own (the
Jinja2 templates ``docs_page.html`` and ``docs_index.html`` in ``templates/``, autoescaped, like
the report): one inline stylesheet, plots as inline PNG, no script at all, so nothing is fetched
from a CDN and nothing is blank offline. Interactive widgets cannot run in a static page: their outputs are
replaced with a note saying so, and the widget state is dropped. An ``index.html`` links the
pages. The source notebooks are never modified.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, WorkbenchError
from workbench.render.templating import render

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("<p class=\"widget-note\">An interactive widget was shown here. A static page cannot run "
               "widgets: open the notebook in Jupyter to use it.</p>")
# What a browser would fetch from elsewhere: an element's source, a stylesheet link, a CSS url or
# import (looked for in tags and style blocks only: a code listing may mention "@import" freely).
_REMOTE = r"""["']?\s*(?:https?:)?//"""
_TAG = re.compile(r"<(?:script|img|link|iframe|source|video|audio|embed|object|input)\b[^>]*>", re.I)
_TAG_REMOTE = re.compile(r"\b(?:src|href|data|srcset|poster)\s*=\s*" + _REMOTE, re.I)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>|\bstyle\s*=\s*\"([^\"]*)\"", re.I | re.S)
_CSS_REMOTE = re.compile(r"url\(\s*" + _REMOTE + r"|@import", re.I)


def _need(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise WorkbenchError(f"rendering notebooks needs {module}: pip install -e '.[notebook]'") from None


def needs_execution(nb: Any) -> bool:
    """True when some code cell never ran (it has no execution count)."""
    return any(c.cell_type == "code" and c.source.strip() and c.get("execution_count") is None for c in nb.cells)


def execute(nb: Any, cwd: Path, *, timeout: int = 600, kernel: str = "python3") -> Any:
    """Run every cell of ``nb`` (in place) in a fresh kernel whose working directory is ``cwd``."""
    _need("nbclient")
    from nbclient import NotebookClient

    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")  # the kernel of the environment running this
    NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def offline_view(nb: Any) -> Any:
    """A copy of ``nb`` fit for a static page: widget outputs become a note, widget state is dropped,
    consecutive printed lines become one block."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged: list[Any] = []
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in output.get("data", {}):
                output["data"] = {"text/html": WIDGET_NOTE}
            last = merged[-1] if merged else None
            if (output.get("output_type") == "stream" and last is not None
                    and last.get("output_type") == "stream" and last.get("name") == output.get("name")):
                last["text"] += output["text"]  # one block for a cell's printed lines, not one per flush
            else:
                merged.append(output)
        cell["outputs"] = merged
    return nb


def title_of(nb: Any, fallback: str) -> str:
    """The notebook's first top-level Markdown heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    return fallback


def render_html(nb: Any, title: str) -> str:
    """One standalone page for an executed notebook; raises if it would fetch anything."""
    _need("nbconvert")
    from markupsafe import Markup
    from nbconvert import HTMLExporter
    from pygments.formatters import HtmlFormatter

    exporter = HTMLExporter(template_name="basic", exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(offline_view(nb))
    # nbconvert's cells and pygments' stylesheet are HTML we made; the title is escaped.
    page = render("docs_page.html", title=title, body=Markup(body),
                  highlight=Markup(HtmlFormatter().get_style_defs(".highlight")))
    found = external_resources(page)
    if found:
        raise WorkbenchError(f"{title!r}: the page would load {found[0]!r} from the network")
    return page


def external_resources(page: str) -> list[str]:
    """What ``page`` would fetch from another site (empty: it works offline)."""
    found = [m.group(0)[:120] for m in _TAG.finditer(page) if _TAG_REMOTE.search(m.group(0))]
    for m in _STYLE.finditer(page):
        css = m.group(1) or m.group(2) or ""
        found += [css[max(c.start() - 20, 0):c.end() + 40] for c in _CSS_REMOTE.finditer(css)]
    return found


def build_docs(src: Path, out: Path, *, execute_mode: str = "auto", timeout: int = 600,
               progress: Callable[[str], None] = print) -> list[Path]:
    """Render every ``*.ipynb`` in ``src`` (or the one file ``src``) into ``out``; return the pages.

    ``execute_mode``: ``auto`` runs a notebook that has cells that never ran, ``always`` runs
    every notebook, ``never`` renders them as they are.
    """
    nbformat = _need("nbformat")
    if execute_mode not in ("auto", "always", "never"):
        raise ConfigError(f"execute {execute_mode!r}: choose auto, always or never")
    src = Path(src)
    files = [src] if src.is_file() else sorted(p for p in src.glob("*.ipynb") if not p.name.startswith((".", "_")))
    if not files:
        raise ConfigError(f"no notebooks (*.ipynb) in {str(src)!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pages: list[tuple[Path, str]] = []
    for path in files:
        nb = nbformat.read(path, as_version=4)
        if execute_mode == "always" or (execute_mode == "auto" and needs_execution(nb)):
            progress(f"executing {path.name} ...")
            try:
                execute(nb, path.parent, timeout=timeout)
            except Exception as exc:  # a cell failed: say which notebook, keep the first line
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
                raise WorkbenchError(f"{path.name} failed while executing: {first}") from exc
        title = title_of(nb, path.stem)
        page = out / f"{path.stem}.html"
        page.write_text(render_html(nb, title), encoding="utf-8")
        progress(f"wrote {page}")
        pages.append((page, title))
    _write_index(out, pages)
    return [p for p, _ in pages]


def _write_index(out: Path, pages: list[tuple[Path, str]]) -> Path:
    from workbench.results import environment

    env = environment()
    machine = f"{env.get('cpu_model')} ({env.get('cpu_count')} cores)" + (f", {env['gpu_name']}" if env.get("gpu_name") else "")
    index = out / "index.html"
    index.write_text(render("docs_index.html", machine=machine, pages=[(p.name, t) for p, t in pages]),
                     encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m workbench.render.docs",
                                     description="Execute notebooks and render them to standalone offline HTML.")
    parser.add_argument("src", help="a folder of notebooks, or one .ipynb file")
    parser.add_argument("out", help="folder for the HTML pages (and index.html)")
    parser.add_argument("--execute", choices=["auto", "always", "never"], default="auto",
                        help="auto: run notebooks that have cells that never ran (default)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default 600)")
    args = parser.parse_args(argv)
    try:
        build_docs(Path(args.src), Path(args.out), execute_mode=args.execute, timeout=args.timeout)
    except WorkbenchError as exc:  # ConfigError included
        print(f"workbench.render.docs: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
