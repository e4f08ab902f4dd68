# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Input pipelines: in memory, a manual loop, or streamed from disk
#
# The same model and the same images can reach `predict` in three ways, and they cost very
# different amounts of memory and time:
#
# | pipeline | what it does |
# |---|---|
# | `in_memory` | decode every image into one array, then `model.predict(x, batch_size=b)` |
# | `batch_loop` | the same array, but a Python loop calls `model.predict` on one slice at a time |
# | `stream` | read each batch from disk as it is needed (`tf.data`, a few batches prefetched) |
#
# This notebook writes a small image set to disk twice (one `.npy` file and a folder of PNG
# files), feeds it through each pipeline in isolated trial processes, and compares host memory,
# throughput, and the cost of calling `predict` in a Python loop. Sentences marked
# **✔ checked** are tested against this run's numbers.

# %% tags=["parameters"]
# Defaults run in a few minutes on a 2-core CPU. With more memory and a GPU, try for example:
#   model = "mobilenet_v2"; image_size = 224; images = 4096; batch_sizes = [32, 256]
model = "tiny"          # "tiny", a keras.applications name, or a .keras/.h5 file
image_size = 64         # pixels a side of the images written to disk (and of the model's input)
images = 512            # images in the data set
batch_sizes = [32, 128]
out_dir = ""            # "" for a fresh temporary folder

# %%
NOTEBOOK = "03"

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
from workbench import format_bytes as fmt
from workbench.teaching import claim, is_ok, progress, say

out = Path(out_dir).expanduser() if out_dir else Path(tempfile.mkdtemp(prefix=f"workbench-{NOTEBOOK}-"))
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 120)
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
# ## 2. Run every pipeline
#
# One trial per pipeline and batch size on the `.npy` file, and the stream pipeline on the PNG
# folder. `host baseline` is the process's resident memory after loading (before the first
# prediction); `peak` is its high-water mark while predicting.

# %%
timing = wb.TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=0.0, drift_samples=0)  # one pass each
spec = wb.ModelSpec(model, image_size=image_size)
wb.run_sweep(wb.SweepConfig(spec, wb.DataSpec.parse(str(npy_path)), pipelines=("in_memory", "batch_loop", "stream"),
                            batch_sizes=tuple(batch_sizes), timing=timing), out / "npy", progress=progress)
wb.run_sweep(wb.SweepConfig(spec, wb.DataSpec.parse(str(folder)), pipelines=("stream",),
                            batch_sizes=tuple(batch_sizes), timing=timing), out / "folder", progress=progress)
df = pd.concat([wb.load_results(out / "npy"), wb.load_results(out / "folder")], ignore_index=True)
df["source"] = np.where(df["dataset"].str.startswith("npy"), ".npy", "folder")
df["way"] = df["pipeline"] + " (" + df["source"] + ")"
assert is_ok(df).all(), df.loc[~is_ok(df), ["way", "batch_size", "status", "error"]]
m = df.set_index(["way", "batch_size"])
pd.DataFrame({
    "host baseline": m["host_baseline_bytes"].map(fmt),
    "peak": m["host_peak_bytes"].map(fmt),
    "images/s": m["throughput_ips"].round(0),
    "ms per batch (p50)": (m["latency_p50_s"] * 1e3).round(1),
})

# %%
ways = ["in_memory (.npy)", "batch_loop (.npy)", "stream (.npy)", "stream (folder)"]
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
width = 0.8 / len(batch_sizes)
for i, b in enumerate(batch_sizes):
    x = np.arange(len(ways)) + (i - (len(batch_sizes) - 1) / 2) * width
    left.bar(x, [m.loc[(w, b), "host_peak_bytes"] / 2**20 for w in ways], width, label=f"batch {b}")
    right.bar(x, [m.loc[(w, b), "throughput_ips"] for w in ways], width, label=f"batch {b}")
for ax, title, unit in ((left, "Peak host memory", "MiB"), (right, "Throughput", "images/s")):
    ax.set_xticks(np.arange(len(ways)), ways, rotation=15)
    ax.set_title(title)
    ax.set_ylabel(unit)
    ax.legend(fontsize="small")
low = min(m["host_peak_bytes"]) / 2**20
left.set_ylim(bottom=low * 0.9)
plt.show()


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


b = batch_sizes[0]
held = {way: value(way, b, "host_baseline_bytes") - value("stream (.npy)", b, "host_baseline_bytes")
        for way in ("in_memory (.npy)", "batch_loop (.npy)")}
claim(min(held.values()) >= 0.8 * decoded,
      f"before the first prediction the in-memory and loop processes already hold {fmt(min(held.values()))} "
      f"more than the streaming one: the decoded set ({fmt(decoded)})")
