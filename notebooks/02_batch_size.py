# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Batch size: what memory grows with, and where speed stops improving
#
# Larger batches are faster, until they are not, and they always cost memory. This notebook
# measures, **on this machine**, for one model:
#
# 1. peak memory and throughput at several batch sizes (host memory; GPU memory where a GPU
#    ran the trials);
# 2. how the peak splits into a **fixed part** (runtime, weights, data already loaded) and a
#    **per-image part** (the activations of one more image in the batch);
# 3. where throughput stops improving;
# 4. why "start at 1 and double until it fails" is a slow and risky way to find the largest
#    batch that fits, and what the workbench's search does instead.
#
# Every trial runs in its own process (TensorFlow is never imported in this kernel). Sentences
# marked **✔ checked** are tested against the numbers this run measured: if the story stops
# matching the measurement, the notebook fails rather than teach folklore.

# %% tags=["parameters"]
# Defaults run in a few minutes on a 2-core CPU. With a GPU, try for example:
#   model = "mobilenet_v2"; image_size = 224; images = 2048; batch_sizes = [1, 8, 32, 128, 512, 1024]
model = "tiny"          # "tiny", "demo", a keras.applications name, or a .keras/.h5 file
image_size = 96         # pixels a side (None: the model's own size)
images = 256            # synthetic images per pass
batch_sizes = [1, 4, 16, 64, 256]
search_share = 0.6      # the search's budget is set so that about this share of `images` fits
margin = 0.1            # share of the budget kept free for run-to-run variation
min_duration_s = 0.0    # 0: one pass over the images per trial, the same work at every batch size.
                        # Longer runs steady the throughput figures, but compare memory only
                        # between trials that made the same number of predict() passes.
out_dir = ""            # "" for a fresh temporary folder

# %%
NOTEBOOK = "02"

# Set-up shared by the teaching notebooks (each imports what it uses). The kernel never
# imports TensorFlow: every trial runs in its own process, so an out-of-memory kill costs one
# trial, not this kernel.
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

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
# ## 1. Sweep the batch size
#
# Each batch size is one fresh process: build the model, make the images, warm up (the first
# call traces the model), then time whole passes over the images. The host peak is the
# kernel's own high-water mark for the process during prediction, so a spike of a millisecond
# is counted.

# %%
sweep = wb.SweepConfig(
    model=wb.ModelSpec(model, image_size=image_size),
    data=wb.DataSpec("synthetic", count=images),
    batch_sizes=tuple(batch_sizes),
    timing=wb.TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=min_duration_s, drift_samples=0),
)
wb.run_sweep(sweep, out / "sweep", progress=progress)
df = wb.load_results(out / "sweep")
ok = df[is_ok(df)].sort_values("batch_size").set_index("batch_size", drop=False)
assert len(ok) >= 3, f"fewer than 3 batch sizes finished: {df[['batch_size', 'status', 'error']]}"
# On a GPU the activations live in GPU memory: follow it there; without a GPU it is not measured (NaN).
kind = "gpu" if np.isfinite(ok["gpu_peak_bytes"].astype(float)).all() else "host"
column = f"{kind}_peak_bytes"
say("Memory below means **" + ("GPU memory (TensorFlow's allocator peak)" if kind == "gpu"
                               else "host memory (the process's high-water mark); no GPU ran these trials") + "**.")
pd.DataFrame({
    "images/s": ok["throughput_ips"].round(1),
    "latency p50 (ms)": (ok["latency_p50_s"] * 1e3).round(2),
    f"peak {kind}": ok[column].map(fmt),
})

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
plots.throughput_vs_batch(df, ax=left)
plots.memory_vs_batch(df, ax=right, kind=kind)
fit = analysis.fit_memory_model(df, column=column).iloc[0]
fixed, per_image, r2 = float(fit["fixed_bytes"]), float(fit["per_image_bytes"]), float(fit["r2"])
unit, div = plots.byte_unit(ok[column])
xs = np.linspace(ok["batch_size"].min(), ok["batch_size"].max(), 200)
right.plot(xs, (fixed + per_image * xs) / div, color="0.3", linestyle=":", label="fitted: fixed + per image x batch")
right.legend(fontsize="small")
plt.show()

