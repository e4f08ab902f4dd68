# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Batch size: what memory grows with, and where the straight line holds
#
# Larger batches are faster, until they are not, and they always cost memory. This notebook
# measures, **on this machine**, for one small CNN at 128 px over 1,024 images, batch sizes 1 to
# 1,024, each setting twice (so every effect is compared with how much the same trial moves
# between runs):
#
# 1. peak memory and throughput against the batch size, from zero;
# 2. the memory model `peak = fixed + per_image x batch`, its **residuals**, and the batch range
#    where its straight line holds;
# 3. why a slope fitted over small batches differs from one fitted over large ones (two pipelines:
#    `model.predict` on an array, and `stream_to_disk`, which holds one batch at a time);
# 4. the largest batch under a budget: the line's prediction against a real search and the
#    batches measured on either side.
#
# It takes about a minute here: 67 s, measured once, alone, on the 2-core machine this was written
# on (the 36 trials and the search's probes are nearly all of it; the last cell prints this run's time). Every trial runs in its own process (TensorFlow is never
# imported in this kernel). Sentences marked **✔ checked** are tested against the numbers this
# run measured: if the story stops matching the measurement, the notebook fails rather than
# teach folklore.

# %% tags=["parameters"]
# Defaults run in about a minute on a 2-core CPU. With a GPU, try for example:
#   model = "mobilenet_v2"; image_size = 224; images = 2048; batch_sizes = [1, 8, 32, 128, 512, 1024]
model = "tiny"          # "tiny", "demo", a keras.applications name, or a .keras/.h5 file
image_size = 128        # pixels a side
images = 1024           # images per pass (written once to a .npy file, read by every trial)
batch_sizes = [1, 4, 16, 32, 64, 128, 256, 512, 1024]
small_up_to = 64        # "small batches": the slope is fitted over batches up to this one
large_from = 256        # "large batches": ... and over batches from this one
runs = 2                # each setting runs this many times: the spread every claim is held against
search_share = 0.6      # the budget is set so that about this share of `images` fits in one batch
margin = 0.1            # share of the budget kept free for run-to-run variation
out_dir = ""            # "" for a fresh temporary folder

# %%
NOTEBOOK = "02"

# Set-up shared by the teaching notebooks (each imports what it uses). The kernel never
# imports TensorFlow: every trial runs in its own process, so an out-of-memory kill costs one
# trial, not this kernel.
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import workbench as wb
from workbench import analysis
from workbench import format_bytes as fmt
from workbench.analysis.memory_model import fit_line
from workbench.render import plots
from workbench.teaching import claim, is_ok, progress, random_images_npy, say

out = Path(out_dir).expanduser() if out_dir else Path(tempfile.mkdtemp(prefix=f"workbench-{NOTEBOOK}-"))
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 120)
started = time.perf_counter()
MIB = 2**20
print(f"results go to {out}")

# %% [markdown]
# ## 1. Sweep the batch size, twice
#
# The images are written once to a `.npy` file (random pixels; memory does not care what they
# show). Two pipelines read it:
#
# * `in_memory`: the whole array loaded, then `model.predict(x, batch_size=b)`, what most code does;
# * `stream_to_disk`: each batch read from the file into one reused buffer, predicted, and its
#   outputs appended to a file: nothing but the batch being predicted is held.
#
# Each batch size of each pipeline is one fresh process: build the model, load the data, warm up
# (the first call traces the model), then one pass over the images. The host peak is the kernel's
# own high-water mark for the process during prediction, so a spike of a millisecond counts. The
# whole sweep runs `runs` times, interleaved, and how far two runs of one setting land apart is
# the **spread** every claim below is compared with.

