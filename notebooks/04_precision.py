# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Precision: what float16 and bfloat16 buy, and what they cost
#
# Keras's mixed precision policies (`mixed_float16`, `mixed_bfloat16`) compute the layers in a
# 16-bit format while the weights stay float32 variables and the last layer still answers in
# float32. Half the bits per number should mean less memory for activations and, on hardware
# with fast 16-bit arithmetic, more speed. It also means rounding, so the answers move.
#
# This notebook runs the **demo model** (a small CNN trained on this machine on scikit-learn's
# handwritten digits) in all three precisions on the same held-out images, and measures memory,
# speed and how far the outputs drift from float32. Whether 16 bits is faster depends on the
# hardware: the text below follows what this run measured. Sentences marked **✔ checked** are
# tested against this run's numbers.

# %% tags=["parameters"]
# Defaults run in a few minutes on a 2-core CPU (the first run also trains the demo model, about a
# minute). On a GPU, try batch_sizes = [32, 256, 1024].
model = "demo"          # the locally trained CNN (drift on random weights would mean little)
data = "demo"           # the embedded digits; the first 600 were never used in training
batch_sizes = [32, 512]
drift_samples = 600     # images compared with float32 (the held-out ones)
min_duration_s = 2.0    # timed seconds per trial, at least: enough passes to steady the speed figures
out_dir = ""            # "" for a fresh temporary folder

# %%
NOTEBOOK = "04"

# Set-up shared by the teaching notebooks (each imports what it uses). The kernel never
# imports TensorFlow: every trial runs in its own process, so an out-of-memory kill costs one
# trial, not this kernel.
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
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
# ## 1. Two 16-bit formats
#
# Both formats keep a sign bit; they split the other 15 differently. `float16` keeps 10 bits of
# mantissa (finer steps) and 5 of exponent (its largest number is 65504); `bfloat16` keeps
# float32's 8 exponent bits (the same range) and only 7 bits of mantissa (coarser steps). The
# cell below rounds a few numbers to each format with plain numpy (bfloat16 is float32 with its
# low 16 bits rounded away).

