# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Input pipelines: where the memory goes
#
# The same model and the same images can reach `predict` in several ways, and they cost very
# different amounts of memory and time:
#
# | pipeline | what it does |
# |---|---|
# | `in_memory` | decode every image into one array, then `model.predict(x, batch_size=b)` |
# | `batch_loop` | the same array, but a Python loop calls `model.predict` on one slice at a time |
# | `stream` | read each batch from disk as it is needed (`tf.data`, a few batches prefetched), `model.predict` on the dataset |
# | `stream_to_disk` | read each batch from disk, predict it and append its outputs to a file at once |
#
# **What you will learn**, from numbers this machine measures while you read:
#
# 1. what holding the whole array costs in host memory: the array, and Keras' copies of it;
# 2. what calling `predict` in a Python loop costs in speed, and which speed differences are real
#    (larger than the spread between two runs of the same setting);
# 3. that streaming the *input* does not make memory independent of the number of images:
#    `model.predict` keeps every output until the end, so memory grows with the data set, unless
#    the outputs go to disk as they come;
# 4. that `predict`, `predict_on_batch` and a compiled `model(x, training=False)` are not the
#    same call: what each holds, what each costs a call, and when each traces (the first call,
#    and again for a partial last batch);
# 5. whether resident memory creeps across repeated calls, and by how much beyond the noise;
# 6. how to predict the peak of a job on your whole data set from a few small runs (the memory
#    model's term per dataset image), and how far that prediction reaches.
#
# **Time:** about 2 minutes: 133 s, measured once, alone, on the 2-core machine this was written on.
# The last cell prints this run's time. 31 trials and 6 probes run, each in its own process; this kernel never imports
# TensorFlow. Sentences marked **✔ checked** are tested
# against this run's numbers: if the story stops matching the measurement, the notebook stops.

# %% tags=["parameters"]
# Defaults run in about 2 minutes on a 2-core CPU. With more memory and a GPU, try for example:
#   model = "mobilenet_v2"; image_size = 224; images = 4096; batch_sizes = [32, 256]
model = "tiny"          # sections 1-6: "tiny", a keras.applications name, or a .keras/.h5 file
image_size = 64         # pixels a side of the images written to disk (and of the model's input)
images = 2048           # images in the data set of sections 1-6
batch_sizes = [32, 128]
min_duration_s = 1.0    # seconds each trial of sections 1-4 times (at least 5 passes when a pass is shorter)
calls_images = 1000     # section 5: images (of the same file) each way of calling the model predicts
calls_batch = 64        # section 5's batch size: 1000 images at 64 leave a last batch of 40
calls_passes = 15       # passes of each call in section 5 (the first traces; creep is read over the rest)
n_model = "mobilenet_v2"  # section 7: a model whose outputs are large enough to see (1000 classes)
n_image_size = 32       # pixels a side for section 7 (small: streamed inputs stay small; the outputs grow with N)
n_outputs = 1000        # values n_model outputs per image (float32: 4 bytes each)
n_sizes = [1000, 2000, 4000, 16000]  # dataset sizes of section 7; the largest is predicted from the others
n_batch = 64            # batch size of section 7
target_images = 100_000  # section 8: the size of the real job to answer for
out_dir = ""            # "" for a fresh temporary folder

# %%
NOTEBOOK = "03"

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
from workbench import format_bytes as fmt
from workbench.teaching import claim, is_ok, progress, say

started = time.perf_counter()
out = Path(out_dir).expanduser() if out_dir else Path(tempfile.mkdtemp(prefix=f"workbench-{NOTEBOOK}-"))
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 120)
MIB = 2**20
print(f"results go to {out}")

# %% [markdown]
# ## 1. The same images, twice on disk
#
# Random 8-bit RGB pixels: memory and speed do not depend on what the pictures show. On disk an
# image is one byte per channel; decoded for the model it is a float32, four bytes per channel,
# so the decoded set is four times the `.npy` file.

# %%
from PIL import Image

rng = np.random.default_rng(0)
pixels = rng.integers(0, 256, size=(images, image_size, image_size, 3), dtype=np.uint8)
npy_path = out / "images.npy"
np.save(npy_path, pixels)
folder = out / "images"
folder.mkdir(exist_ok=True)
for i, image in enumerate(pixels):
    Image.fromarray(image).save(folder / f"{i:05d}.png")
decoded = images * image_size * image_size * 3 * 4  # float32, as the model receives them
say(f"{images} images of {image_size}x{image_size}: `.npy` file {fmt(npy_path.stat().st_size)}, "
    f"PNG folder {fmt(sum(f.stat().st_size for f in folder.iterdir()))}, "
    f"**decoded {fmt(decoded)}**.")

# %% [markdown]
# ## 2. Run every pipeline, twice
#
# One trial per pipeline and batch size on the `.npy` file, and the stream pipeline on the PNG
# folder. `host baseline` is the process's resident memory after loading (before the first
# prediction); `peak` is its high-water mark over the warm-up and the first pass over the data.
#
# Every setting runs **twice**, in two separate sweeps. A figure that differs between the two
# runs by more than a comparison's difference cannot decide that comparison: below, "faster"
# and "slower" are said only where the throughputs differ by more than their spread (the
# workbench's `speed_verdict`, section 4), and a memory effect is claimed only where it is at
# least 3x the difference between the two runs of the settings compared.

# %%
timing = wb.TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=min_duration_s, drift_samples=0)
spec = wb.ModelSpec(model, image_size=image_size)
runs = []
for run in (1, 2):
    print(f"run {run}")
    wb.run_sweep(wb.SweepConfig(spec, wb.DataSpec.parse(str(npy_path)), pipelines=("in_memory", "batch_loop", "stream"),
                                batch_sizes=tuple(batch_sizes), timing=timing), out / f"npy-{run}", progress=progress)
    wb.run_sweep(wb.SweepConfig(spec, wb.DataSpec.parse(str(folder)), pipelines=("stream",),
                                batch_sizes=tuple(batch_sizes), timing=timing), out / f"folder-{run}", progress=progress)
    runs += [wb.load_results(out / f"npy-{run}").assign(run=run), wb.load_results(out / f"folder-{run}").assign(run=run)]
