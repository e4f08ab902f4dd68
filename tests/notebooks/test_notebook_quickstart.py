"""The quickstart notebook runs headless, top to bottom, in a real kernel.

It is executed in a copy inside a temporary folder (the kernel's working directory), so any
results it writes land there. A last cell, added only here, checks that the kernel never
imported TensorFlow.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01_quickstart.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.mark.notebook
def test_quickstart_notebook_executes_and_shows_the_panel(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")  # the venv's kernel, not a system one
    # The kernel imports the package from this checkout, wherever the notebook copy lives.
    repo = str(NOTEBOOK.parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p))
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    nb = nbformat.read(copy, as_version=4)
    probe = nbformat.v4.new_code_cell("import sys\nprint(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    nb.cells.append(probe)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    views = [o for o in outputs if o.output_type == "execute_result" and WIDGET_VIEW in o.data]
    assert len(views) == 1, "the panel cell should display one widget"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    root = state[views[0].data[WIDGET_VIEW]["model_id"]]
    assert root["model_name"] == "VBoxModel" and "wb-panel" in root["state"]["_dom_classes"]
    buttons = {m["state"].get("description"): m["state"] for m in state.values() if m["model_name"] == "ButtonModel"}
    assert {"Run sweep", "Search", "Cancel", "Open results", "Export HTML report", "Export CSV"} <= set(buttons)
    assert buttons["Cancel"]["disabled"] and not buttons["Run sweep"]["disabled"]  # valid defaults, nothing running
    header = next(m["state"]["value"] for m in state.values() if "wb-header" in m["state"].get("_dom_classes", []))
    assert "GPU:" in header

    config_text = next(o.data["text/plain"] for o in nb.cells[3].outputs if o.output_type == "execute_result")
    assert config_text.startswith("SweepConfig(") and "batch_sizes=(1, 8, 32)" in config_text
    probe_out = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert json.loads(probe_out.strip().replace("'", '"')) == []
