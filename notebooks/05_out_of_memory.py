# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Out of memory: what it looks like, and how to rehearse a smaller machine
#
# Without isolation, running out of memory in a notebook looks like this: on the host, the
# operating system's out-of-memory killer ends the kernel ("The kernel appears to have died")
# and every variable in it is gone; on a GPU, TensorFlow raises `ResourceExhaustedError: OOM
# when allocating tensor` and the memory it already took stays held until the kernel restarts.
#
# The workbench runs each setting in its own process, so an out-of-memory failure ends **one
# trial**, which comes back as a row with a status and the reason. This notebook:
#
# 1. gives the trials a **host memory budget** (a smaller machine, rehearsed on this one) and
#    watches the large batches fail against it;
# 2. shows each kind of failure as the workbench reports it;
# 3. predicts where the budget will be crossed before trying it, and picks a setting;
# 4. tries the **simulated GPU budget**, which needs a GPU;
# 5. reads the HTML report of the whole exercise.
#
# Sentences marked **✔ checked** are tested against this run's numbers.

# %% tags=["parameters"]
# Defaults run in a few minutes on a 2-core CPU. On a GPU machine, try for example:
#   model = "mobilenet_v2"; image_size = 224; images = 1024; headroom_mib = 2000;
#   batch_sizes = [16, 64, 256, 1024]; gpu_budget = "2GiB"
model = "tiny"          # "tiny", a keras.applications name, or a .keras/.h5 file
image_size = 96         # pixels a side
images = 1024           # synthetic images per pass
batch_sizes = [16, 64, 1024]
headroom_mib = 250      # the budget: what the smallest batch needs, plus this many MiB
gpu_budget = "256MiB"   # the simulated GPU to rehearse (only where a GPU exists)
out_dir = ""            # "" for a fresh temporary folder

# %%
NOTEBOOK = "05"

# Set-up shared by the teaching notebooks (each imports what it uses). The kernel never
# imports TensorFlow: every trial runs in its own process, so an out-of-memory kill costs one
# trial, not this kernel.
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

import workbench as wb
from workbench import analysis
from workbench import format_bytes as fmt
from workbench.render import plots
from workbench.teaching import claim, is_ok, progress, say

out = Path(out_dir).expanduser() if out_dir else Path(tempfile.mkdtemp(prefix=f"workbench-{NOTEBOOK}-"))
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 120)
print(f"results go to {out}")

# %% [markdown]
# ## 1. Rehearse a smaller machine with a host budget
#
# First, what does the process need at all? A trial at the smallest batch size, without a
# budget. Then the budget: that much plus `headroom_mib`, as if this were a machine with little
# memory to spare.
# Every trial of the sweep runs under it: the workbench watches the trial's resident memory and
# stops it as soon as it passes the budget (and checks the kernel's high-water mark at the end,
# so a spike between two looks is caught too).

# %%
spec, data = wb.ModelSpec(model, image_size=image_size), wb.DataSpec("synthetic", count=images)
timing = wb.TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=0.0, min_passes=1, drift_samples=0)  # one pass each
smallest = min(batch_sizes)
wb.run_sweep(wb.SweepConfig(spec, data, batch_sizes=(smallest,), timing=timing), out / "reference", progress=progress)
needed = float(wb.load_results(out / "reference")["host_peak_bytes"].iloc[0])
budget = int(needed + headroom_mib * 2**20)
say(f"At batch {smallest} the process peaks at {fmt(needed)}. **Budget: {fmt(budget)}.**")
rehearsal = out / "rehearsal"
wb.run_sweep(wb.SweepConfig(spec, data, batch_sizes=tuple(batch_sizes), timing=timing,
                            budget=wb.Budget(host_bytes=budget)), rehearsal, progress=progress)
df = wb.load_results(rehearsal).sort_values("batch_size")
df[["batch_size", "status", "host_peak_bytes", "host_peak_method", "error"]].assign(
    host_peak_bytes=df["host_peak_bytes"].map(fmt), error=df["error"].fillna(""))

# %%
failed = df[df["status"].astype(str) == "over_budget"]
passed = df[is_ok(df)]
assert len(failed) and len(passed) >= 2, (
    "the budget should split the batch sizes: change headroom_mib or batch_sizes so that some fit and some do not")