df = pd.concat(runs, ignore_index=True)
df["source"] = np.where(df["dataset"].str.startswith("npy"), ".npy", "folder")
df["way"] = df["pipeline"] + " (" + df["source"] + ")"
assert is_ok(df).all(), df.loc[~is_ok(df), ["way", "batch_size", "run", "status", "error"]]
by_run = df.pivot_table(index=["way", "batch_size"], columns="run",
                        values=["host_baseline_bytes", "host_peak_bytes", "throughput_ips", "latency_p50_s"])
m = df.groupby(["way", "batch_size"])[["host_baseline_bytes", "host_peak_bytes", "throughput_ips",
                                       "latency_p50_s"]].mean()
# The spread of a memory figure: how far the two runs of one setting are apart.
m["peak_spread"] = (by_run["host_peak_bytes"][1] - by_run["host_peak_bytes"][2]).abs()
m["baseline_spread"] = (by_run["host_baseline_bytes"][1] - by_run["host_baseline_bytes"][2]).abs()
pd.DataFrame({
    "host baseline": m["host_baseline_bytes"].map(fmt),
    "peak (run 1)": by_run["host_peak_bytes"][1].map(fmt),
    "peak (run 2)": by_run["host_peak_bytes"][2].map(fmt),
    "images/s (run 1)": by_run["throughput_ips"][1].round(0),
    "images/s (run 2)": by_run["throughput_ips"][2].round(0),
})

# %%
ways = ["in_memory (.npy)", "batch_loop (.npy)", "stream (.npy)", "stream (folder)"]
floor = m.xs("stream (.npy)", level="way")["host_baseline_bytes"].mean() / MIB  # TensorFlow + model, no data
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
width = 0.8 / len(batch_sizes)
# The runtime floor, drawn, not cut off: it is most of every peak.
left.bar(np.arange(len(ways)), floor, 0.8, color="lightgrey", edgecolor="grey",
         label="runtime + model, no data (the stream trials' baseline)")
for i, b in enumerate(batch_sizes):
    x = np.arange(len(ways)) + (i - (len(batch_sizes) - 1) / 2) * width
    for ax, column, scale in ((left, "host_peak_bytes", MIB), (right, "throughput_ips", 1)):
        lo = np.array([by_run[column].loc[(w, b)].min() / scale for w in ways])
        hi = np.array([by_run[column].loc[(w, b)].max() / scale for w in ways])
        mid = np.array([m.loc[(w, b), column] / scale for w in ways])
        bottom = floor if ax is left else 0.0
        ax.bar(x, mid - bottom, width, bottom=bottom, yerr=[mid - lo, hi - mid], capsize=3, color=f"C{i}",
               label=f"batch {b}" + (": above the floor" if ax is left else ""))
for ax, title, unit in ((left, "Peak host memory", "MiB"), (right, "Throughput", "images/s")):
    ax.set_xticks(np.arange(len(ways)), ways, rotation=15)
    ax.set_title(title + " (whiskers: the two runs)")
    ax.set_ylabel(unit)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)  # from zero, with room for the legend
    ax.legend(fontsize="small", loc="upper right")
plt.show()
top = m["host_peak_bytes"].idxmax()  # the largest peak: the floor is the smallest share of it
top_above = float(m.loc[top, "host_peak_bytes"]) - floor * MIB
floor_spread = max(m["peak_spread"].max(), m["baseline_spread"].max())
claim(floor * MIB - top_above >= 3 * floor_spread,
      f"most of every peak is the floor: about **{fmt(floor * MIB)}** of TensorFlow runtime and model before any "
      f"data, against {fmt(top_above)} above it in the largest peak (`{top[0]}` at batch {top[1]}; the runs' "
      f"largest spread {fmt(floor_spread)}). The pipelines differ in what they add on top of it (for `in_memory` "
      "and `batch_loop`, the decoded array first: it is loaded before the first prediction).")


# %% [markdown]
# ## 3. Host memory: what streaming saves
#
# `in_memory` and `batch_loop` hold the whole decoded set before the first prediction; `stream`
# holds a few batches. On top of that, `model.predict(x)` on a whole array converts it into a
# dataset of its own (Keras copies what it is given), so the in-memory peak carries the data set
# more than once.

# %%
def value(way: str, b: int, column: str = "host_peak_bytes") -> float:
    return float(m.loc[(way, b), column])


def spread(column: str, *settings: tuple[str, int]) -> float:
    """How much a difference between these settings' figures could move between runs: the sum of
    how far each setting's two runs were apart."""
    return sum(abs(by_run[column].loc[s][1] - by_run[column].loc[s][2]) for s in settings)


say(f"The largest difference between the two runs of one setting, over every peak and baseline above: "
    f"**{fmt(max(m['peak_spread'].max(), m['baseline_spread'].max()))}**. Each memory effect below is the "
    "difference of two settings' figures, checked to be at least 3x their spread: the sum of how far each "
    "one's two runs were apart.")
b = batch_sizes[0]
stream_b = ("stream (.npy)", b)
held = {way: value(way, b, "host_baseline_bytes") - value(*stream_b, "host_baseline_bytes")
        for way in ("in_memory (.npy)", "batch_loop (.npy)")}
held_spread = max(spread("host_baseline_bytes", (way, b), stream_b) for way in held)
claim(min(held.values()) >= 0.8 * decoded and min(held.values()) >= 3 * held_spread,
      f"before the first prediction the in-memory and loop processes already hold {fmt(min(held.values()))} "
      f"more than the streaming one (spread {fmt(held_spread)}): the decoded set ({fmt(decoded)})")
