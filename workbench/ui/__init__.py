"""The notebook panel (ipywidgets 8). The only package of the workbench that imports ipywidgets.

``from workbench import Workbench; Workbench()`` shows it in JupyterLab.
"""

from workbench.ui.panel import Workbench

__all__ = ["Workbench"]