# %% [markdown]
# ## 2. Fixed memory and per-image memory
#
# Over the batch sizes tried, the peak follows a straight line, give or take some scatter:
# `peak = fixed + per_image x batch`. The **fixed** part is what the process holds whatever the
# batch: the Python and TensorFlow runtime, the model's weights, and the images already in
# memory (on a GPU: the weights and what TensorFlow keeps there). The **per-image** part is what one more image in the batch adds: its copy of the
# input and the outputs of every layer that are alive at the same time (the activations).

# %%
first = ok.iloc[0]
input_bytes = int(first["image_height"]) * int(first["image_width"]) * 3 * 4  # one float32 RGB input
say(f"Fitted from {int(fit['n_points'])} batch sizes: **fixed part {fmt(fixed)}**, "
    f"**{fmt(per_image)} per image**. Before its first prediction a process already held "
    f"{fmt(first['host_baseline_bytes'])} of host memory (runtime, weights and images loaded).")
residuals = ok[column] - (fixed + per_image * ok["batch_size"])
growth, scatter = per_image * (ok["batch_size"].max() - ok["batch_size"].min()), float(residuals.abs().max())
claim(growth >= 2 * scatter,
      f"memory grows with the batch: across the batch sizes tried the line rises {fmt(growth)}, more than twice "
      f"the largest gap between a measurement and the line ({fmt(scatter)}; r² = {r2:.2f})")
claim(per_image > input_bytes,
      f"one more image costs {fmt(per_image)}, {per_image / input_bytes:.1f}x its own "
      f"{fmt(input_bytes)} of float32 input: a bigger batch pays for activations, not for inputs")
b0, peak0 = int(first["batch_size"]), float(first[column])
share = per_image * b0 / peak0
if share <= 0.1:
    say(f"At batch {b0} the images' own part ({fmt(per_image * b0)}) is {share:.1%} of the {fmt(peak0)} peak: "
        "a small batch's memory is the fixed part, so making a small batch smaller saves almost nothing.")
else:
    say(f"Already at batch {b0} the images' own part ({fmt(per_image * b0)}) is {share:.0%} of the "
        f"{fmt(peak0)} peak: here the activations, not the fixed part, decide what a batch costs.")
pd.DataFrame({
    "measured": ok[column].map(fmt),
    "fixed + per image x batch": [fmt(analysis.predict_peak(fixed, per_image, b)) for b in ok.index],
})

# %% [markdown]
# ## 3. Where throughput stops improving
#
# A batch shares the fixed costs of a step (a Python call, launching the kernels, reading the
# weights) among its images. Once those are small next to the arithmetic, a bigger batch only
# costs memory, and each batch takes longer (its latency grows), which matters when someone is
# waiting for one answer.

# %%
best_batch = int(ok["throughput_ips"].idxmax())
best = float(ok.loc[best_batch, "throughput_ips"])
small = ok.iloc[0]
claim(best >= 1.25 * small["throughput_ips"],
      f"batching pays: the best throughput ({best:.0f} images/s at batch {best_batch}) is "
      f"{best / small['throughput_ips']:.1f}x that of batch {int(small['batch_size'])}")
knee = int(ok.index[ok["throughput_ips"] >= 0.9 * best].min())
say(f"Throughput first reaches 90 % of its best at **batch {knee}** "
    f"({ok.loc[knee, 'throughput_ips']:.0f} images/s, peak {fmt(ok.loc[knee, column])}).")
largest = ok.iloc[-1]
if int(largest["batch_size"]) > knee:
    extra = float(largest[column] - ok.loc[knee, column])
    gain = float(largest["throughput_ips"] / ok.loc[knee, "throughput_ips"] - 1)
    claim(extra > 0, f"going from batch {knee} to batch {int(largest['batch_size'])} costs {fmt(extra)} "
          f"more memory for {gain:+.0%} throughput: past the knee a bigger batch buys memory use, not speed")