claim(failed["batch_size"].min() > passed["batch_size"].max(),
      f"every batch up to {int(passed['batch_size'].max())} fits the {fmt(budget)} budget and every batch from "
      f"{int(failed['batch_size'].min())} goes over it: memory grows with the batch, so the failures start at one size")
claim(failed["error"].str.contains("budget").all(),
      "each failed trial says why, in its own row: " + "; ".join(
          f"batch {int(r.batch_size)}: *{r.error}*" for r in failed.itertuples()))
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
plots.memory_vs_batch(df, ax=ax, budget_bytes=budget)
plt.show()

# %% [markdown]
# The triangle is the trial stopped at the budget: its peak is where the workbench caught it (a
# lower bound, `sampled_by_parent`), or the kernel's exact high-water mark (`vmhwm`) when the
# trial finished before a look caught it. Either way this kernel, and every result before the
# failure, is untouched.
#
# ## 2. What each kind of failure looks like
#
# A budget is the failure you rehearse on purpose. Two others cannot be produced safely on a
# shared machine, so the workbench can **inject** them into a trial (its `fault` option, made
# for tests and teaching): a `SIGKILL`, which is exactly what the kernel's out-of-memory killer
# sends, and the `ResourceExhaustedError` TensorFlow raises when a GPU allocation fails.

# %%
injected = {fault: wb.run_trial(wb.TrialConfig(spec, data, batch_size=16, timing=timing, fault=fault))
            for fault in ("sigkill", "raise_oom")}
over = failed.iloc[0]
pd.DataFrame([
    {"what happened": f"passed the host budget (batch {int(over['batch_size'])})", "status": str(over["status"]),
     "exit code": over.get("exit_code"), "reason": over["error"]},
    *({"what happened": {"sigkill": "killed like the OOM killer does (injected)",
                         "raise_oom": "GPU allocation failed (injected)"}[f],
       "status": str(r.status), "exit code": r.exit_code, "reason": r.error} for f, r in injected.items()),
])

# %%
killed, gpu_oom = injected["sigkill"], injected["raise_oom"]
claim(str(killed.status) == "oom" and killed.exit_code == -9,
      f"a process killed by SIGKILL without writing a result is recorded as `oom` (exit code {killed.exit_code}): "
      "the kernel's out-of-memory killer leaves no other trace")
claim(str(gpu_oom.status) == "oom" and "GPU out of memory" in (gpu_oom.error or ""),
      "TensorFlow's ResourceExhaustedError is recorded as `oom` with its message, and the process that held the "
      "GPU memory is gone with it")
say("The last lines of the GPU trial's error output, as the results keep them:")
print("\n".join((gpu_oom.stderr_tail or "").splitlines()[-3:]))

# %% [markdown]
# ## 3. Predict before you try, then choose
#
# The trials that fitted give the memory model (`fixed + per image x batch`), which says where
# the budget will be crossed without running anything larger. `recommend` then picks the
# fastest measured setting that stays under the budget with a margin to spare.

# %%
fit = analysis.fit_memory_model(df).iloc[0]
crossing = analysis.max_batch_for_budget(fit["fixed_bytes"], fit["per_image_bytes"], budget, margin=0.0)
say(f"Memory model from {int(fit['n_points'])} trials that fitted: {fmt(fit['fixed_bytes'])} + "
    f"{fmt(fit['per_image_bytes'])} per image. It puts the budget's edge at **batch {crossing}**.")
claim(passed["batch_size"].max() <= crossing < failed["batch_size"].min(),
      f"the prediction (batch {crossing}) falls between the largest batch that fitted "
      f"({int(passed['batch_size'].max())}) and the smallest that did not ({int(failed['batch_size'].min())})")
choice = analysis.recommend(df, host_budget_bytes=budget, margin=0.1)
say(f"**Recommendation:** {choice.reason}")
claim(choice.row is not None and choice.row["host_peak_bytes"] <= 0.9 * budget,
      f"the recommended setting peaked at {fmt(choice.row['host_peak_bytes'] if choice.row else float('nan'))}, "
      f"under the budget less its 10 % margin ({fmt(0.9 * budget)})")

