# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Out of memory: what it looks like, where the memory goes, and how to rehearse a smaller machine
#
# Without isolation, running out of memory in a notebook looks like this: on the host, the
# operating system's out-of-memory killer ends the kernel ("The kernel appears to have died")
# and every variable in it is gone; on a GPU, TensorFlow raises `ResourceExhaustedError: OOM
# when allocating tensor` and the memory it already took stays held until the kernel restarts.
#
# The workbench runs each setting in its own process, so an out-of-memory failure ends **one
# trial**, which comes back as a row with a status and the reason. This notebook, for a small CNN
# at 128 px over 1,024 images:
#
# 1. measures where the memory of a small batch goes (most of it is Keras' copies of the array,
#    seen against a pipeline that streams from disk), and sets a **host memory budget** from it;
# 2. sweeps batches 16 to 1,024 in powers of two under that budget and watches the large ones fail;
# 3. shows each kind of failure as the workbench reports it;
# 4. predicts the budget's edge from the trials that fitted and tests it against a short real
#    search for that edge;
# 5. host memory against GPU memory: the simulated smaller GPU, and what `nvidia-smi` shows
#    against what the allocator holds;
# 6. reads the HTML report of the whole exercise.
#
# It takes well under a minute here: 20 s, measured once, alone, on the 2-core machine this was
# written on, before section 4's short search (six more trials) was added; the last cell prints
# this run's time. Sentences marked **✔ checked** are tested against this run's numbers.

# %% tags=["parameters"]
# Defaults run in under a minute on a 2-core CPU. On a GPU machine, try for example:
#   model = "mobilenet_v2"; image_size = 224; images = 1024; headroom_mib = 2000; gpu_budget = "2GiB"
model = "tiny"          # "tiny", a keras.applications name, or a .keras/.h5 file
image_size = 128        # pixels a side
images = 1024           # images per pass (written once to a .npy file)
batch_sizes = [16, 32, 64, 128, 256, 512, 1024]  # powers of two: neighbours bracket the edge tightly
headroom_mib = 500      # the budget: what the smallest batch needs, plus this many MiB
gpu_budget = "256MiB"   # the simulated GPU to rehearse (only where a GPU exists)
out_dir = ""            # "" for a fresh temporary folder

# %%
NOTEBOOK = "05"

# Set-up shared by the teaching notebooks (each imports what it uses). The kernel never
# imports TensorFlow: every trial runs in its own process, so an out-of-memory kill costs one
# trial, not this kernel.
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

import workbench as wb
from workbench import analysis
from workbench import format_bytes as fmt
from workbench.render import plots
from workbench.teaching import claim, is_ok, progress, random_images_npy, say

out = Path(out_dir).expanduser() if out_dir else Path(tempfile.mkdtemp(prefix=f"workbench-{NOTEBOOK}-"))
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 120)
started = time.perf_counter()
print(f"results go to {out}")

# %% [markdown]
# ## 1. Where the memory of a small batch goes
#
# The images are written once to a `.npy` file. At the smallest batch, two pipelines read it,
# twice each (how far two runs of one setting land apart is the spread a claim must beat):
#
# * `in_memory`: `np.load` the whole array, then `model.predict(x, batch_size=b)`;
# * `stream`: `model.predict` on a `tf.data` pipeline that reads the file a batch at a time.
#
# `baseline` is the process's resident memory after loading (runtime, model, and for `in_memory`
# the array itself); the **jump** is how far prediction lifts the peak above it.

# %%
npy_path = out / "images.npy"
array_bytes = random_images_npy(npy_path, images, image_size)  # a slice at a time: this kernel never holds the set
spec, data = wb.ModelSpec(model, image_size=image_size), wb.DataSpec.parse(str(npy_path))
timing = wb.TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=0.0, min_passes=1, drift_samples=0)  # one pass each
smallest = min(batch_sizes)
wb.run_sweep(wb.SweepConfig(spec, data, pipelines=("in_memory", "stream"), batch_sizes=(smallest,), repeat=2,
                            timing=timing), out / "reference", progress=progress)
ref = wb.load_results(out / "reference")
assert is_ok(ref).all(), ref[["pipeline", "status", "error"]]
ref["peak"] = analysis.budget_peak(ref)
ref["jump"] = ref["peak"] - ref["host_baseline_bytes"]
by = ref.groupby("pipeline")
jump, jump_spread = by["jump"].mean(), by["jump"].agg(lambda v: v.max() - v.min())
pd.DataFrame({"baseline": by["host_baseline_bytes"].mean().map(fmt), "peak": by["peak"].mean().map(fmt),
              "jump": jump.map(fmt), "jump, runs apart": jump_spread.map(fmt)})

