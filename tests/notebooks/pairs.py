"""Each notebook is a pair: ``notebooks/NAME.py`` (jupytext's py:percent, the source that is
edited and linted) and ``notebooks/NAME.ipynb`` (what Jupyter opens and the tests execute).
This checks that the two hold the same cells: type, source and tags (``parameters`` among
them), ignoring outputs and other metadata.

    .venv/bin/python -m tests.notebooks.pairs      # `make lint` / `make test`: exit 1 with a diff

jupytext has no read-only check of its own: ``--diff`` always exits 0, ``--test`` round-trips
one file, ``--sync`` rewrites whichever file is older. ``jupytext --sync`` is the fix this
check asks for.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import jupytext
import nbformat

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def notebook_names(folder: Path = NOTEBOOK_DIR) -> list[str]:
    """Every notebook's name (``02_batch_size``), from either half of its pair."""
    return sorted({p.stem for p in (*folder.glob("*.py"), *folder.glob("*.ipynb")) if not p.name.startswith((".", "_"))})


def cells(nb: nbformat.NotebookNode) -> list[str]:
    """What must agree, one text per cell: its type and tags, then its source."""
    return [f"# %% {c.cell_type} tags={c.metadata.get('tags', [])}\n{c.source}" for c in nb.cells]


def difference(name: str, folder: Path = NOTEBOOK_DIR) -> str:
    """How ``name``'s two files differ, as a unified diff of their cells; "" when they agree."""
    py, ipynb = folder / f"{name}.py", folder / f"{name}.ipynb"
    missing = [p.name for p in (py, ipynb) if not p.exists()]
    if missing:
        return f"{name}: {' and '.join(missing)} missing: every notebook is a .py/.ipynb pair\n"
    source = cells(jupytext.read(py))
    stored = cells(nbformat.read(ipynb, as_version=4))
    if source == stored:
        return ""
    lines = difflib.unified_diff("\n".join(source).splitlines(), "\n".join(stored).splitlines(),
                                 str(py.relative_to(folder.parent)), str(ipynb.relative_to(folder.parent)),
                                 lineterm="")
    return "\n".join(lines) + "\n"


def main(folder: Path = NOTEBOOK_DIR) -> int:
    """Print every pair that differs, with the command that brings it in step; 1 if any did."""
    names = notebook_names(folder)
    differ = [(name, diff) for name in names if (diff := difference(name, folder))]
    for _, diff in differ:
        sys.stdout.write(diff)
    if differ:
        listed = " ".join(f"notebooks/{name}.py" for name, _ in differ)
        print(f"\n{len(differ)} notebook(s) differ from their .py source. After editing the .py, run:\n"
              f"    .venv/bin/jupytext --sync {listed}")
        return 1
    print(f"{len(names)} notebooks: each .ipynb holds the cells of its .py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