for b in batch_sizes:
    saved = value("in_memory (.npy)", b) - value("stream (.npy)", b)
    noise = spread("host_peak_bytes", ("in_memory (.npy)", b), ("stream (.npy)", b))
    claim(saved >= 1.5 * decoded and saved >= 3 * noise,
          f"at batch {b} the in-memory peak exceeds the streaming peak by {fmt(saved)} (spread {fmt(noise)}), "
          f"{saved / decoded:.1f}x the decoded set: more than the data set's size, because `predict` "
          "holds copies of it too")
b = batch_sizes[0]
loop_saves = value("in_memory (.npy)", b) - value("batch_loop (.npy)", b)
noise = spread("host_peak_bytes", ("in_memory (.npy)", b), ("batch_loop (.npy)", b))
claim(loop_saves >= 3 * noise and loop_saves >= 0.5 * decoded,
      f"at batch {b} the manual loop peaks {fmt(loop_saves)} lower than `predict` on the whole array (spread "
      f"{fmt(noise)}): handed one slice at a time, Keras copies a slice, not the set")

# %% [markdown]
# ## 4. Throughput, and the cost of calling `predict` in a loop
#
# `model.predict` has work to do on every call before the first image is computed: it wraps
# its input in a dataset, sets up its loop and callbacks, and gathers the outputs. Called once
# on the whole array it pays that once; called in a Python loop it pays it for every batch.
#
# The two runs of each setting are folded into one (`aggregate_repeats`: the median throughput,
# and as its spread the larger of the variation across the runs and within each run's passes).
# A speed comparison is then the workbench's `speed_verdict`: "faster" or "slower" only where the
# two throughputs differ by more than their combined spread, otherwise "no measurable
# difference". Two runs are a small sample: a verdict by a wide margin is safe, one by a hair
# would need more runs to stand.

# %%
fold = wb.aggregate_repeats(df).set_index(["way", "batch_size"])
WORDS = {"faster": "faster than", "slower": "slower than", "no measurable difference": "no measurable difference from",
         "not measured": "not measured against"}


def runs_of(a: tuple[str, int], b: tuple[str, int]) -> str:
    """Both runs of two settings, and the spread speed_verdict used for each, in words."""
    ips_a, ips_b = by_run["throughput_ips"].loc[a], by_run["throughput_ips"].loc[b]
    return (f"runs: {ips_a.min():.0f}-{ips_a.max():.0f} (spread {fold.loc[a, 'throughput_cv'] * 100:.1f} %) against "
            f"{ips_b.min():.0f}-{ips_b.max():.0f} images/s (spread {fold.loc[b, 'throughput_cv'] * 100:.1f} %)")


b = batch_sizes[0]
loop_b, whole_b = ("batch_loop (.npy)", b), ("in_memory (.npy)", b)
verdict, ratio = wb.speed_verdict(fold.loc[loop_b], fold.loc[whole_b])
claim(verdict == "slower",
      f"at batch {b} the loop is slower: {ratio:.2f}x the throughput of one `predict` call ({runs_of(loop_b, whole_b)})")
per_call = value(*loop_b, "latency_p50_s") - value(*whole_b, "latency_p50_s")
per_call_spread = spread("latency_p50_s", loop_b, whole_b)
claim(per_call >= 3 * per_call_spread,
      f"each `predict` call in the loop costs about {per_call * 1e3:.1f} ms more than a batch inside one call "
      f"({value(*loop_b, 'latency_p50_s') * 1e3:.1f} ms against {value(*whole_b, 'latency_p50_s') * 1e3:.1f} ms, "
      f"median batch times; spread between the runs {per_call_spread * 1e3:.2f} ms)")
if len(batch_sizes) > 1:
    big = batch_sizes[-1]
    verdict, ratio = wb.speed_verdict(fold.loc[("batch_loop (.npy)", big)], fold.loc[loop_b])
    claim(verdict == "faster",
          f"the loop's overhead is per call: at batch {big} it makes {images // big} calls instead of "
          f"{images // b} and is faster, {ratio:.2f}x ({runs_of(('batch_loop (.npy)', big), loop_b)})")

# %%
rows = []
for b in batch_sizes:
    for way in ("stream (.npy)", "stream (folder)"):
        verdict, ratio = wb.speed_verdict(fold.loc[(way, b)], fold.loc[("in_memory (.npy)", b)])
        rows.append((way, b, ratio, verdict))
        say(f"At batch {b}, `{way}` ran at {ratio:.2f}x the in-memory throughput "
            f"({runs_of((way, b), ('in_memory (.npy)', b))}): **{WORDS[verdict]}** holding the set in memory.")
slower = [r for r in rows if r[3] == "slower"]
if slower:
    worst = min(slower, key=lambda r: r[2])
    say(f"Reading from disk cost throughput where the reader could not keep up with the model; here the worst "
        f"case was `{worst[0]}` at batch {worst[1]} ({worst[2]:.2f}x). A `.npy` file is read by one "
        "Python generator; a folder is decoded on `tf.data`'s own threads.")
else:
    say("Here reading from disk cost no measurable throughput: the readers kept up with "
        "the model, which is the usual case when the model, not the input, is the slow part.")

# %% [markdown]
# ## 5. `predict`, `predict_on_batch` and `model(x)`: not the same call
#
# Three ways to get the same predictions out of the same model, on the same array, at the
# same batch size:
#
# | call | what it does on every call |
# |---|---|
# | `model.predict(x, batch_size=b)` | wraps the whole array in a `tf.data` pipeline of its own, runs its traced predict step batch by batch, keeps every batch's outputs and concatenates them at the end |
# | `model.predict_on_batch(x[i:i+b])` | one batch through the same traced predict step, without the pipeline; the outputs come back at once |
# | `f(x[i:i+b])`, `f = tf.function(lambda x: model(x, training=False), input_signature=[(None, h, w, c)])` | the model's own call, compiled once, with none of `predict`'s machinery (what `stream_to_disk` calls) |
#
# The first call of a traced function **traces** it (runs the Python code once to build a
# graph); a batch of a new shape traces it again, and the last batch of a data set that the
# batch size does not divide is such a batch. The compiled call was told that its batch
# dimension is open (`None`), so one trace serves every batch size.
#
# Each call runs in its own process (a probe started like a trial), twice: the first pass over
# the images carries the tracing, then the same pass again and again. The two loops drop each
# batch's outputs once they reach host memory (as a loop that writes them to disk would);
# `predict` keeps them all, as it always does.