# %%
npy_path = out / "images.npy"
array_bytes = random_images_npy(npy_path, images, image_size)  # a slice at a time: this kernel never holds the set
input_bytes = image_size * image_size * 3 * 4  # one float32 RGB image
sweep = wb.SweepConfig(
    model=wb.ModelSpec(model, image_size=image_size),
    data=wb.DataSpec.parse(str(npy_path)),
    pipelines=("in_memory", "stream_to_disk"),
    batch_sizes=tuple(batch_sizes),
    repeat=runs,
    timing=wb.TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=0.0, min_passes=1, drift_samples=0),
)
wb.run_sweep(sweep, out / "sweep", progress=progress)
df = wb.load_results(out / "sweep")
assert is_ok(df).all(), df.loc[~is_ok(df), ["pipeline", "batch_size", "status", "error"]]
# On a GPU the activations live in GPU memory: follow it there; without a GPU it is not measured (NaN).
kind = "gpu" if np.isfinite(df["gpu_peak_bytes"].astype(float)).all() else "host"
df["peak"] = analysis.budget_peak(df, kind)
df["run"] = df["repeat"].fillna(0).astype(int) + 1
peaks = df.pivot_table(index=["pipeline", "batch_size"], columns="run", values="peak")
spread = float((peaks.max(axis=1) - peaks.min(axis=1)).max())  # the largest gap between two runs of one setting
mean = peaks.mean(axis=1)
say("Memory below means **" + ("GPU memory (TensorFlow's allocator peak)" if kind == "gpu"
                               else "host memory (the process's high-water mark over warm-up and the pass)")
    + f"**; the images are {fmt(array_bytes)} as float32 ({fmt(input_bytes)} each).")
pd.DataFrame({f"peak, run {r}": peaks[r].map(fmt) for r in peaks.columns}).assign(
    **{"runs apart": (peaks.max(axis=1) - peaks.min(axis=1)).map(fmt)}).unstack(0)

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
plots.throughput_vs_batch(df, ax=left)
plots.memory_vs_batch(df, ax=right, kind=kind)
right.set_ylim(bottom=0)  # an absolute quantity: from zero, so the runtime floor shows
plt.show()
mem = mean.xs("in_memory")
growth = float(mem.iloc[-1] - mem.iloc[0])
claim(growth >= 3 * spread,
      f"memory grows with the batch: `in_memory`'s peak rises {fmt(growth)} from batch {mem.index[0]} to "
      f"{mem.index[-1]}, {growth / max(spread, 1):.0f}x the largest gap between two runs of one setting ({fmt(spread)})")

# %% [markdown]
# ## 2. The memory model and its residuals
#
# The workbench fits `peak = fixed + per_image x batch` per pipeline. A straight line does not
# always fit every batch size, so it fits **where it holds**: it drops the smallest batches while
# the line misses a point by more than 2 % of its peak (keeping at least three sizes), because the
# budget edge is at the large batches. The residuals (measured less fitted) show what is left:
# a pattern in them means the line is the wrong shape there, not noise.

# %%
fits = analysis.fit_memory_model(df, kind=kind).set_index("pipeline")
residuals = analysis.memory_residuals(df, kind=kind)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained", sharey=True)
for ax, (pipeline, part) in zip(axes, residuals.groupby("pipeline"), strict=True):
    fit = fits.loc[pipeline]
    for used, marker in ((True, "o"), (False, "x")):
        rows = part[part["used"] == used]
        ax.plot(rows["batch_size"], rows["residual_bytes"] / MIB, marker, linestyle="none",
                label="in the fitted range" if used else "below it (not fitted)")
    ax.axhline(0, color="0.3", linewidth=1)
    ax.axvspan(fit["min_batch"], fit["max_batch"], color="0.9", zorder=0)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size")
    ax.set_title(f"{pipeline}: fitted over batches {int(fit['min_batch'])}-{int(fit['max_batch'])}")
    ax.legend(fontsize="small")
axes[0].set_ylabel("measured - fitted peak (MiB)")
plt.show()
pd.DataFrame({
    "fixed": fits["fixed_bytes"].map(fmt), "per image": fits["per_image_bytes"].map(fmt),
    "fitted over batches": fits["min_batch"].astype(int).astype(str) + "-" + fits["max_batch"].astype(int).astype(str),
    "largest miss in range": fits["max_residual_bytes"].map(fmt), "note": fits["note"],
})

