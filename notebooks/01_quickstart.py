# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quickstart: the memory trade-off workbench
#
# How much memory does a bigger batch cost, how much speed does it buy, and does lower precision
# change the answers? This panel measures it **on your model and your machine**, one isolated
# process per setting, so an out-of-memory failure costs one trial, never this notebook.
# TensorFlow is only imported inside those trial processes.
#
# 1. **Model and data**: a `keras.applications` name, the trained `demo` model (trained here
#    on first use, about a minute), or your own `.keras` / `.h5` file; synthetic images, the demo
#    images, a folder of images or a `.npy` array.
# 2. **What to compare**: pipelines, precisions and batch sizes (a list, or powers of two in a range).
# 3. **Budgets**: the host (and GPU) memory you can spend. A trial that passes the host budget
#    is stopped and shown as a failure marker.
# 4. Press **Run sweep**. Plots and the table update after every trial; **Cancel** stops the
#    running trial and keeps the finished ones. **Search** finds the largest batch size under the
#    budget in a few probes.
# 5. **Decide**: the recommendation follows the budget and objective you set, without re-running.
#    **Export** writes an HTML report (works offline) and a CSV next to the results.
#
# **Open results** shows a results folder from an earlier sweep (or from `python -m workbench sweep`)
# without running anything.

# %%
from workbench import Workbench

wb = Workbench()
wb

# %% [markdown]
# ## The same settings in code
#
# The panel builds the same `SweepConfig` the command line and the Python API use: its defaults
# are the CLI's (`python -m workbench sweep --help`). After a run, `wb.results.df` holds the results
# as a DataFrame and `wb.results.decision` the recommendation.

# %%
wb.config()