# %%
from workbench.engine.probe import run_probe
from workbench.spread import iqr, throughput_stats

call_names = ("predict", "predict_on_batch", "compiled")
n_calls = min(calls_images, images)
partial = n_calls % calls_batch  # images in the last batch (0: the batch size divides the set)
batches = -(-n_calls // calls_batch)
call_spec = {"model": spec.to_dict(), "data": wb.DataSpec("npy", path=str(npy_path), count=n_calls).to_dict(),
             "batch_size": calls_batch, "passes": calls_passes}
probed = {(c, run): run_probe("calls", {**call_spec, "call": c}) for run in (1, 2) for c in call_names}
(out / "calls.json").write_text(pd.Series({f"{c} run {r}": v for (c, r), v in probed.items()}).to_json())


def figures(r: dict) -> dict:
    """One process's figures: memory above its loaded level, and batch times of the first pass
    against the later passes (their median, with their interquartile range as the spread: one
    later batch slowed by another job does not widen it)."""
    first, last = [b[0] for b in r["batch_s"][1:]], [b[-1] for b in r["batch_s"][1:]]
    outside = [s - sum(b) for s, b in zip(r["pass_s"][1:], r["batch_s"][1:], strict=True)]
    return {"first_pass_above": r["first_pass_peak_bytes"] - r["host_baseline_bytes"],
            "above": r["steady_peak_bytes"] - r["host_baseline_bytes"],
            "traces_1": r["traces_after_first_pass"], "traces": r["traces"],
            "first_batch_s": r["batch_s"][0][0], "first_later_s": np.median(first), "first_iqr_s": iqr(first),
            "last_batch_s": r["batch_s"][0][-1], "last_later_s": np.median(last), "last_iqr_s": iqr(last),
            "outside_s": np.median(outside)}


cr = pd.DataFrame({key: figures(r) for key, r in probed.items()}).T.rename_axis(["call", "run"])
cr = cr.apply(pd.to_numeric)
speed = {c: throughput_stats(probed[c, 1]["throughput_per_pass_ips"] + probed[c, 2]["throughput_per_pass_ips"])
         for c in call_names}  # the later passes of both runs: the median and its spread (CV)
ms = lambda v: f"{v * 1e3:.1f}"  # noqa: E731
pd.DataFrame({c: {
    "traces (after pass 1, at the end)": f"{cr.loc[(c, 1), 'traces_1']:.0f}, {cr.loc[(c, 1), 'traces']:.0f}",
    "1st batch, pass 1 (ms, runs)": " / ".join(ms(cr.loc[(c, r), "first_batch_s"]) for r in (1, 2)),
    "1st batch, later (ms)": " / ".join(ms(cr.loc[(c, r), "first_later_s"]) for r in (1, 2)),
    f"last batch ({partial or calls_batch}), pass 1 (ms)": " / ".join(ms(cr.loc[(c, r), "last_batch_s"]) for r in (1, 2)),
    "last batch, later (ms)": " / ".join(ms(cr.loc[(c, r), "last_later_s"]) for r in (1, 2)),
    "outside the batches, per pass (ms)": " / ".join(ms(cr.loc[(c, r), "outside_s"]) for r in (1, 2)),
    "peak above loaded, later passes": " / ".join(fmt(cr.loc[(c, r), "above"]) for r in (1, 2)),
    "images/s (later passes)": f"{speed[c]['throughput_ips']:.0f} (CV {speed[c]['throughput_cv'] * 100:.0f} %)",
} for c in call_names}).T

# %%
decoded_calls = n_calls * image_size * image_size * 3 * 4
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
x = np.arange(len(call_names))
for i, (column, label) in enumerate((("first_pass_above", "first pass (tracing included)"),
                                     ("above", "later passes"))):
    values = np.array([[cr.loc[(c, r), column] / MIB for r in (1, 2)] for c in call_names])
    mid = values.mean(axis=1)
    left.bar(x + (i - 0.5) * 0.4, mid, 0.4, yerr=[mid - values.min(axis=1), values.max(axis=1) - mid], capsize=3,
             color=f"C{i}", label=label)
left.axhline(decoded_calls / MIB, color="grey", ls="--", label=f"the decoded array ({n_calls:,} images)")
left.set_xticks(x, call_names)
left.set_ylabel("MiB")
left.set_title("Peak host memory above the loaded process (whiskers: the two runs)")
for c in call_names:
    later = np.median([b for b in probed[c, 1]["batch_s"][1:]], axis=0)
    line, = right.plot(np.arange(batches), np.array(probed[c, 1]["batch_s"][0]) * 1e3, "o-", label=f"{c}: first pass")
    right.plot(np.arange(batches), later * 1e3, ":", color=line.get_color(), label=f"{c}: later passes (median)")
right.set_xlabel(f"batch (the last holds {partial or calls_batch} images)")
right.set_ylabel("ms")
right.set_title("Time of each batch, run 1")
for ax in (left, right):
    ax.set_ylim(0, ax.get_ylim()[1] * 1.25)  # from zero, with room for the legend
    ax.legend(fontsize="small", loc="upper right")
plt.show()

# %%
both = lambda c, column: [float(cr.loc[(c, r), column]) for r in (1, 2)]  # noqa: E731
excess = {c: [a - b for a, b in zip(both(c, "first_batch_s"), both(c, "first_later_s"), strict=True)] for c in call_names}
claim(all(min(excess[c]) >= 3 * max(both(c, "first_iqr_s")) for c in call_names),
      "the first call traces, whichever call it is: the first batch took "
      + ", ".join(f"{ms(min(both(c, 'first_batch_s')))}-{ms(max(both(c, 'first_batch_s')))} ms for `{c}`"
                  for c in call_names)
      + " against " + ", ".join(f"{ms(np.mean(both(c, 'first_later_s')))}" for c in call_names)
      + " ms in the later passes (each at least 3x the interquartile range of the later passes)")
if partial:
    expected = {"predict": 2, "predict_on_batch": 2, "compiled": 1}
    seen = {c: sorted({int(v) for v in both(c, "traces_1") + both(c, "traces")}) for c in call_names}
    retrace = [a - b for a, b in zip(both("predict_on_batch", "last_batch_s"), both("predict_on_batch", "last_later_s"),
                                     strict=True)]
    claim(all(seen[c] == [expected[c]] for c in call_names)
          and min(retrace) >= 3 * max(both("predict_on_batch", "last_iqr_s")),
          f"the partial last batch ({partial} images) traces again: `predict` and `predict_on_batch` each traced their "
          f"step twice in the first pass and never after (`predict_on_batch`'s last batch took "
          f"{ms(min(both('predict_on_batch', 'last_batch_s')))}-{ms(max(both('predict_on_batch', 'last_batch_s')))} ms "
          f"there, {ms(np.mean(both('predict_on_batch', 'last_later_s')))} ms later); the compiled call, whose batch "
          f"dimension is open, traced once (its first last batch took {ms(np.mean(both('compiled', 'last_batch_s')))} ms)")
else:
    say(f"{n_calls:,} images at batch {calls_batch} leave no partial last batch: nothing traces a second time.")
loops = ("predict_on_batch", "compiled")
extra = {c: float(np.mean(both("predict", "above")) - np.mean(both(c, "above"))) for c in loops}
extra_noise = {c: float(np.ptp(both("predict", "above")) + np.ptp(both(c, "above"))) for c in loops}
claim(all(extra[c] >= decoded_calls and extra[c] >= 3 * extra_noise[c] for c in loops),
      f"`predict` holds more: its peak above the loaded process was {fmt(np.mean(both('predict', 'above')))}, "
      + " and ".join(f"{fmt(extra[c])} more than `{c}`'s (spread {fmt(extra_noise[c])})" for c in loops)
      + f", more than the decoded array ({fmt(decoded_calls)}): its `tf.data` pipeline holds a copy of the array, "
      "and it keeps every output")
verdicts = {c: wb.speed_verdict(speed["predict"], speed[c]) for c in loops}
# Passes of a thousand images are short (tens of ms for the loops), so on a busy machine their spread
# can swallow even a 2x gap: the check is that `predict` is never measurably faster, and the
# verdict itself is reported as measured.
claim(all(v != "faster" for v, _ in verdicts.values()),
      "`predict` is not faster than either loop: "
      + ", ".join(f"{ratio:.2f}x the throughput of `{c}` (**{v}**)" for c, (v, ratio) in verdicts.items())
      + f"; it spends {ms(np.mean(both('predict', 'outside_s')))} ms of every "
      "call outside its batches (building the pipeline from the array, concatenating the outputs), the loops "
      f"{ms(max(np.mean(both(c, 'outside_s')) for c in loops))} ms at most")
verdict, ratio = wb.speed_verdict(speed["predict_on_batch"], speed["compiled"])
say(f"Between the two loops, `predict_on_batch` ran at {ratio:.2f}x the compiled call's throughput: "
    f"**{verdict}**{'' if verdict == 'no measurable difference' else ' than it'}. The difference that matters is "
    "not the step (both run a traced graph) but what comes with it: `predict` pays its pipeline on every call "
    "and holds every output; a loop holds one batch, and a loop over a partial last batch traces once more "
    "unless the function was given an open batch dimension.")

# %% [markdown]
# ## 6. Does memory creep across repeated calls?
#
# A long job calls `predict` many times; caches that are never emptied and a fragmented
# allocator can make resident memory climb call after call. Every trial above read its
# resident size after each timed pass (`host_rss_per_pass_bytes`), and so did each call in
# section 5. The growth per pass is the slope of a straight line through the passes after the
# first (the first leaves behind what later passes reuse); it **creeps** here only where the slope
# of both runs is more than 3x its noise: the larger of each run's standard error of the slope
# and the difference between the two runs. The workbench flags a trial as creeping
# (`host_creeping`) at a cruder bar: more than 1 % of its peak per pass.

# %%
def slope(rss: list[float]) -> tuple[float, float]:
    """Growth of resident memory per pass after the first, and its standard error (least squares)."""
    y = np.asarray(rss[1:], dtype=float)
    if len(y) < 3:
        return float("nan"), float("nan")
    x = np.arange(len(y)) - (len(y) - 1) / 2
    rate = float(x @ (y - y.mean()) / (x @ x))
    residual = y - y.mean() - rate * x
    return rate, float(np.sqrt(residual @ residual / (len(y) - 2) / (x @ x)))


series = {}  # (setting, run) -> resident size after each pass, and predict calls a pass
for _, r in df.iterrows():
    calls = -(-int(r["images"]) // int(r["batch_size"])) if r["pipeline"] == "batch_loop" else 1
    series[(f"{r['way']} b{r['batch_size']}", r["run"])] = (list(r["host_rss_per_pass_bytes"]), calls,
                                                             bool(r["host_creeping"]))
for (c, run), r in probed.items():
    series[(f"{c} (section 5)", run)] = (r["host_rss_per_pass_bytes"], 1 if c == "predict" else batches,
                                         bool(r["host_creeping"]))
rows = {}
for setting in dict.fromkeys(s for s, _ in series):
    (r1, se1), (r2, se2) = (slope(series[setting, run][0]) for run in (1, 2))
    noise = max(se1, se2, abs(r1 - r2))
    calls = series[setting, 1][1]
    rows[setting] = {"passes": f"{len(series[setting, 1][0])}, {len(series[setting, 2][0])}",
                     "rate_1": r1, "rate_2": r2, "noise": noise, "calls": calls,
                     "creeps": min(r1, r2) > 3 * noise, "flag": series[setting, 1][2] or series[setting, 2][2]}
creep = pd.DataFrame(rows).T
kb = lambda v: ("+" if v >= 0 else "") + fmt(v)  # noqa: E731  (a growth, with its sign)
pd.DataFrame({
    "passes (runs)": creep["passes"],
    "growth a pass (run 1, run 2)": [f"{kb(a)}, {kb(b)}" for a, b in zip(creep["rate_1"], creep["rate_2"], strict=True)],
    "3x noise": creep["noise"].map(lambda v: fmt(3 * v)),
    "calls a pass": creep["calls"],
    "a call (where it creeps)": [fmt(min(a, b) / c) if ok else "" for a, b, c, ok in
                                 zip(creep["rate_1"], creep["rate_2"], creep["calls"], creep["creeps"], strict=True)],
    "creeps beyond the noise": creep["creeps"].map({True: "yes", False: "no"}),
    "workbench flag (1 % of peak)": creep["flag"].map({True: "creeping", False: "-"}),
})

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
b = batch_sizes[0]
shown = ([(left, f"{w} b{b}") for w in ways] + [(right, f"{c} (section 5)") for c in call_names])
for i, (ax, setting) in enumerate(shown):
    for run, style in ((1, "o-"), (2, "s--")):
        rss = np.array(series[setting, run][0])
        ax.plot(np.arange(2, len(rss) + 1), (rss[1:] - rss[1]) / MIB, style, color=f"C{i % len(ways)}", alpha=0.8,
                label=f"{setting.removesuffix(' (section 5)')}, run {run}")
for ax, title in ((left, f"The trials of section 2, batch {b}"),
                  (right, f"The calls of section 5 ({n_calls:,} images, batch {calls_batch})")):
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), ax.get_ylim()[1] * 1.3)  # zero in view, room for the legend
    ax.set_xlabel("pass")
    ax.set_ylabel("resident memory after the pass,\nabove the second pass (MiB)")
    ax.set_title(title)
    ax.legend(fontsize="x-small", ncol=2, loc="upper left")