# %%
sd, im = fits.loc["stream_to_disk"], fits.loc["in_memory"]
claim(sd["per_image_bytes"] > 3 * input_bytes,
      f"one more image in a batch costs {fmt(sd['per_image_bytes'])} on `stream_to_disk`, "
      f"{sd['per_image_bytes'] / input_bytes:.1f}x its own {fmt(input_bytes)} of float32 input: a bigger batch pays "
      "for the activations (every layer's outputs alive together), not for the inputs")
below = residuals[(residuals["pipeline"] == "in_memory") & ~residuals["used"]]
if len(below):
    worst = below.loc[below["residual_bytes"].abs().idxmax()]
    claim(abs(worst["residual_bytes"]) > 3 * spread,
          f"the straight line bends for `in_memory`: fitted over batches {int(im['min_batch'])}-{int(im['max_batch'])}, "
          f"it misses batch {int(worst['batch_size'])} by {fmt(worst['residual_bytes'])}, more than 3x the spread "
          f"between runs ({fmt(spread)}): that is the curve's shape, not noise")
else:
    say("The straight line fitted every batch size of `in_memory` within 2 % here.")

# %% [markdown]
# ## 3. The slope depends on where you fit it
#
# "How much does one more image in a batch cost?" is the slope of the line. Fit it over the small
# batches and over the large ones, in each run separately, and compare: a difference counts only
# when it is more than 3x the gap between the runs.

# %%
def slope(pipeline: str, lo: int, hi: int, run: int) -> float:
    rows = df[(df["pipeline"] == pipeline) & (df["run"] == run) & df["batch_size"].between(lo, hi)]
    return fit_line(rows["batch_size"], rows["peak"])[1]


# Two nearby batches, the kind of pair a quick fit uses (16 and 64 where both ran).
pair = (16, 64) if {16, 64} <= set(batch_sizes) else tuple(sorted(b for b in batch_sizes if b <= small_up_to)[-2:])
windows = {f"small ({batch_sizes[0]}-{small_up_to})": (batch_sizes[0], small_up_to),
           f"large ({large_from}-{batch_sizes[-1]})": (large_from, batch_sizes[-1]),
           f"two points: {pair[0]} and {pair[1]}": pair}
table = pd.DataFrame([{"pipeline": p, "batches": w, **{f"run {r}": slope(p, lo, hi, r) for r in range(1, runs + 1)}}
                      for p in ("in_memory", "stream_to_disk") for w, (lo, hi) in windows.items()])
run_columns = [f"run {r}" for r in range(1, runs + 1)]
table["slope"] = table[run_columns].mean(axis=1)
table["spread"] = table[run_columns].max(axis=1) - table[run_columns].min(axis=1)
slopes = table.set_index(["pipeline", "batches"])
small_w, large_w = list(windows)[:2]
table.assign(**{c: table[c].map(lambda v: f"{fmt(v)}/image") for c in [*run_columns, "slope", "spread"]})

# %%
s_small, s_large = slopes.loc[("in_memory", small_w)], slopes.loc[("in_memory", large_w)]
d_small, d_large = slopes.loc[("stream_to_disk", small_w)], slopes.loc[("stream_to_disk", large_w)]
gap = s_small["slope"] - s_large["slope"]
claim(gap > 3 * max(s_small["spread"], s_large["spread"]) and gap > 0.1 * s_large["slope"],
      f"`in_memory`: one more image costs {fmt(s_small['slope'])} fitted over small batches and {fmt(s_large['slope'])} "
      f"over large ones ({s_small['slope'] / s_large['slope']:.2f}x), a difference {gap / max(s_small['spread'], s_large['spread'], 1):.0f}x "
      "the gap between runs")
