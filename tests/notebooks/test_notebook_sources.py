"""The notebooks' .py sources and the stored .ipynb hold the same cells, and the check that
says so (``python -m tests.notebooks.pairs``, run by ``make lint``) catches a pair out of step.
No kernel runs here: these read files only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jupytext.config import load_jupytext_config

from tests.notebooks import pairs

NAMES = pairs.notebook_names()


def test_every_notebook_is_a_pair_paired_by_the_config():
    assert {"01_quickstart", "02_batch_size", "03_input_pipelines", "04_precision", "05_out_of_memory",
            "06_memory_anatomy"} <= set(NAMES)
    for name in NAMES:
        assert (pairs.NOTEBOOK_DIR / f"{name}.py").exists() and (pairs.NOTEBOOK_DIR / f"{name}.ipynb").exists()
    # JupyterLab (with jupytext) and `jupytext --sync` pair them through notebooks/jupytext.toml
    for suffix in (".py", ".ipynb"):
        path = str(pairs.NOTEBOOK_DIR / f"02_batch_size{suffix}")
        assert load_jupytext_config(path).default_formats(path) == "ipynb,py:percent"


@pytest.mark.parametrize("name", NAMES)
def test_stored_notebook_holds_the_cells_of_its_source(name):
    assert pairs.difference(name) == "", f"run `.venv/bin/jupytext --sync notebooks/{name}.py`"


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    """A copy of one notebook pair and the jupytext config, in a folder of its own."""
    for f in ("02_batch_size.py", "02_batch_size.ipynb", "jupytext.toml"):
        shutil.copy(pairs.NOTEBOOK_DIR / f, tmp_path / f)
    return tmp_path


def test_an_edited_source_is_reported_until_synced(pair, capsys):
    py = pair / "02_batch_size.py"
    text = py.read_text(encoding="utf-8")
    assert "\nimages = 1024 " in text
    py.write_text(text.replace("\nimages = 1024 ", "\nimages = 512 "), encoding="utf-8")

    diff = pairs.difference("02_batch_size", pair)
    assert "-images = 512 " in diff and "+images = 1024 " in diff
    assert pairs.main(pair) == 1
    out = capsys.readouterr().out
    assert "jupytext --sync notebooks/02_batch_size.py" in out

    # the fix the message names: the real jupytext CLI brings the .ipynb in step with the .py
    done = subprocess.run([sys.executable, "-m", "jupytext", "--sync", str(py)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert pairs.difference("02_batch_size", pair) == ""
    assert pairs.main(pair) == 0


def test_a_lost_tag_and_a_missing_half_are_reported(pair):
    py = pair / "02_batch_size.py"
    text = py.read_text(encoding="utf-8")
    assert text.count('# %% tags=["parameters"]') == 1
    py.write_text(text.replace('# %% tags=["parameters"]', "# %%"), encoding="utf-8")
    assert "tags=['parameters']" in pairs.difference("02_batch_size", pair)

    (pair / "02_batch_size.ipynb").unlink()
    assert pairs.difference("02_batch_size", pair) == (
        "02_batch_size: 02_batch_size.ipynb missing: every notebook is a .py/.ipynb pair\n")