plt.show()

# %%
steps_of = {k: [series[k, run][0][1] - series[k, run][0][0] for run in (1, 2)] for k in creep.index}
jump = {k: float(np.mean(v)) for k, v in steps_of.items()}
stepped = (f"in_memory (.npy) b{b}", "predict (section 5)")
# A step: both runs' jumps at least 3x how far the runs' jumps were apart, and 3x either run's growth per pass.
step_bar = {k: 3 * max(abs(steps_of[k][0] - steps_of[k][1]), abs(creep.loc[k, "rate_1"]), abs(creep.loc[k, "rate_2"]))
            for k in stepped}
claim(all(min(steps_of[k]) >= step_bar[k] for k in stepped),
      f"the plots start at the second pass: from the first to the second, resident memory stepped up once, by "
      f"{fmt(jump[stepped[0]])} for `in_memory` at batch {b} (its decoded set is {fmt(decoded)}) and by "
      f"{fmt(jump[stepped[1]])} for `predict` in section 5: what the first call left behind, a step the later "
      "passes did not repeat (each run's step is at least 3x the difference between the runs' steps and 3x the "
      f"growth of a later pass: bars {fmt(step_bar[stepped[0]])} and {fmt(step_bar[stepped[1]])})")
p = creep.loc["predict (section 5)"]
cmp = creep.loc["compiled (section 5)"]
claim(p["creeps"] and min(p["rate_1"], p["rate_2"]) > max(cmp["rate_1"], cmp["rate_2"]) + 3 * (p["noise"] + cmp["noise"]),
      f"repeated `predict` calls creep: each call on the {n_calls:,}-image array left {kb(p['rate_1'])} "
      f"and {kb(p['rate_2'])} more resident in the two runs (3x noise: {fmt(3 * p['noise'])}), more than "
      f"the compiled call did per pass of the same images ({kb(cmp['rate_1'])}, {kb(cmp['rate_2'])})")