bend = abs(d_small["slope"] - d_large["slope"])
# How far two runs can move each difference of slopes: the runs' spreads of the two slopes it subtracts.
gap_noise, bend_noise = s_small["spread"] + s_large["spread"], d_small["spread"] + d_large["spread"]
# The second term sums four slopes' spreads from two runs each: it sits near 3x in some runs (500 vs 503 KiB
# in one CI run), so only the first, the size of the bend, is checked; the second is reported.
claim(bend < gap / 3,
      f"`stream_to_disk`, which holds nothing but the batch, bends much less: {fmt(d_small['slope'])} over small "
      f"batches, {fmt(d_large['slope'])} over large ones, a difference ({fmt(bend)}) under a third of `in_memory`'s "
      f"({fmt(gap)}); the two differences are {fmt(gap - bend)} apart, "
      f"{(gap - bend) / max(gap_noise + bend_noise, 1):.0f}x the runs' spread of the four slopes ({fmt(gap_noise + bend_noise)})")
straight = bend <= 3 * bend_noise  # within its runs' spread: no bend measured at all
extra = s_small["slope"] - d_small["slope"]
# Over batches 1-64 the two pipelines' rises differ by only a few tens of MiB, about 3x the gap between
# two runs of one setting: in some runs beyond it, in others not. So it is reported with its spread.
extra_noise = 3 * max(s_small["spread"], d_small["spread"])
say(f"Over small batches `model.predict` on the array costs {fmt(extra)} more per image than `stream_to_disk` "
    f"({extra / input_bytes:.1f} input images' worth, {fmt(input_bytes)} each, for every image of the batch); "
    + ("beyond 3x the runs' spread of the two slopes." if extra > extra_noise else
       f"but in this run that is within 3x the runs' spread of the two slopes ({fmt(extra_noise)}): no measurable "
       "difference here."))
two = slopes.loc[("in_memory", list(windows)[2])]
wobble = 2 * spread / (pair[1] - pair[0])
say(f"Why the slopes differ, most likely (read from Keras' source, not isolated by this run): `model.predict(x)` "
    f"feeds the array through a `tf.data` pipeline that prefetches (Keras' array adapter ends it with "
    f"`prefetch(tf.data.AUTOTUNE)`), so besides the batch being predicted it holds batches ahead of the model: the "
    f"extra measured above is about {extra / input_bytes:.0f} batches of inputs while batches are small. At large batches it holds fewer, and with "
    f"{images:,} images a batch of {large_from} leaves only {images // large_from} batches to hold at all, so the "
    f"curve flattens ({fmt(s_large['slope'])} an image against {fmt(s_small['slope'])}); `stream_to_disk` holds one "
    "batch (the input buffer and the activations), and its slope "
    + (f"is the same at both ends within the runs' spread ({fmt(d_small['slope'])} and {fmt(d_large['slope'])}). "
       if straight else f"changes less between the ends ({fmt(d_small['slope'])} to {fmt(d_large['slope'])}). ")
    + f"A slope is therefore a property of the range it was fitted over, and of the ratio of batch to data set size. "
    f"A slope from two nearby batches adds noise on top: batches {pair[0]} and {pair[1]} gave {fmt(two['slope'])} an image "
    "here, "
    f"and a gap of {fmt(spread)} between runs moves such a slope by up to {fmt(wobble)} an image. Both together "
    "likely explain the slopes 3x apart that issue 14 reported for an earlier version of notebooks 02 and 05 (the "
    "same model fitted over different ranges; not measured by this run).")

# %% [markdown]
# ## 4. Where throughput stops improving
#
# A batch shares the fixed costs of a step (a Python call, launching the kernels, reading the
# weights) among its images. Once those are small next to the arithmetic, a bigger batch only
# costs memory. Speeds are compared through the spread of the two runs: "faster" only where the
# difference is larger than that spread.

# %%
folded = analysis.aggregate_repeats(df[df["pipeline"] == "in_memory"]).set_index("batch_size").sort_index()
best_batch = int(folded["throughput_ips"].idxmax())
verdict, ratio = analysis.speed_verdict(folded.loc[best_batch], folded.iloc[0])
say(f"`in_memory`: the best median throughput is {folded.loc[best_batch, 'throughput_ips']:.0f} images/s at batch "
    f"{best_batch}, against {folded['throughput_ips'].iloc[0]:.0f} at batch {folded.index[0]}: "
    + (f"**{ratio:.1f}x faster**, beyond the runs' spread." if verdict == "faster"
       else f"**{verdict}** ({ratio:.2f}x) once the spread between runs is counted."))