# %%
def to_bfloat16(x) -> np.ndarray:
    """Round float32 values to the nearest bfloat16 (ties to even), returned as float32."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32)


values = np.array([1 / 3, 0.1, 1000.1, 70000.0], dtype=np.float32)
with np.errstate(over="ignore"):
    half = values.astype(np.float16).astype(np.float32)
brain = to_bfloat16(values)
rounding = pd.DataFrame({"float32": values, "float16": half, "bfloat16": brain})
display(rounding)
err16, errbf = abs(half[0] - values[0]) / values[0], abs(brain[0] - values[0]) / values[0]
claim(errbf > err16 and np.isinf(half[-1]) and np.isfinite(brain[-1]),
      f"bfloat16 rounds 1/3 about {errbf / err16:.0f}x more coarsely than float16 ({errbf:.1e} against {err16:.1e}), "
      "but keeps 70000, which float16 cannot hold (it becomes inf)")

# %% [markdown]
# ## 2. The same model in three precisions
#
# One process per precision and batch size. After the timed and memory phases, each trial runs
# the first `drift_samples` images through its model **and** through a float32 copy with the
# same weights, and records the largest difference in the outputs (class probabilities), how
# often the top class agrees, and the accuracy against the true labels.

# %%
sweep = wb.SweepConfig(
    model=wb.ModelSpec(model), data=wb.DataSpec.parse(data),
    precisions=("float32", "mixed_float16", "mixed_bfloat16"), batch_sizes=tuple(batch_sizes),
    timing=wb.TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=min_duration_s, drift_samples=drift_samples),
)
wb.run_sweep(sweep, out / "sweep", progress=progress)
df = wb.load_results(out / "sweep")
assert is_ok(df).all(), df.loc[~is_ok(df), ["precision", "batch_size", "status", "error"]]
m = df.set_index(["precision", "batch_size"])
pd.DataFrame({
    "images/s": m["throughput_ips"].round(0),
    "peak host": m["host_peak_bytes"].map(fmt),
    "max |diff|": m["drift_max_abs"].map(lambda v: f"{v:.2g}"),
    "top-1 agreement": m["top1_agreement"].map(lambda v: f"{v:.1%}"),
    "accuracy": m["accuracy"].map(lambda v: f"{v:.1%}"),
})

# %% [markdown]
# ## 3. Accuracy drift
#
# Rounding every activation to 16 bits moves the outputs a little. What matters is whether it
# moves the **decisions**: the top class, and the accuracy on labelled images.

# %%
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
plots.drift_by_precision(df, ax=ax)
plt.show()
drift = df.groupby("precision").agg(diff=("drift_max_abs", "max"), agree=("top1_agreement", "min"),
                                    acc=("accuracy", "mean"))
n = int(df["drift_samples"].max())
for p in ("mixed_float16", "mixed_bfloat16"):
    loss = drift.loc["float32", "acc"] - drift.loc[p, "acc"]
    claim(drift.loc[p, "diff"] < 0.05 and drift.loc[p, "agree"] >= 0.98 and abs(loss) <= 0.02,
          f"{p} moves a class probability by at most {drift.loc[p, 'diff']:.2g}, agrees with float32 on the top "
          f"class for {drift.loc[p, 'agree']:.1%} of the {n} images, and its accuracy is within 2 points of "
          f"float32's ({drift.loc[p, 'acc']:.1%} against {drift.loc['float32', 'acc']:.1%})")
claim(drift.loc["mixed_bfloat16", "diff"] > drift.loc["mixed_float16", "diff"],
      f"bfloat16's coarser steps show: its outputs drift {drift.loc['mixed_bfloat16', 'diff']:.2g} from float32, "
      f"float16's {drift.loc['mixed_float16', 'diff']:.2g}")

# %% [markdown]
# ## 4. Speed
#
# 16-bit arithmetic is fast only where the hardware has it (the tensor cores of recent NVIDIA
# GPUs, some recent CPUs). Elsewhere each layer converts between formats and computes in
# float32 anyway, and the conversions cost time.

# %%
gpu = wb.environment()["gpu_name"]
where = f"the GPU ({gpu})" if gpu else "this CPU (no GPU was found)"
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
plots.throughput_vs_batch(df, ax=ax)
plt.show()
for p in ("mixed_float16", "mixed_bfloat16"):
    ratios = [m.loc[(p, b), "throughput_ips"] / m.loc[("float32", b), "throughput_ips"] for b in batch_sizes]
    mean = float(np.exp(np.mean(np.log(ratios))))
    each = ", ".join(f"{r:.2f}x at batch {b}" for r, b in zip(ratios, batch_sizes, strict=True))
    if min(ratios) < 0.9 and max(ratios) > 1.1:
        say(f"On {where}, **{p} was faster at one batch size and slower at another** ({each}): here the "
            "difference between precisions is smaller than the run-to-run variation of this machine; "
            "rerun on a quiet machine, or with a longer `min_duration_s`, to separate them.")
    elif mean < 0.9:
        say(f"On {where}, **{p} was slower** than float32 ({each}): this hardware has no fast {p[6:]} "
            "arithmetic, so the conversions cost more than the narrower numbers save.")
    elif mean > 1.1:
        say(f"On {where}, **{p} was faster** than float32 ({each}).")
    else:
        say(f"On {where}, **{p} ran about as fast as** float32 ({each}): within the 10 % that separates "
            "two runs of the same setting on a busy machine.")

# %% [markdown]
# ## 5. Memory
#
# The weights stay float32 under a mixed policy, and the runtime is the same, so the **fixed**
# part of the peak should not change; what 16 bits can shrink is the **per-image** part (the
# activations). With two batch sizes the per-image figure is a line through two noisy points:
# read small differences as no difference.

# %%
# On a GPU the activations live in GPU memory: compare that; without a GPU it is not measured (NaN).
kind = "gpu" if np.isfinite(df["gpu_peak_bytes"].astype(float)).all() else "host"
column = f"{kind}_peak_bytes"
fits = analysis.fit_memory_model(df, column=column).set_index("precision")
say(f"Fixed and per-image **{kind}** memory, fitted per precision:")
display(pd.DataFrame({"fixed part": fits["fixed_bytes"].map(fmt), "per image": fits["per_image_bytes"].map(fmt)}))
loaded = df.groupby("precision")["host_baseline_bytes"].mean()
claim(loaded.max() / loaded.min() < 1.02,
      f"before the first prediction, the processes hold the same memory in all three precisions "
      f"({fmt(loaded.min())} to {fmt(loaded.max())}): the weights stay float32 and the runtime does not change")
per32 = fits.loc["float32", "per_image_bytes"]
big = batch_sizes[-1]
for p in ("mixed_float16", "mixed_bfloat16"):
    ratio = fits.loc[p, "per_image_bytes"] / per32
    peak = m.loc[(p, big), column] / m.loc[("float32", big), column] - 1
    if ratio < 0.75:
        verdict = "shrank, as 16-bit activations should"
    elif ratio <= 1.25:
        verdict = "changed by less than a quarter: on this run 16 bits saved little memory"
    else:
        verdict = "grew: on this run 16 bits cost memory instead of saving it"
    say(f"{p}: per-image memory {fmt(fits.loc[p, 'per_image_bytes'])} against float32's {fmt(per32)} "
        f"({ratio:.2f}x), so it **{verdict}**; the {kind} peak at batch {big} changed by {peak:+.1%}.")

# %% [markdown]
# ## What to take away
#
# - Lower precision moves the outputs by a little and the decisions by less: check top-1
#   agreement and accuracy on your own model and data before you switch.
# - bfloat16 rounds more coarsely than float16 but never overflows where float32 would not.
# - Speed and memory gains depend on the hardware: measure them, as above, rather than assume.

# %%
# The kernel stayed free of TensorFlow: every figure above came from isolated trial processes.
assert "tensorflow" not in sys.modules, "TensorFlow was imported in the notebook kernel"
say(f"TensorFlow was never imported in this kernel. The raw results are in `{out}`.")