# %%
copies_bytes = jump["in_memory"] - jump["stream"]
copies = copies_bytes / array_bytes
claim(copies_bytes > 0.5 * jump["in_memory"] and copies_bytes > 3 * jump_spread.max(),
      f"most of `in_memory`'s jump at batch {smallest} is not the batch: it rises {fmt(jump['in_memory'])} above its "
      f"baseline against {fmt(jump['stream'])} for `stream`, a difference of {fmt(copies_bytes)} "
      f"({copies_bytes / jump['in_memory']:.0%} of the jump; the runs of a setting were at most "
      f"{fmt(jump_spread.max())} apart)")
claim(round(copies) >= 1 and abs(copies - round(copies)) <= 0.25,
      f"that difference is {copies:.2f}x the {fmt(array_bytes)} array: about {round(copies)} whole copies of it, "
      "which `model.predict` makes when it turns a NumPy array into its input pipeline (on top of the array the "
      "baseline already holds)")
needed = float(ref.loc[ref["pipeline"] == "in_memory", "peak"].max())
budget = int(needed + headroom_mib * 2**20)
say(f"So a machine that can hold the array once cannot run `model.predict(x)` on it. Below, `in_memory` at batch "
    f"{smallest} peaks at {fmt(needed)}; **budget: {fmt(budget)}**, that plus {headroom_mib} MiB, as if this were "
    "a machine with little memory to spare.")

# %% [markdown]
# ## 2. Rehearse a smaller machine with a host budget
#
# Every trial of the sweep runs under the budget: the workbench watches the trial's resident
# memory and stops it as soon as it passes the budget (and checks the kernel's high-water mark at
# the end, so a spike between two looks is caught too).

# %%
rehearsal = out / "rehearsal"
wb.run_sweep(wb.SweepConfig(spec, data, batch_sizes=tuple(batch_sizes), timing=timing,
                            budget=wb.Budget(host_bytes=budget)), rehearsal, progress=progress)
df = wb.load_results(rehearsal).sort_values("batch_size")
df[["batch_size", "status", "host_peak_bytes", "host_peak_method", "error"]].assign(
    host_peak_bytes=df["host_peak_bytes"].map(fmt), error=df["error"].fillna(""))

# %%
failed = df[df["status"].astype(str) == "over_budget"]
passed = df[is_ok(df)]
assert len(failed) and len(passed) >= 3, (
    "the budget should split the batch sizes: change headroom_mib or batch_sizes so that some fit and some do not")
claim(failed["batch_size"].min() > passed["batch_size"].max(),
      f"every batch up to {int(passed['batch_size'].max())} fits the {fmt(budget)} budget and every batch from "
      f"{int(failed['batch_size'].min())} goes over it: memory grows with the batch, so the failures start at one size")
say("Each failed trial says why, in its own row: " + "; ".join(
    f"batch {int(r.batch_size)}: *{r.error}*" for r in failed.itertuples()))
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
plots.memory_vs_batch(df, ax=ax, budget_bytes=budget)
ax.set_ylim(bottom=0)  # from zero: the runtime and the array are most of every peak
plt.show()

# %% [markdown]
# The triangles are the trials stopped at the budget: their peak is where the workbench caught
# them (a lower bound, `sampled_by_parent`), or the kernel's exact high-water mark (`vmhwm`) when
# the trial finished before a look caught it. Either way this kernel, and every result before the
# failure, is untouched.
#
# ## 3. What each kind of failure looks like
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
# ## 4. Predict before you try, then choose
#
# The trials that fitted give the memory model (`fixed + per image x batch`), which says where
# the budget will be crossed without running anything larger (fitted where a straight line holds,
# the large batches). The sweep's batches were powers of two, a factor of two apart: too loose a
# bracket to test a line fitted through the last batch that fitted. So a short real search for the
# edge (`search_batch`, each probe an isolated trial under the same budget, no margin, capped at six
# probes and not confirmed, to keep this notebook short) brackets the edge tightly, and the
# prediction is tested against that bracket. `recommend` then picks the fastest measured setting
# that stays under the budget with a margin to spare.

# %%
from workbench.engine.search import search_batch

fit = analysis.fit_memory_model(df).iloc[0]
crossing = analysis.max_batch_for_budget(fit["fixed_bytes"], fit["per_image_bytes"], budget, margin=0.0)
say(f"Memory model from {int(fit['n_points'])} trials that fitted: {fmt(fit['fixed_bytes'])} + "
    f"{fmt(fit['per_image_bytes'])} per image. It puts the budget's edge at **batch {crossing}**.")
low, high = int(passed["batch_size"].max()), int(failed["batch_size"].min())
edge = search_batch(wb.TrialConfig(spec, data, batch_size=1, timing=timing), out / "search", host_budget_bytes=budget,
                    margin=0.0, max_probes=6, confirm=False)
