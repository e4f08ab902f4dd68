"""Renderers of results: the one column spec, the terminal table, plots, the HTML report and
the notebook pages. Pure functions of data; no TensorFlow, no widgets."""