creeping = [s for s in creep.index if creep.loc[s, "creeps"]]
flat = [s for s in creep.index if not creep.loc[s, "creeps"]]
flagged = [s for s in creep.index if creep.loc[s, "flag"]]
peak_p = max(probed["predict", run]["steady_peak_bytes"] for run in (1, 2))
grown = float(np.mean([series["predict (section 5)", run][0][-1] - series["predict (section 5)", run][0][1]
                       for run in (1, 2)]))
say(f"Beyond the noise, memory crept in {len(creeping)} of {len(creep)} settings"
    + (f" ({', '.join(f'`{s}`' for s in creeping)})" if creeping else "")
    + (f"; in {', '.join(f'`{s}`' for s in flat)} it did not" if flat else "")
    + ". The workbench's own flag (1 % of the peak per pass) "
    + (f"was raised for {', '.join(f'`{s}`' for s in flagged)}." if flagged else "stayed off for every one of them: ")
    + ("" if flagged else
       f"the creep is small beside a peak (1 % of `predict`'s peak is {fmt(0.01 * peak_p)}). Over its "
       f"{calls_passes - 1} calls after the first, `predict` added {fmt(grown)} in all; whether that goes on "
       "steadily over thousands of calls or levels off, only a longer run can show. A long-running process that "
       "calls `predict` again and again should watch its resident size, or call a compiled function (here "
       f"{fmt(max(cmp['rate_1'], cmp['rate_2'], 0) / batches)} a call at most)."))

# %% [markdown]
# ## 7. Memory that grows with the number of images
#
# Streaming keeps the *input* small, but `model.predict` returns every image's outputs in one
# array: it keeps each batch's outputs in a list until the last batch, then concatenates them,
# so for a moment the outputs exist twice. A model with 1000 class scores outputs 4,000 bytes an
# image in float32; at a million images that is 4 GB, twice. The tiny model above outputs 10
# numbers an image, too few to see, so this section uses MobileNetV2 (random weights, no
# download) on small 32x32 images. An image is still larger than its outputs (12.3 kB as float32
# against 4.0 kB), but a streamed input holds only a few batches whatever N, while the outputs
# accumulate with N.
#
# Three pipelines, one batch size, data sets of growing size N (the first N images of one
# `.npy` file):
#
# * `in_memory` holds the decoded array, Keras' copy of it and the outputs;
# * `stream` holds a few input batches and the outputs;
# * `stream_to_disk` holds a few input batches; each batch's outputs are appended to an `.npy`
#   file as they come, so nothing accumulates.
#
# The smallest size runs twice, in a separate sweep: the difference between the two is the
# run-to-run spread of a peak, and every effect claimed here is checked to be at least 3x it.