for b in batch_sizes:
    saved = value("in_memory (.npy)", b) - value("stream (.npy)", b)
    claim(saved >= 1.5 * decoded,
          f"at batch {b} the in-memory peak exceeds the streaming peak by {fmt(saved)}, "
          f"{saved / decoded:.1f}x the decoded set: more than the data set's size, because `predict` "
          "holds copies of it too")
b = batch_sizes[0]
loop_saves = value("in_memory (.npy)", b) - value("batch_loop (.npy)", b)
claim(loop_saves > 0,
      f"at batch {b} the manual loop peaks {fmt(loop_saves)} lower than `predict` on the whole array: "
      "handed one slice at a time, Keras copies a slice, not the set")

# %% [markdown]
# ## 4. Throughput, and the cost of calling `predict` in a loop
#
# `model.predict` has work to do on every call before the first image is computed: it wraps
# its input in a dataset, sets up its loop and callbacks, and gathers the outputs. Called once
# on the whole array it pays that once; called in a Python loop it pays it for every batch.

# %%
b = batch_sizes[0]
per_call = value("batch_loop (.npy)", b, "latency_p50_s") - value("in_memory (.npy)", b, "latency_p50_s")
claim(per_call > 0 and value("batch_loop (.npy)", b, "throughput_ips") < value("in_memory (.npy)", b, "throughput_ips"),
      f"each `predict` call in the loop costs about {per_call * 1e3:.1f} ms more than a batch inside one call "
      f"({value('batch_loop (.npy)', b, 'latency_p50_s') * 1e3:.1f} ms against "
      f"{value('in_memory (.npy)', b, 'latency_p50_s') * 1e3:.1f} ms), so the loop is slower at batch {b}")
if len(batch_sizes) > 1:
    big = batch_sizes[-1]
    claim(value("batch_loop (.npy)", big, "throughput_ips") > value("batch_loop (.npy)", b, "throughput_ips"),
          f"the loop's overhead is per call: at batch {big} it makes {images // big} calls instead of "
          f"{images // b} and runs at {value('batch_loop (.npy)', big, 'throughput_ips'):.0f} images/s against "
          f"{value('batch_loop (.npy)', b, 'throughput_ips'):.0f}")

# %%
rows = []
for b in batch_sizes:
    base = value("in_memory (.npy)", b, "throughput_ips")
    for way in ("stream (.npy)", "stream (folder)"):
        ratio = value(way, b, "throughput_ips") / base
        rows.append((way, b, ratio))
        verdict = ("as fast as" if abs(ratio - 1) < 0.1 else "faster than" if ratio > 1 else "slower than")
        say(f"At batch {b}, `{way}` ran at {ratio:.2f}x the in-memory throughput: **{verdict}** holding the set in memory.")
slowest = min(rows, key=lambda r: r[2])
if slowest[2] < 0.9:
    say(f"Reading from disk costs throughput where the reader cannot keep up with the model; here the worst "
        f"case was `{slowest[0]}` at batch {slowest[1]} ({slowest[2]:.2f}x). A `.npy` file is read by one "
        "Python generator; a folder is decoded on `tf.data`'s own threads.")
else:
    say("Here reading from disk cost no throughput: the readers kept up with the model, which is the usual "
        "case when the model, not the input, is the slow part.")

# %% [markdown]
# ## 5. When is streaming worth it?
#
# The memory streaming saves grows with the data set; its cost in speed does not. From this run's
# figures, per image of this size:

# %%
b = batch_sizes[0]
saved_per_image = (value("in_memory (.npy)", b) - value("stream (.npy)", b)) / images
ram = wb.environment()["ram_total_bytes"]
fits_in_ram = int(ram / saved_per_image)
say(f"Holding the set in memory cost **{fmt(saved_per_image)} per image** here "
    f"({saved_per_image / (decoded / images):.1f}x its decoded size). At that rate this machine's "
    f"{fmt(ram)} of RAM would be used up by the in-memory copies of about **{fits_in_ram:,} images** of "
    f"{image_size}x{image_size}, and a set of 100,000 would need {fmt(saved_per_image * 100_000)} before the "
    "model, the runtime or anything else.")
say("Stream when the data set is a sizeable share of the memory you have, or grows over time; keep it in "
    "memory when it is small and you read it many times. Avoid calling `predict` in a Python loop on small "
    "batches: give it the whole array (or a `tf.data` dataset) and a batch size.")

# %%
# The kernel stayed free of TensorFlow: every figure above came from isolated trial processes.
assert "tensorflow" not in sys.modules, "TensorFlow was imported in the notebook kernel"
say(f"TensorFlow was never imported in this kernel. The raw results are in `{out}`.")