# %% [markdown]
# ## 4. The simulated GPU budget
#
# On a GPU, `Budget(gpu_bytes=...)` gives each trial a logical GPU with only that much memory,
# so a large card rehearses a smaller one: a batch that needs more fails with TensorFlow's
# out-of-memory error and comes back as `over_budget`. It limits TensorFlow's GPU allocator,
# so it needs a GPU; on a machine without one it is not enforced, and GPU memory is not
# measured (the results say NaN, never 0).

# %%
gpus = wb.environment()["gpus"]
gpu_runs = out / "gpu"
gpu_sizes = tuple(batch_sizes) if gpus else (batch_sizes[0],)  # without a GPU, one trial shows it
wb.run_sweep(wb.SweepConfig(spec, data, batch_sizes=gpu_sizes, timing=timing, budget=wb.Budget(gpu_bytes=gpu_budget)),
             gpu_runs, progress=progress)
gdf = wb.load_results(gpu_runs)
enforced = pd.read_json(gpu_runs / "results.jsonl", lines=True).query("record == 'trial'")["gpu_budget_enforced"]
if gpus:
    claim(bool(enforced.all()), f"on {gpus[0]['name']} the simulated {gpu_budget} budget was enforced in every trial")
    display(gdf[["batch_size", "status", "gpu_peak_bytes", "error"]].assign(gpu_peak_bytes=gdf["gpu_peak_bytes"].map(fmt)))
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plots.memory_vs_batch(gdf, ax=ax, kind="gpu", budget_bytes=wb.parse_bytes(gpu_budget))
    plt.show()
else:
    claim(not enforced.any() and gdf["gpu_peak_bytes"].isna().all(),
          f"no GPU here: the simulated {gpu_budget} budget is **not available**, the trial says it was not "
          "enforced, and its GPU peak is missing (NaN), not 0")
    say("Asked for a choice under a GPU budget, the workbench says so instead of guessing: *"
        + analysis.recommend(gdf, gpu_budget_bytes=wb.parse_bytes(gpu_budget)).reason + "*")

# %% [markdown]
# ## 5. Reading the report
#
# `write_report` turns a results folder into one HTML file that works offline (plots inline, no
# external URL), for sharing or for later. Read it top to bottom:
#
# 1. **the counts** of trials by status: a first look at how many failed, and how;
# 2. **Recommendation**: the setting, the reason in plain words (what it gains, its peak against
#    the budget, what happened at the next larger batch) and notes;
# 3. **Plots**: failures are drawn as markers where the curve stops, with the budget as a line;
# 4. **Memory model**: fixed and per-image memory per series, and the largest batch the budget allows;
# 5. **All trials**: every row, failed ones with their reason;
# 6. **Sweep settings** and **Environment**: what was run, on which machine and versions, so
#    numbers from two machines are never mixed up.

# %%
from workbench.render.report import report_data, write_report

path = write_report(rehearsal, host_budget_bytes=budget)
html = path.read_text(encoding="utf-8")
summary = report_data(wb.load_results(rehearsal), host_budget_bytes=budget)
say(f"Report: `{path}` ({len(html) / 1024:.0f} KiB). Counts: {summary['counts']}. "
    f"Recommendation: **{summary['recommendation']['label']}**.")
display(pd.DataFrame(summary["memory_model"]))
external = [u for u in ("src=\"http", "href=\"http", "url(http", "@import") if u in html]
claim(not external and html.count("over_budget") >= len(failed),
      f"the report needs no network (no external source, stylesheet or font) and lists the "
      f"{len(failed)} over-budget trial(s) with the others")

# %% [markdown]
# ## What to take away
#
# - In the workbench an out-of-memory failure is a row, not a dead kernel: `oom` (killed by the
#   system, or TensorFlow's GPU error) or `over_budget` (passed the budget you set).
# - A host budget rehearses a smaller machine on this one; the simulated GPU budget does the same
#   for a smaller GPU, where there is a GPU.
# - The memory model predicts where the budget will be crossed; the recommendation keeps a margin
#   under it; the report records all of it, with the machine it was measured on.

# %%
# The kernel stayed free of TensorFlow: every figure above came from isolated trial processes.
assert "tensorflow" not in sys.modules, "TensorFlow was imported in the notebook kernel"
say(f"TensorFlow was never imported in this kernel. The raw results are in `{out}`.")
