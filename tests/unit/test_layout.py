"""The process boundary in the layout: the import contract names every module outside trial/.

`lint-imports` (run by `make lint` and `make test`) enforces the contracts in pyproject.toml;
a forbidden contract only checks the modules it lists, so a new top-level module left off the
list would escape it. This test catches that.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import workbench

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]


def _contract(contract_id: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["id"] == contract_id)


def test_every_module_outside_trial_is_kept_from_tensorflow():
    listed = set(_contract("tf-only-in-trial")["source_modules"])
    top_level = {f"workbench.{m.name}" for m in pkgutil.iter_modules(workbench.__path__)}
    missing = sorted(top_level - listed - {"workbench.trial"})
    assert not missing, f"add {missing} to the tf-only-in-trial contract in pyproject.toml"
    assert {"tensorflow", "keras", "jax", "torch", "workbench.trial"} <= set(_contract("tf-only-in-trial")["forbidden_modules"])


def test_trial_side_is_the_only_subpackage_with_tensorflow():
    # Every module that imports TensorFlow, Keras or another Keras backend at all (at the top or
    # inside a function).
    importers = set()
    for path in (ROOT / "workbench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("tensorflow", "keras", "jax", "torch") for n in names):
                importers.add(path.relative_to(ROOT / "workbench").parts[0])
    assert importers == {"trial"}, importers