probed = pd.DataFrame(edge.probes, columns=["batch_size", "status", "peak"]).assign(fits=edge.fits)
fitted_below = edge.batch_size  # the largest probe that fitted; the edge lies between it and the next failure
failed_above = probed.loc[~probed["fits"] & (probed["batch_size"] > fitted_below), "batch_size"]
first_fail = int(failed_above.min()) if len(failed_above) else None
# Two-sided: the line must not promise a batch the search saw fail, nor fall more than 15 % short of the
# largest that fitted (a line fitted far from the edge misses by more: notebook 02's small-batch line, ~30 % in one run).
claim(fitted_below > 0 and first_fail is not None and 0.85 * fitted_below <= crossing < first_fail,
      f"a real search for the edge, {edge.n_probes} probes under the same budget (batches "
      f"{', '.join(str(b) for b in probed['batch_size'])}), found batch {fitted_below} the largest that fitted and "
      f"batch {first_fail} the smallest above it that did not; the line's prediction, batch {crossing}, is below the "
      "failure and "
      + (f"{fitted_below - crossing} images ({(fitted_below - crossing) / fitted_below:.0%}) short of the batch that "
         "fitted: on the safe side, by less than 15 %" if crossing <= fitted_below else "inside that bracket")
      + f" (the sweep alone bracketed the edge only between batch {low}, which fitted, and batch {high})")
choice = analysis.recommend(df, host_budget_bytes=budget, margin=0.1)
# recommend only picks rows under the budget less the margin: its peak is shown, not checked.
say(f"**Recommendation:** {choice.reason}")
if choice.row is not None:
    # One pass per trial: the choice among the batches that fit is a speed comparison, so it goes through the spread.
    alike = [int(r["batch_size"]) for _, r in passed.iterrows() if int(r["batch_size"]) != int(choice.row["batch_size"])
             and analysis.speed_verdict(choice.row, r)[0] == "no measurable difference"]
    if alike:
        say(f"Its speed is not measurably different from batch {', '.join(map(str, alike))} (one pass each, on shared "
            "cores): any of them will do, and the smaller batch leaves more of the budget free.")

# %% [markdown]
# ## 5. Host memory and GPU memory
#
# Everything above is **host** memory (RAM). On a GPU machine the activations of a batch live in
# GPU memory instead, and three things differ:
#
# * **A simulated smaller GPU.** `Budget(gpu_bytes=...)` (`--gpu-budget`) rehearses a smaller card
#   on a larger one: on TensorFlow each trial gets a logical GPU with only that much memory (JAX:
#   `XLA_PYTHON_CLIENT_MEM_FRACTION`, PyTorch: `set_per_process_memory_fraction`). A batch that
#   needs more fails with the backend's out-of-memory error and comes back as `over_budget`. It
#   limits the GPU allocator, so it needs a GPU; without one it is not enforced and GPU memory is
#   not measured (NaN, never 0).
# * **What `nvidia-smi` shows is the allocator's pool, not what is in use.** By TensorFlow's own
#   documentation (not shown here), without memory growth it maps nearly all of the GPU's memory
#   when it starts, so `nvidia-smi` shows the whole card whatever the model and batch. JAX
#   pre-allocates 75 % of the card by default: the H200 figures measured elsewhere, below, show
#   that pool. PyTorch keeps freed blocks in its cache. The workbench turns TensorFlow's memory
#   growth on and records two
#   figures: `gpu_peak_bytes`, the allocator's peak **in use** (what the model needed), and
#   `gpu_device_peak_bytes`, NVML's figure for the process (what `nvidia-smi` shows: the pool plus
#   the CUDA context), which is at or above it.
# * **Streaming should save host memory, not GPU memory** (expected, not measured here: this
#   notebook's GPU sweep runs `in_memory` only). The copies of the array measured in section 1
#   are in RAM; only batches go to the GPU, so on a GPU the pipelines likely differ on the host
#   and hardly at all on the device.

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
    display(gdf[["batch_size", "status", "gpu_peak_bytes", "gpu_device_peak_bytes", "error"]].assign(
        gpu_peak_bytes=gdf["gpu_peak_bytes"].map(fmt), gpu_device_peak_bytes=gdf["gpu_device_peak_bytes"].map(fmt)))
    both = gdf[is_ok(gdf) & gdf["gpu_peak_bytes"].notna() & gdf["gpu_device_peak_bytes"].notna()]
    if len(both):
        claim((both["gpu_device_peak_bytes"] >= both["gpu_peak_bytes"]).all(),
              "in every trial NVML's figure (what `nvidia-smi` shows) is at or above the allocator's peak in use, by "
              f"{fmt((both['gpu_device_peak_bytes'] - both['gpu_peak_bytes']).min())} to "
              f"{fmt((both['gpu_device_peak_bytes'] - both['gpu_peak_bytes']).max())}: the pool and the CUDA context")
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plots.memory_vs_batch(gdf, ax=ax, kind="gpu", budget_bytes=wb.parse_bytes(gpu_budget))
    ax.set_ylim(bottom=0)
    plt.show()
