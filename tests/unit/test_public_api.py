"""The public API: every exported name resolves, lazy names are declared, import stays light."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import workbench


def test_every_exported_name_resolves():
    for name in workbench.__all__:
        assert getattr(workbench, name) is not None, name


def test_lazy_names_are_exported_and_listed_by_dir():
    lazy = set(workbench._LAZY)
    assert lazy <= set(workbench.__all__)
    assert lazy <= set(dir(workbench))
    assert {"SearchResult", "Recommendation"} <= lazy  # returned by search_batch and recommend


def test_version_comes_from_the_package_metadata():
    assert workbench.__version__ == metadata.version("tf-memory-workbench")


def test_import_loads_no_framework_widgets_or_plotting():
    code = ("import sys, workbench; heavy = [m for m in ('tensorflow', 'keras', 'ipywidgets', "
            "'matplotlib', 'jinja2') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_type_checkers_see_every_lazy_name():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(workbench))
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    declared = {a.asname or a.name for n in block.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert set(workbench._LAZY) == declared
