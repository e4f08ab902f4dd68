"""Every notebook in notebooks/ runs headless, top to bottom, in a real kernel, and renders to a
page that works offline.

Each notebook is executed in a copy inside a temporary folder (its working directory and its
TMPDIR, so the results it writes land there) with a last cell, added only here, that reports
whether the kernel imported TensorFlow. The teaching notebooks (02-05) state their claims
through checks that stop the notebook when this run's numbers contradict the text, so a
notebook that executes without error is one whose story matched the measurement. The cells
come from the notebooks' .py sources (test_notebook_sources.py checks that they agree).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from workbench.render import docs

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TEACHING = ["02_batch_size", "03_input_pipelines", "04_precision", "05_out_of_memory", "06_memory_anatomy"]
PROBE = "import sys\nprint(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"


def _kernel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")  # the venv's kernel, not a system one
    # The kernel imports the package from this checkout, wherever the notebook copy lives.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the notebooks' default result folders land here


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def _parameters_cell(nb: nbformat.NotebookNode) -> tuple[int, nbformat.NotebookNode]:
    tagged = [(i, c) for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "a teaching notebook needs exactly one cell tagged 'parameters'"
    return tagged[0]


def test_all_notebooks_are_found():
    names = [p.stem for p in NOTEBOOKS]
    assert "01_quickstart" in names and set(TEACHING) <= set(names)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless_and_renders_offline(path, tmp_path, monkeypatch):
    _kernel_env(monkeypatch, tmp_path)
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        keep = os.environ.get("WORKBENCH_NOTEBOOK_OUT")  # a folder for the executed copies, to read their claims
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, Path(keep) / path.name)
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    probe = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert json.loads(probe.strip().replace("'", '"')) == [], "the notebook kernel imported TensorFlow or Keras"
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    if path.stem in TEACHING:
        said = "\n".join(o.data["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {}))
        assert said.count("✔ checked") >= 4, "the teaching text should check its claims against the run"
        assert "✘" not in said
        assert pngs, "a teaching notebook shows its measurements as plots"

    page = docs.render_html(nb, docs.title_of(nb, path.stem))
    assert docs.external_resources(page) == []
    assert "<script" not in page  # nothing to run, so nothing that could fetch a widget manager
    assert page.count('src="data:image/png;base64,') == len(pngs)
    if any(docs.WIDGET_VIEW in o.get("data", {}) for o in outputs):
        assert docs.WIDGET_NOTE in page and "widget-state" not in page


@pytest.mark.parametrize("name", TEACHING)
def test_teaching_notebooks_are_stored_clean_and_parameterised(name, tmp_path):
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "store notebooks without outputs"
    index, cell = _parameters_cell(nb)
    first_import = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "import workbench" in c.source)
    assert index < first_import, "the parameters must come before the set-up that uses them"
    names = []
    for stmt in ast.parse(cell.source).body:  # plain literals, so papermill -p can replace each
        assert isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
        ast.literal_eval(stmt.value)
        names.append(stmt.targets[0].id)
    assert "out_dir" in names

    import papermill

    # what `papermill NB OUT -p images 64` prepares, without running it
    bigger = papermill.execute_notebook(NOTEBOOK_DIR / f"{name}.ipynb", tmp_path / "out.ipynb", prepare_only=True,
                                        parameters={"out_dir": "/data/runs"}, kernel_name="python3", progress_bar=False)
    injected = [i for i, c in enumerate(bigger.cells) if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected == [index + 1] and "out_dir = \"/data/runs\"" in bigger.cells[index + 1].source


def test_offline_view_replaces_widgets_and_joins_printed_lines():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("wb")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="trial 1\n"),
        nbformat.v4.new_output("stream", name="stdout", text="trial 2\n"),
        nbformat.v4.new_output("execute_result", data={docs.WIDGET_VIEW: {"model_id": "abc"}, "text/plain": "VBox()"},
                               execution_count=1),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# A title\n\ntext"), cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    page = docs.render_html(nb, docs.title_of(nb, "fallback"))
    assert docs.title_of(nb, "fallback") == "A title" and "<title>A title</title>" in page
    assert docs.WIDGET_NOTE in page and "widget-state" not in page and "abc" not in page
    assert "trial 1\ntrial 2" in page  # one block, not one per flush
    assert "widgets" in nb.metadata and len(nb.cells[1].outputs) == 3  # the original is untouched


@pytest.mark.parametrize("html, remote", [
    ('<img src="https://example.org/a.png">', True),
    ("<link rel=stylesheet href='//cdn.example.org/a.css'>", True),
    ('<script src="http://cdn.example.org/require.js"></script>', True),
    ('<style>body { background: url( "https://example.org/bg.png") }</style>', True),
    ('<style>@import "theme.css";</style>', True),
    ('<div style="background: url(http://example.org/x)">', True),
    ('<img src="data:image/png;base64,AAAA">', False),
    ('<a href="https://example.org">a link to follow, not a resource</a>', False),
    ("<pre>@import url(http://example.org/x) in a code listing</pre>", False),
])
def test_external_resources_finds_what_a_browser_would_fetch(html, remote):
    assert bool(docs.external_resources(html)) is remote


@pytest.mark.notebook
def test_docs_command_executes_renders_and_indexes(tmp_path, monkeypatch):
    _kernel_env(monkeypatch, tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Squares"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
                                  "ax.plot([1, 2, 3], [1, 4, 9])\nplt.show()\nprint('plotted', 3 * 3)"),
    ]
    nbformat.write(nb, src / "squares.ipynb")
    before = (src / "squares.ipynb").read_text()

    out = tmp_path / "html"
    assert docs.main([str(src), str(out), "--timeout", "120"]) == 0
    page = (out / "squares.html").read_text()
    assert "plotted 9" in page and page.count('src="data:image/png;base64,') == 1
    assert docs.external_resources(page) == [] and "<title>Squares</title>" in page
    index = (out / "index.html").read_text()
    assert '<a href="squares.html">Squares</a>' in index
    assert (src / "squares.ipynb").read_text() == before  # the source notebook is never modified

    # rendered as it is (no outputs): a page with the code and nothing run
    assert docs.main([str(src), str(tmp_path / "plain"), "--execute", "never"]) == 0
    assert "plotted 9" not in (tmp_path / "plain" / "squares.html").read_text()


def test_docs_command_reports_a_bad_folder_in_one_line(tmp_path, capsys):
    assert docs.main([str(tmp_path / "missing"), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("workbench.render.docs: no notebooks") and "\n" not in err


@pytest.mark.notebook
def test_docs_command_names_the_notebook_that_failed(tmp_path, monkeypatch, capsys):
    _kernel_env(monkeypatch, tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("raise ValueError('the story no longer matches')")]
    nbformat.write(nb, tmp_path / "broken.ipynb")
    assert docs.main([str(tmp_path / "broken.ipynb"), str(tmp_path / "html"), "--timeout", "120"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("workbench.render.docs: broken.ipynb failed while executing") and "no longer matches" in err
    assert not (tmp_path / "html" / "broken.html").exists()