# %%
output_bytes = n_outputs * 4  # float32 outputs of one image
n_path = out / "n_images.npy"
np.save(n_path, rng.integers(0, 256, size=(max(n_sizes), n_image_size, n_image_size, 3), dtype=np.uint8))
n_spec = wb.ModelSpec(n_model, image_size=n_image_size)
one_pass = wb.TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=0.0, min_passes=1, drift_samples=0)
n_pipelines = ("in_memory", "stream", "stream_to_disk")
wb.run_sweep(wb.SweepConfig(n_spec, wb.DataSpec.parse(str(n_path)), pipelines=n_pipelines, batch_sizes=(n_batch,),
                            images=tuple(n_sizes), timing=one_pass), out / "n", progress=progress)
wb.run_sweep(wb.SweepConfig(n_spec, wb.DataSpec.parse(str(n_path)), pipelines=n_pipelines, batch_sizes=(n_batch,),
                            images=(min(n_sizes),), timing=one_pass, auto_sizes=False),  # this one size only
             out / "n-again", progress=progress)
dn = wb.load_results(out / "n")
again = wb.load_results(out / "n-again")
assert is_ok(dn).all() and is_ok(again).all(), pd.concat([dn, again]).loc[lambda d: ~is_ok(d), ["pipeline", "images", "error"]]
for d in (dn, again):
    d["peak"] = wb.budget_peak(d)  # the peak a budget is checked against (one pass here)
    d["above_baseline"] = d["peak"] - d["host_baseline_bytes"]
n = dn.set_index(["pipeline", "images"]).sort_index()
# The runtime floor at each N: a streaming trial's baseline (TensorFlow and the model, no data held).
runtime_floor = n.xs("stream")["host_baseline_bytes"]
pd.DataFrame({
    "baseline": n["host_baseline_bytes"].map(fmt),
    "peak": n["peak"].map(fmt),
    "above the trial's baseline": n["above_baseline"].map(fmt),
    "above the runtime floor": (n["peak"] - n.index.get_level_values("images").map(runtime_floor)).map(fmt),
})

# %%
sizes = sorted(n_sizes)
fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
for pipeline, style in (("in_memory", "s-"), ("stream", "o-"), ("stream_to_disk", "^-")):
    ax.plot(sizes, [n.loc[(pipeline, k), "above_baseline"] / MIB for k in sizes], style, label=pipeline)
ax.plot(sizes, [(n.loc[("in_memory", k), "peak"] - runtime_floor[k]) / MIB for k in sizes], "s:", color="C0",
        alpha=0.6, label="in_memory, above the runtime floor (its array included)")
ax.set_xlim(left=0)
ax.set_ylim(bottom=0)
ax.set_xlabel("images predicted (N)")
ax.set_ylabel("peak host memory above the trial's baseline (MiB)")
ax.set_title(f"{n_model} at {n_image_size}x{n_image_size} px, {n_outputs} outputs an image, batch {n_batch}")
ax.legend(fontsize="small")
plt.show()

# %% [markdown]
# The line for `in_memory` starts from its own baseline, which already holds the decoded array
# (loaded before the first prediction); the dotted line adds it back. The two streaming
# pipelines load no data, so their baseline is the runtime floor at every N.

# %%
small, large = sizes[0], sizes[-1]
repeat = again.set_index("pipeline")["above_baseline"]
spreads = {p: abs(float(n.loc[(p, small), "above_baseline"]) - float(repeat[p])) for p in n_pipelines}
n_spread = max(spreads.values())
say(f"**The spread.** Each pipeline at {small:,} images ran twice; the peaks above baseline differed by "
    + ", ".join(f"{fmt(v)} (`{p}`)" for p, v in spreads.items())
    + f". The largest, **{fmt(n_spread)}**, is the spread every effect below is checked against (3x: "
    f"{fmt(3 * n_spread)}).")

growth = {p: float(n.loc[(p, large), "above_baseline"] - n.loc[(p, small), "above_baseline"]) for p in n_pipelines}
fits = wb.fit_memory_model(dn).set_index("pipeline")
per_image = float(fits.loc["stream", "per_dataset_image_bytes"])
steps = ", ".join(f"{a:,}->{c:,}: {(n.loc[('stream', c), 'peak'] - n.loc[('stream', a), 'peak']) / (c - a) / 1e3:.1f} kB"
                  for a, c in zip(sizes, sizes[1:], strict=False))
claim(per_image >= 1.5 * output_bytes and growth["stream"] >= 3 * n_spread,
      f"`stream` grows with the number of images: {fmt(growth['stream'])} more from {small:,} to {large:,} images, "
      f"**{per_image / 1e3:.1f} kB an image** fitted over every size, against {output_bytes / 1e3:.1f} kB of outputs "
      f"(the arithmetic for outputs held twice at the concatenation: {2 * output_bytes / 1e3:.1f} kB)")
say(f"The steps are not equal ({steps} an image): how much of the new outputs lands in memory the process "
    "already holds varies from step to step. The fitted figure averages them; the prediction below checks "
    "how well a line fitted on the small sizes carries to the largest.")
# Flat: within 3x the spread, or within 5 % of what `stream` grew where that is larger (either way).
bound = max(3 * n_spread, 0.05 * growth["stream"])
claim(abs(growth["stream_to_disk"]) <= bound and growth["stream"] - growth["stream_to_disk"] >= 3 * n_spread,
      f"`stream_to_disk` stays flat: its peak above baseline moved {kb(growth['stream_to_disk'])} from {small:,} "
      f"to {large:,} images (within +/-{fmt(bound)}, the larger of 3x the spread and 5 % of `stream`'s growth, "
      f"against {fmt(growth['stream'])} for `stream`): its outputs are on disk, not in memory")