knee = int(folded.index[folded["throughput_ips"] >= 0.9 * folded.loc[best_batch, "throughput_ips"]].min())
past, past_ratio = analysis.speed_verdict(folded.loc[best_batch], folded.loc[knee])
last, last_ratio = analysis.speed_verdict(folded.iloc[-1], folded.loc[knee])  # the largest batch against the knee
if knee == folded.index[-1]:
    beyond = "Throughput rose up to the largest batch measured: this run found no knee. "
elif best_batch == knee:
    beyond = (f"The knee is also the fastest batch; batch {folded.index[-1]} ran at {last_ratio:.2f}x its speed, "
              f"**{last}** once the spread between runs is counted: past the knee a bigger batch bought memory use, "
              "not speed. ")
elif past == "no measurable difference":
    beyond = (f"Batch {best_batch}, the fastest, ran at {past_ratio:.2f}x batch {knee}'s speed: **no measurable "
              "difference** once the spread between runs is counted, so past the knee a bigger batch bought memory "
              "use, not measurable speed. ")
else:
    beyond = (f"Batch {best_batch}, the fastest, ran at {past_ratio:.2f}x batch {knee}'s speed, **{past}** beyond the "
              f"spread between runs, for {fmt(mem[best_batch] - mem[knee])} more memory. ")
say(f"Throughput first reaches 90 % of its best at batch {knee} ({fmt(mem[knee])} peak); batch {mem.index[-1]} "
    f"costs {fmt(mem.iloc[-1] - mem[knee])} more memory than that. {beyond}"
    "(Throughput on 2 shared cores is noisy: read the error bars.)")

# %% [markdown]
# ## 5. Finding the largest batch that fits a budget
#
# The usual advice is to start at batch 1 and double until it fails. That costs a probe for
# every doubling and then a bisection, and its last doubling asks for up to **twice** the
# activations of the answer: when "fails" means the machine ran out of memory, that probe is the
# one that kills your kernel.
#
# The workbench's search runs each probe in its own process **under the budget** (a probe that
# passes it is stopped there), measures batch 1 for the fixed part, takes one jump, and then asks
# the memory model where the line crosses the budget, confirming the answer by running it again.
#
# The budget below is set from the fitted `in_memory` line so that about `search_share` of the
# images fit in one batch with the margin to spare. The line's prediction is then set beside the
# batches the sweep measured on either side of it (a loose bracket) and beside a real search,
# whose own answer moves from run to run near the edge; both are shown, not checked. The
# checks are that the search's answer holds when run again, and what a line from small batches
# gets wrong against the sweep's own measurements.

# %%
from workbench.engine.search import search_batch

fixed, per_image = float(im["fixed_bytes"]), float(im["per_image_bytes"])
target = max(2, int(search_share * images))
budget = int(analysis.predict_peak(fixed, per_image, target) / (1 - margin))
limit = budget * (1 - margin)
predicted = analysis.max_batch_for_budget(fixed, per_image, budget, margin)
template = wb.TrialConfig(model=sweep.model, data=sweep.data, batch_size=1, timing=sweep.timing)


def on_the_fitted_line(cfg: wb.TrialConfig) -> wb.TrialResult:
    """A stand-in probe that starts no process: the peak the fitted line predicts."""
    result = wb.TrialResult.for_trial(cfg)
    setattr(result, f"{kind}_peak_bytes", analysis.predict_peak(fixed, per_image, cfg.batch_size))
    return result


budget_arg = {f"{kind}_budget_bytes": budget}  # host_budget_bytes, or the simulated GPU budget on a GPU
replay = {strategy: search_batch(template, out / f"replay-{strategy}", margin=margin, probe=on_the_fitted_line,
                                 strategy=strategy, **budget_arg)
          for strategy in ("doubling", "model")}
doubling, guided = replay["doubling"], replay["model"]
say(f"Budget: **{fmt(budget)}** of {kind} memory, {margin:.0%} of it kept free: the limit is {fmt(limit)}. "
    f"The `in_memory` line puts the largest batch under it at **batch {predicted}**.")