else:
    say("Throughput still improves at the largest batch tried: add larger batch sizes to the "
        "parameters to find where it stops.")
claim(largest["latency_p50_s"] > small["latency_p50_s"],
      f"one batch of {int(largest['batch_size'])} takes {largest['latency_p50_s'] * 1e3:.1f} ms against "
      f"{small['latency_p50_s'] * 1e3:.1f} ms for batch {int(small['batch_size'])}: "
      "throughput is not latency")

# %% [markdown]
# ## 4. Finding the largest batch that fits a budget
#
# The usual advice is to start at batch 1 and double until it fails. That costs a probe for
# every doubling and then a bisection between the last success and the first failure, and its
# last doubling asks for up to **twice** the memory of the answer. When "fails" means the
# machine ran out of memory, that probe is the one that kills your kernel (or pushes
# everything else on the machine into swap).
#
# The workbench's search runs each probe in its own process **under the budget** (a probe that
# passes the budget is stopped there, far from the machine's real limit), measures batch 1 for
# the fixed part, takes one jump, and then asks the memory model where the line crosses the
# budget, confirming that guess with one more probe.
#
# Suppose this process may use the budget below (chosen from the fitted line so that about
# `search_share` of the images fit in one batch with the margin to spare). First both strategies
# are replayed on the fitted line (no process is started: each "probe" reads the line), to
# count their probes; then the real search runs.

# %%
from workbench.engine.search import search_batch

target = max(2, int(search_share * images))
budget = int((fixed + per_image * target) / (1 - margin))
template = wb.TrialConfig(model=sweep.model, data=sweep.data, batch_size=1, timing=sweep.timing)


def on_the_fitted_line(cfg: wb.TrialConfig) -> wb.TrialResult:
    """A stand-in probe that starts no process: the peak the fitted line predicts."""
    result = wb.TrialResult.for_trial(cfg)
    setattr(result, column, analysis.predict_peak(fixed, per_image, cfg.batch_size))
    return result


budget_arg = {f"{kind}_budget_bytes": budget}  # host_budget_bytes, or the simulated GPU budget on a GPU
replay = {strategy: search_batch(template, out / f"replay-{strategy}", margin=margin, probe=on_the_fitted_line,
                                 strategy=strategy, **budget_arg)
          for strategy in ("doubling", "model")}
pd.DataFrame({name: {"answer": r.batch_size, "probes": r.n_probes,
                     "batches probed": ", ".join(str(b) for b, _, _ in r.probes)}
              for name, r in replay.items()}).T

# %%
doubling, guided = replay["doubling"], replay["model"]
say(f"Budget: **{fmt(budget)}** of {kind} memory, {margin:.0%} of it kept free.")
claim(doubling.batch_size == guided.batch_size and guided.n_probes < doubling.n_probes,
      f"on the same memory curve both find batch {guided.batch_size}; doubling needs "
      f"{doubling.n_probes} probes, the model-guided search {guided.n_probes}")
limit = budget * (1 - margin)
failures = [(b, peak) for (b, _, peak), fits in zip(doubling.probes, doubling.fits, strict=True) if not fits]
overshoot_batch, overshoot_peak = max(failures, key=lambda f: f[1])
claim(overshoot_peak > limit,
      f"doubling learns where the limit is only by passing it: its largest probe, batch {overshoot_batch}, "
      f"needs about {fmt(overshoot_peak)}, {fmt(overshoot_peak - limit)} over the {fmt(limit)} it may use, "
      f"with {overshoot_batch / doubling.batch_size:.1f}x the activations of the answer")