im_per_image = float(fits.loc["in_memory", "per_dataset_image_bytes"])
image_bytes = n_image_size * n_image_size * 3 * 4
claim(im_per_image >= image_bytes + output_bytes and growth["in_memory"] >= 3 * n_spread,
      f"`in_memory` grows the most: **{im_per_image / 1e3:.1f} kB an image**, more than the decoded image "
      f"({image_bytes / 1e3:.1f} kB) and its outputs ({output_bytes / 1e3:.1f} kB) together: the array, "
      f"Keras' copy of it and the outputs twice come to {(2 * image_bytes + 2 * output_bytes) / 1e3:.1f} kB")

# %% [markdown]
# **Predicting a larger job.** The memory model fits, per pipeline, a straight line in N:
# `peak = fixed + per image of a batch x batch + per dataset image x N`. Fitted on the smaller
# sizes only, does it predict the largest one?

# %%
smaller = pd.concat([dn[dn["images"] < large], again], ignore_index=True)
checked_reach = large / max(s for s in sizes if s < large)
for pipeline in ("stream", "in_memory"):
    predicted = wb.predict_peak(smaller, pipeline=pipeline, precision="float32", batch_size=n_batch, images=large)
    row = n.loc[(pipeline, large)]
    error = abs(predicted - row["peak"]) / row["above_baseline"]
    claim(error <= 0.10,
          f"`{pipeline}`: fitted on {', '.join(f'{s:,}' for s in sizes if s < large)} images, the memory model "
          f"predicts a peak of {fmt(predicted)} at {large:,} ({checked_reach:.0f}x the largest size it saw); the trial "
          f"measured {fmt(row['peak'])}: off by {error * 100:.1f} % of the {fmt(row['above_baseline'])} it grew "
          "above its baseline")

# %% [markdown]
# ## 8. What the whole job needs
#
# A sample of a few thousand images says little about a job over a hundred thousand unless the
# term per dataset image is known. Fitted on every size above, the memory model answers for the
# target size. It is a straight line carried beyond what was measured: section 7 checked how
# well it carries to a size 4x the largest it saw (with the defaults); further out, treat it as an
# estimate.

# %%
ram = wb.environment()["ram_total_bytes"]
reach = target_images / large
answer = pd.DataFrame({p: {
    "per dataset image": f"{round(fits.loc[p, 'per_dataset_image_bytes'] / 1e3, 1) + 0.0:.1f} kB",  # no "-0.0"
    f"peak at {large:,} (measured)": fmt(n.loc[(p, large), "peak"]),
    f"peak at {target_images:,} (predicted)": fmt(wb.predict_peak(dn, pipeline=p, precision="float32",
                                                                  batch_size=n_batch, images=target_images)),
} for p in n_pipelines}).T
answer

# %%
at_target = {p: wb.predict_peak(dn, pipeline=p, precision="float32", batch_size=n_batch, images=target_images)
             for p in n_pipelines}
far = (f"{reach:.1f}x the largest size measured: beyond the {checked_reach:.0f}x checked above, so an estimate"
       if reach > checked_reach else f"{reach:.1f}x the largest size measured, within the reach checked above")
say(f"At **{target_images:,} images** ({far}): `in_memory` would peak near {fmt(at_target['in_memory'])}, "
    f"`stream` near {fmt(at_target['stream'])}, `stream_to_disk` near {fmt(at_target['stream_to_disk'])} "
    f"(it peaked at {fmt(n.loc[('stream_to_disk', small), 'peak'])} at {small:,} images; its term is "
    f"{fits.loc['stream_to_disk', 'per_dataset_image_bytes']:.0f} "
    f"bytes an image; over the sizes measured its peak moved {fmt(growth['stream_to_disk'])}). This machine has "
    f"{fmt(ram)} of RAM. The per-image terms scale with the model's outputs and the image size: measure your own model on two or three sizes "
    "(`workbench sweep --images 1000,2000,4000 --target-images N`) before trusting these for it.")
say("**What to do with a large image set.** Both `model.predict` on an array and `model.predict` on a "
    "streamed dataset keep every output until the end, and need them twice at the concatenation, so "
    "neither is flat in N. Use `stream_to_disk`, which writes each batch's outputs to disk as they come, "
    "or let `workbench script --pipeline stream_to_disk ...` write a standalone job that does exactly "
    "that. Keep the array in memory only for a set that is small beside your RAM and read many times, "
    "and avoid calling `predict` in a Python loop on small batches: it saves the copy of the array but "
    "pays `predict`'s set-up on every call. Where you write the loop yourself, call a compiled "
    "`model(x, training=False)` with an open batch dimension (section 5): no pipeline, no outputs kept, one "
    "trace for every batch size, and far less growth from call to call than `predict`.")

# %%
# The kernel stayed free of TensorFlow: every figure above came from isolated trial processes.
assert "tensorflow" not in sys.modules, "TensorFlow was imported in the notebook kernel"
say(f"TensorFlow was never imported in this kernel. This run took **{time.perf_counter() - started:.0f} s** "
    f"(from the set-up cell). The raw results are in `{out}`.")

# %% [markdown]
# ## The decision this notebook helps make
#
# **How to feed a job over many images without running out of host memory:** the memory that
# grows with the number of images is the outputs (and, in memory, the array and its copies), not
# the input pipeline's batches. For a data set that is large beside your RAM, write the outputs
# to disk as they come (`stream_to_disk`, or the job `workbench script` writes); before the real
# run, measure two or three sizes and let the memory model's term per dataset image tell you the
# peak at your size. Where you write the loop yourself, or call the model again and again in a
# long-running process, call a compiled `model(x, training=False)` whose batch dimension is open
# rather than `predict`: it holds one batch, traces once, and grew far less from call to call.