# On an exact line the outcome follows from the two strategies' rules, so it is shown, not checked.
say(f"Replayed on the fitted line itself (no process started), doubling finds batch {doubling.batch_size} in "
    f"{doubling.n_probes} probes ({', '.join(str(b) for b, _, _ in doubling.probes)}), the model-guided search batch "
    f"{guided.batch_size} in {guided.n_probes}. On an exact line that is how the two rules play out, not a "
    "measurement: the real search below meets noisy peaks.")
mem_all = df[df["pipeline"] == "in_memory"].groupby("batch_size")["peak"].max()  # a budget holds for every run
under, over = mem_all[mem_all <= limit], mem_all[mem_all > limit]
if len(under) and len(over):  # a loose bracket (the budget was set from the line): shown, not checked
    say(f"The sweep's neighbours: batch {under.index.max()} peaked at {fmt(under.iloc[-1])} (under the limit in every "
        f"run) and batch {over.index.min()} at {fmt(over.iloc[0])} (over it); the prediction, batch {predicted}, lies "
        + ("between them." if under.index.max() <= predicted < over.index.min() else "outside them.")
        + " The search below looks much closer.")


# %%
def probe_line(event) -> None:
    if event.kind == "end":
        print(f"probe {event.index + 1}: batch {event.batch_size:4} {str(event.result.status):11} "
              f"peak {fmt(getattr(event.result, f'{kind}_peak_bytes'))} -> {'fits' if event.fits else 'does not fit'}",
              flush=True)


found = search_batch(template, out / "search", margin=margin, progress=probe_line, **budget_arg)
answer_peaks = [peak for (b, _, peak), fits in zip(found.probes, found.fits, strict=True) if b == found.batch_size and fits]
answer_peaks += [c["peak_bytes"] for c in found.confirmations if c["batch_size"] == found.batch_size]
# The search's answer itself moves between runs (541, 651 and 706 in three runs where this was written:
# peaks near the edge step by tens of MiB from one batch to the next, shown below), so where the line's
# prediction falls beside it is reported, not checked; what is checked is that the answer holds when
# run again, and, against the sweep's own measurements, what a line from small batches gets wrong.
say(f"The real search answered **batch {found.batch_size}** in {found.n_probes} probes (each an isolated process); "
    f"the line fitted where it holds predicted {predicted}, "
    f"{abs(found.batch_size - predicted) / found.batch_size:.0%} {'below' if predicted <= found.batch_size else 'above'} "
    "the answer. Near the edge a peak can step by tens of MiB for one image more, and the search's answer moves with "
    "it from run to run: read the line's batch as a starting point for the search, not as the edge.")
# That the answer's runs stay under the limit is the search's own rule. Whether a second run of the first answer
# also fits is the run's noise (a fresh-clone CI run stepped down from its first answer to batch 547), so it is reported; what is
# checked is what the margin is for: every rerun, the one that went over the limit included, stayed under the
# budget itself, and the confirmed answer's runs moved by less than a third of the margin.
moved = max(answer_peaks) - min(answer_peaks)
over_limit = [c for c in found.confirmations if not c["fits"]]
rerun_peaks = [c["peak_bytes"] for c in found.confirmations]
if over_limit:
    say(f"A second run of batch {over_limit[0]['batch_size']} peaked at {fmt(over_limit[0]['peak_bytes'])}, over the "
        f"{fmt(limit)} limit though its first run fitted: the search stepped down to batch {found.batch_size} and ran it "
        "twice. That is the run-to-run noise the margin is kept for.")
else:
    say("The second run of the search's answer fitted as the first did: no step down was needed this time.")
if found.confirmed:
    claim(len(answer_peaks) >= 2 and 3 * moved < margin * budget and max(rerun_peaks) < budget,
          f"the answer holds when run again: batch {found.batch_size} ran {len(answer_peaks)} times with peaks "
          f"{fmt(min(answer_peaks))} to {fmt(max(answer_peaks))}, {fmt(moved)} apart, less than a third of the "
          f"{fmt(margin * budget)} margin kept free for run-to-run variation; every rerun the search made peaked at "
          f"most {fmt(max(rerun_peaks))}, under the {fmt(budget)} budget itself")