activations = per_image * guided.batch_size / analysis.predict_peak(fixed, per_image, guided.batch_size)
say(f"At the answer, activations are {activations:.0%} of the peak, so here that overshoot is "
    f"{overshoot_peak / limit - 1:.0%} of the memory. Where activations are most of the memory (a large "
    "model on a GPU), the last doubling asks for close to twice the memory of the answer; if that limit is "
    "the machine's real memory, the probe is an out-of-memory kill.")


# %%
def probe_line(event) -> None:
    if event.kind == "end":
        print(f"probe {event.index + 1}: batch {event.batch_size:4} {str(event.result.status):11} "
              f"peak {fmt(getattr(event.result, column))} -> {'fits' if event.fits else 'does not fit'}", flush=True)


found = search_batch(template, out / "search", margin=margin, progress=probe_line, **budget_arg)
predicted = analysis.max_batch_for_budget(fixed, per_image, budget, margin)
say(f"The real search answered **batch {found.batch_size}** in {found.n_probes} probes, each an isolated "
    f"process; the line fitted to the sweep predicted batch {predicted}.")
# The answer ran at least twice (its probe, and the search's confirmation run): every run counts.
answer_peaks = [peak for (b, _, peak), fits in zip(found.probes, found.fits, strict=True) if b == found.batch_size and fits]
answer_peaks += [c["peak_bytes"] for c in found.confirmations if c["batch_size"] == found.batch_size]
answer_peak = max(answer_peaks)
claim(answer_peak <= budget * (1 - margin),
      f"at batch {found.batch_size} the largest of its {len(answer_peaks)} measured peaks, {fmt(answer_peak)}, stays under the budget less the margin "
      f"({fmt(budget * (1 - margin))})")
# How far each measured probe strayed from the line: the run-to-run wobble the margin is there for.
gaps = [(b, peak - analysis.predict_peak(fixed, per_image, b)) for b, status, peak in found.probes if status == "ok"]
worst_batch, worst = max(gaps, key=lambda g: abs(g[1]))
claim(found.n_probes < doubling.n_probes,
      f"with real, wobbling peaks the search needed {found.n_probes} probes, fewer than the {doubling.n_probes} "
      "that doubling needs even on the smooth line")
if abs(worst) <= margin * budget:
    say(f"The probes' peaks stayed within {fmt(abs(worst))} of the fitted line (the largest gap at batch "
        f"{worst_batch}), inside the {margin:.0%} margin of {fmt(margin * budget)}: that wobble is what the margin is for.")
else:
    say(f"A probe's peak strayed {fmt(abs(worst))} from the fitted line (batch {worst_batch}), more than the "
        f"{margin:.0%} margin of {fmt(margin * budget)}: on this machine, use a larger margin.")
if abs(found.batch_size - predicted) > max(2, 0.1 * predicted):
    say(f"A wobble of {fmt(abs(worst))} is worth about {abs(worst) / per_image:.0f} images at "
        f"{fmt(per_image)} each, which is why the answer measured today ({found.batch_size}) and the line's "
        f"prediction ({predicted}) differ; the margin is what absorbs a wobble of that size.")
if found.n_probes > guided.n_probes:
    say(f"It took {found.n_probes} probes, not the {guided.n_probes} of the replay on the smooth line: the search "
        "confirms the model's guesses before it trusts them.")

# %% [markdown]
# ## What to take away
#
# - Peak memory is a fixed part plus a per-image part; the per-image part (activations) is what
#   grows with the batch, and it says, give or take the scatter, what a larger batch will cost
#   before you try it.
# - Throughput climbs steeply at small batches and then flattens: past the knee, a bigger batch
#   costs memory and latency and buys little speed.
# - To find the largest batch that fits, measure a few isolated probes under a budget and let the
#   memory model aim, rather than doubling into an out-of-memory kill
#   (`python -m workbench search --help`).

# %%
# The kernel stayed free of TensorFlow: every figure above came from isolated trial processes.
assert "tensorflow" not in sys.modules, "TensorFlow was imported in the notebook kernel"
say(f"TensorFlow was never imported in this kernel. The raw results are in `{out}`.")