else:
    say("**This machine has no GPU**, so this run measured no GPU figure (the ones measured elsewhere, by the "
        "project's GPU check, follow below, marked as such). What follows shows how the workbench reports a GPU "
        "budget where it cannot apply one.")
    claim(not enforced.any() and gdf["gpu_peak_bytes"].isna().all() and gdf["gpu_device_peak_bytes"].isna().all(),
          f"no GPU here: the simulated {gpu_budget} budget is **not available**, the trial says it was not "
          "enforced, and its GPU figures (allocator and NVML) are missing (NaN), not 0")
    say("Asked for a choice under a GPU budget, the workbench says so instead of guessing: *"
        + analysis.recommend(gdf, gpu_budget_bytes=wb.parse_bytes(gpu_budget)).reason + "*")

# %% [markdown]
# ### GPU figures measured elsewhere
#
# The project's GPU check (`bench/gpu_check.sh`) ran on a lent GPU machine (once whole, its oom step twice); its results
# are committed in `docs/gpu/`. They were **not measured by this run or on this machine**, so
# nothing below is a checked claim: they show what the two GPU figures look like on a real card
# (MobileNetV2 at 224 px, float32, on the JAX and PyTorch backends of Keras 3; that machine has
# no TensorFlow).

# %%
gpu_docs = Path(wb.__file__).resolve().parents[1] / "docs" / "gpu" / "sweep"
if (gpu_docs / "results.jsonl").exists():
    elsewhere = wb.load_results(gpu_docs)
    elsewhere = elsewhere[is_ok(elsewhere) & (elsewhere["precision"] == "float32")]
    card = elsewhere.attrs["environment"].get("gpu_name") or "a GPU"
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, (backend, part) in zip(axes, elsewhere.groupby("backend"), strict=False):
        part = part.sort_values("batch_size")
        ax.plot(part["batch_size"], part["gpu_peak_bytes"] / 2**30, "o-", label="allocator peak (in use)")
        ax.plot(part["batch_size"], part["gpu_device_peak_bytes"] / 2**30, "s--", label="NVML (what nvidia-smi shows)")
        ax.set(xscale="log", xlabel="batch size", title=f"{backend} on {card}")
        ax.set_ylim(bottom=0)
    axes[0].set_ylabel("GPU memory (GiB)")
    axes[0].legend()
    plt.show()
    jax_rows = elsewhere[elsewhere["backend"] == "jax"]
    torch_rows = elsewhere[elsewhere["backend"] == "torch"]
    if len(jax_rows) and len(torch_rows):
        big = int(jax_rows["batch_size"].max())
        say(f"Measured on {card} (one run, not here): for every JAX batch from {int(jax_rows['batch_size'].min())} "
            f"to {big}, `nvidia-smi` showed {fmt(jax_rows['gpu_device_peak_bytes'].min())} to "
            f"{fmt(jax_rows['gpu_device_peak_bytes'].max())}, JAX's pre-allocated pool, while the allocator's peak "
            f"in use went from {fmt(jax_rows['gpu_peak_bytes'].min())} to {fmt(jax_rows['gpu_peak_bytes'].max())}. "
            f"PyTorch allocates on demand, so its `nvidia-smi` figure follows its use, "
            f"{fmt((torch_rows['gpu_device_peak_bytes'] - torch_rows['gpu_peak_bytes']).min())} to "
            f"{fmt((torch_rows['gpu_device_peak_bytes'] - torch_rows['gpu_peak_bytes']).max())} above it (the CUDA "
            "context and the allocator's cache). Budget a GPU job against the allocator's peak.")
else:
    say("The project's GPU results (`docs/gpu/`) are not beside this installation, so no GPU figure is shown.")

# %% [markdown]
# ## 6. Reading the report
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
#   system, or the GPU allocator's error) or `over_budget` (passed the budget you set).
# - At small batches most of `model.predict(x)`'s memory is copies of the array, not the batch:
#   a data set that fits in RAM once may not fit through `predict`.
# - On a GPU, read the allocator's peak (what the model needed), not `nvidia-smi` (the pool).
# - **The decision:** before running a job on a smaller machine (or a smaller GPU), rehearse it
#   under that budget here; take the largest batch the memory model and a real search agree on,
#   and keep a margin below it.

# %%
# The kernel stayed free of TensorFlow: every figure above came from isolated trial processes.
assert "tensorflow" not in sys.modules, "TensorFlow was imported in the notebook kernel"
say(f"TensorFlow was never imported in this kernel. This run took {time.perf_counter() - started:.0f} s; "
    f"the raw results are in `{out}`.")