else:  # the runs moved by more than four confirmation runs could step around (a busy machine): said, not hidden
    say(f"This time the runs moved more than the search's {len(found.confirmations)} confirmation runs could step "
        f"around, and it says so: {found.notes[-1]}. On a busy machine, run the search again.")
    claim(max(rerun_peaks) < budget,
          f"what the margin is for held even so: every rerun the search made peaked at most {fmt(max(rerun_peaks))}, "
          f"under the {fmt(budget)} budget itself")
small_rows = df[(df["pipeline"] == "in_memory") & (df["batch_size"] <= small_up_to)]
small_fixed, small_slope, _ = fit_line(small_rows["batch_size"], small_rows["peak"])
from_small = analysis.max_batch_for_budget(small_fixed, small_slope, budget, margin)
largest = int(mem_all.index.max())
over_predicted = analysis.predict_peak(small_fixed, small_slope, largest) - mem_all.loc[largest]
claim(over_predicted > 3 * spread,
      f"extrapolated from the small batches alone ({fmt(small_slope)} an image over batches up to {small_up_to}), a "
      f"line over-predicts the peak at batch {largest:,} by {fmt(over_predicted)} (measured {fmt(mem_all.loc[largest])}, "
      f"more than 3x the {fmt(spread)} between two runs of one setting), and would have put the largest batch under "
      f"this budget at {from_small} (the search: {found.batch_size}; the line fitted where it holds: {predicted})")
probed = sorted((b, peak) for b, status, peak in found.probes if status == "ok")
jumps = [(b1, b2, p2 - p1) for (b1, p1), (b2, p2) in zip(probed, probed[1:], strict=False) if b2 - b1 <= 16]
if jumps:
    b1, b2, jump = max(jumps, key=lambda j: j[2] - per_image * (j[1] - j[0]))
    excess = jump - per_image * (b2 - b1)
    images_word = f"{b2 - b1} more image{'s' if b2 - b1 > 1 else ''}"
    # Said only when the jump beyond the line is more than 3x the largest gap between two runs of one setting.
    say((f"Memory is not smooth in the batch size near the edge: batch {b1} peaked at {fmt(dict(probed)[b1])} and "
         f"batch {b2} at {fmt(dict(probed)[b2])}, {fmt(jump)} for {images_word} where the line says "
         f"{fmt(per_image * (b2 - b1))}, {excess / max(spread, 1):.1f}x the gap between two runs of one setting. That "
         "is why the search measures near the edge instead of trusting any line, and keeps a margin.")
        if excess > 3 * spread else
        (f"Near the edge the probes follow the line within the runs' spread: the largest jump, batch {b1} to {b2}, "
         f"was {fmt(jump)} for {images_word} where the line says {fmt(per_image * (b2 - b1))}. The search still "
         "measures there rather than trusting the line, and keeps a margin for the runs' spread."))


# %% [markdown]
# ## What to take away
#
# - Peak memory is a fixed part plus a per-image part, **over the range where you measured it**.
#   Activations set the per-image part; `model.predict` on an array adds the batches its input
#   pipeline holds ahead, which makes small batches cost more per image than large ones.
# - So fit the slope where the answer will be (the large batches near the budget) and look at the
#   residuals before trusting it; a slope from two nearby batches carries their noise.
# - **The decision:** to choose a batch size for a memory budget, do not extrapolate from small
#   batches and do not double into an out-of-memory kill: run the workbench's search
#   (`python -m workbench search --host-budget ...`), which measures isolated probes near the
#   edge and confirms its answer.

# %%
# The kernel stayed free of TensorFlow: every figure above came from isolated trial processes.
assert "tensorflow" not in sys.modules, "TensorFlow was imported in the notebook kernel"
say(f"TensorFlow was never imported in this kernel. This run took {time.perf_counter() - started:.0f} s; "
    f"the raw results are in `{out}`.")
