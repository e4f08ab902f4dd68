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
# **What you will learn:** how many bytes each format takes, and where a 16-bit policy actually
# saves them: Keras's *mixed* precision (`mixed_float16`, `mixed_bfloat16`) computes in 16 bits
# but **keeps float32 weights**, so only a pure `float16` model halves the weights; how far the
# activations shrink on this hardware against the arithmetic; why the common recipe
# `set_global_policy("mixed_float16")` then `load_model(...)` silently runs in float32; and how
# far 16 bits move a trained model's answers, and its speed.
#
# **How long it takes here:** about 2 minutes with the defaults below (108 s measured once, alone,
# on the 2-core machine this was written on, the demo model already trained; the last cell prints
# this run's time), plus about a minute the first time, to train the demo model. Every model runs in its own process: this
# kernel never imports TensorFlow. Sentences marked **✔ checked** are tested
# against this run's numbers; the notebook stops where a number contradicts its text.

# %% tags=["parameters"]
# Weights: a model with many parameters (ResNet50 has 25.6 M) at a small input size, random weights.
weights_model = "resnet50"
weights_size = 32
# Activations: a model with large activations, one batch of them.
activations_model = "mobilenet_v2"
activations_size = 96
activations_batch = 512
memory_repeats = 2      # fresh processes per policy: the spread of the memory figures comes from these
parallel = 2            # probe processes side by side (memory is per process; nothing is timed in them)
# Drift and speed: the demo model, a small CNN trained on this machine (drift on random weights means little).
model = "demo"
data = "demo"           # the embedded digits; the first 600 were never used in training
batch_sizes = [32, 512]
drift_samples = 600     # images compared with float32 (the held-out ones)
min_duration_s = 2.0    # timed seconds per trial, at least: enough passes to give each speed its spread
out_dir = ""            # "" for a fresh temporary folder

# %%
NOTEBOOK = "04"

# Set-up shared by the teaching notebooks (each imports what it uses). The kernel never
# imports TensorFlow: every model runs in its own process (a trial, or a probe), so an
# out-of-memory kill costs one process, not this kernel.
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

import workbench as wb
from workbench import demo_assets
from workbench import format_bytes as fmt
from workbench.analysis.spread import speed_verdict
from workbench.engine.launcher import SpawnLauncher
from workbench.engine.probe import run_probe, run_probes
from workbench.render import plots
from workbench.teaching import claim, is_ok, progress, say

out = Path(out_dir).expanduser() if out_dir else Path(tempfile.mkdtemp(prefix=f"workbench-{NOTEBOOK}-"))
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 120)
MIB = 2**20
started = time.perf_counter()
# The memory probes read the host's resident memory only. Where a GPU is found, the models'
# tensors likely live in its memory instead, so the host figures cannot support the memory claims:
# memory_claim() then shows the sentence marked unchecked instead of checking it.
gpu = wb.environment()["gpu_name"]
print(f"results go to {out}; GPU: {gpu or 'none found'}")


def memory_claim(holds: bool, text: str) -> None:
    """A claim about host memory: checked without a GPU, only shown (marked unchecked) with one."""
    if gpu:
        say(f"*Not checked: a GPU ({gpu}) was found, and these probes read host memory only.* {text}")
    else:
        claim(holds, text)


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
say(f"bfloat16 rounds 1/3 about {errbf / err16:.0f}x more coarsely than float16 ({errbf:.1e} against {err16:.1e}), "
    f"but keeps 70000 (as {brain[-1]:.0f}), which float16 cannot hold (it becomes {half[-1]}). This is the formats' "
    "arithmetic, not a measurement: the sections below measure what it does to memory, outputs and speed.")


# %% [markdown]
# ## 2. Bytes per number, and which numbers a policy narrows
#
# A format's size is its bits: sign, exponent and mantissa add up to 32 for float32 and 16 for
# both 16-bit formats, so 4 bytes against 2. What a **policy** narrows is the question: a Keras
# dtype policy has a *variable* dtype (the weights) and a *compute* dtype (the activations).

# %%
formats = pd.DataFrame({"sign": [1, 1, 1], "exponent": [8, 5, 8], "mantissa": [23, 10, 7]},
                       index=["float32", "float16", "bfloat16"])
formats["bytes"] = formats.sum(axis=1) // 8
assert formats.loc["float32", "bytes"] == np.dtype(np.float32).itemsize
assert formats.loc["float16", "bytes"] == np.dtype(np.float16).itemsize
BYTES = formats["bytes"].to_dict()
# The policies this notebook measures: (variable dtype, compute dtype), as Keras defines them.
POLICIES = {"float32": ("float32", "float32"), "mixed_float16": ("float32", "float16"),
            "mixed_bfloat16": ("float32", "bfloat16"), "float16": ("float16", "float16")}
expected = pd.DataFrame({
    "weights kept as": {p: v for p, (v, _) in POLICIES.items()},
    "bytes per weight": {p: BYTES[v] for p, (v, _) in POLICIES.items()},
    "activations computed in": {p: c for p, (_, c) in POLICIES.items()},
    "bytes per activation": {p: BYTES[c] for p, (_, c) in POLICIES.items()},
})
display(formats)
display(expected)
say("By the arithmetic, mixed precision halves the **activations** and leaves the **weights** as they are; only a "
    "pure `float16` model (every variable in float16, as used for inference on GPUs, or int8 quantisation) halves "
    "the weights too. The next two sections measure both, each part in a fresh process.")

# %%
# The probes: weights and activations under each policy, `memory_repeats` fresh processes each.
# The first float32 activations process also saves its model, for the load_model section.
mixed_file = out / f"{activations_model}_float32.keras"
weight_policies = ["float32", "mixed_float16", "float16"]
act_policies = ["float32", "mixed_float16", "float16", "mixed_bfloat16"]
specs = [{"part": "activations", "policy": p, "model": activations_model, "image_size": activations_size,
          "batch_size": activations_batch, "repeat": r} for r in range(memory_repeats) for p in act_policies]
specs[0]["save_model"] = str(mixed_file)
specs += [{"part": "weights", "policy": p, "model": weights_model, "image_size": weights_size, "repeat": r}
          for r in range(memory_repeats) for p in weight_policies]
t0 = time.perf_counter()
probed = pd.DataFrame(run_probes("policies", specs, parallel=parallel, launcher=SpawnLauncher()))
print(f"{len(specs)} probe processes in {time.perf_counter() - t0:.0f} s")


def by_policy(part: str) -> pd.DataFrame:
    """Median and spread (max - min over the repeats) of a part's rise, per policy."""
    rows = probed[probed["part"] == part]
    stats = rows.groupby("policy", sort=False)["rise_bytes"].agg(["median", "min", "max"])
    stats["spread"] = stats["max"] - stats["min"]
    return stats


# Two fresh processes of the same setting differ by a few pages to a few MiB here; a spread
# measured below 1 MiB counts as 1 MiB, so that "beyond 3x the spread" means beyond 3 MiB at least.
FLOOR = 1 * MIB

# %% [markdown]
# ## 3. Weights: mixed precision keeps them in float32
#
# Each process builds `weights_model` (random weights, no download) under one policy and reads
# the host resident memory the build leaves: its variables, and the layer objects around them. The
# variables' bytes are also counted directly (elements times the size of their dtype).

# %%
w = probed[probed["part"] == "weights"].groupby("policy", sort=False).first()
ws = by_policy("weights")
params = int(w["parameters"].iloc[0])
weights = pd.DataFrame({
    "variables' dtype": w["variable_dtypes"].map(", ".join),
    "arithmetic (params x bytes)": [fmt(params * expected.loc[p, "bytes per weight"]) for p in w.index],
    "variables hold": w["variable_bytes"].map(fmt),
    "resident rise (median)": ws["median"].map(fmt),
    "spread over repeats": ws["spread"].map(fmt),
})
say(f"`{weights_model}` at {weights_size} px: **{params / 1e6:.1f} M parameters**; the resident rise is one build, "
    f"in {memory_repeats} fresh processes per policy:")
display(weights)
for p in weight_policies:
    held, should = w.loc[p, "variable_bytes"], params * expected.loc[p, "bytes per weight"]
    assert held == should, f"{p}: the variables hold {held} bytes, the arithmetic says {should}"
spread_w = max(ws["spread"].max(), FLOOR)
mixed_moved = ws.loc["mixed_float16", "median"] - ws.loc["float32", "median"]
pure_saved = ws.loc["float32", "median"] - ws.loc["float16", "median"]
halving = w.loc["float32", "variable_bytes"] - w.loc["float16", "variable_bytes"]
memory_claim(w.loc["mixed_float16", "variable_dtypes"] == ["float32"] and abs(mixed_moved) <= 3 * spread_w
      and pure_saved > 3 * spread_w,
      f"mixed_float16 keeps the weights in float32: its variables hold {fmt(w.loc['mixed_float16', 'variable_bytes'])}, "
      f"as float32's do, and its build's resident rise differs from float32's by {fmt(abs(mixed_moved))}: no "
      f"measurable difference (the spread over repeats was {fmt(ws['spread'].max())}, counted as at least "
      f"{fmt(FLOOR)}); the pure float16 model's build left {fmt(pure_saved)} less, beyond 3x that spread")
beside32 = ws.loc["float32", "median"] - w.loc["float32", "variable_bytes"]
beside16 = ws.loc["float16", "median"] - w.loc["float16", "variable_bytes"]
rest = ("the rest of the build shrank too" if beside32 - beside16 > 3 * spread_w
        else "the rest of the build did not measurably change")
memory_claim(pure_saved >= 0.9 * halving,
             f"the pure float16 model saves about what the arithmetic of its variables says, at least nine tenths of "
             f"{fmt(halving)} ({params / 1e6:.1f} M x 2 bytes): measured {fmt(pure_saved)}, "
             f"{pure_saved / halving:.2f}x the arithmetic ({rest}: the build left {fmt(beside32)} beside the float32 "
             f"variables, {fmt(beside16)} beside the float16 ones)")

# %% [markdown]
# ## 4. Activations: how far 16 bits shrink them here
#
# Each process builds `activations_model` under one policy and measures the peak rise of host
# resident memory during one `predict` of one batch of `activations_batch` images: the
# activations, plus one trace of the predict function and the outputs. The arithmetic's yardstick
# is the largest layer output: a layer reads one tensor and writes another, so at least that
# one is alive at the peak.

# %%
a = probed[probed["part"] == "activations"].groupby("policy", sort=False).first()
rise = by_policy("activations")
largest = int(a["largest_layer_values"].iloc[0])
activations = pd.DataFrame({
    "computes in": [", ".join(a.loc[p, "compute_dtypes"]) for p in rise.index],
    "largest layer output (arithmetic)": [fmt(largest * activations_batch * expected.loc[p, "bytes per activation"])
                                          for p in rise.index],
    "peak rise of one predict (median)": rise["median"].map(fmt),
    "spread over repeats": rise["spread"].map(fmt),
    "against float32": (rise["median"] / rise.loc["float32", "median"]).map(lambda v: f"{v:.2f}x"),
})
say(f"`{activations_model}` at {activations_size} px, one batch of {activations_batch} "
    f"(the input itself is {fmt(a['input_bytes'].iloc[0])} of float32 in every policy; the outputs "
    f"{fmt(a.loc['float32', 'output_bytes'])} in float32):")
display(activations)

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
x = np.arange(len(weight_policies))
left.bar(x - 0.2, [w.loc[p, "variable_bytes"] / MIB for p in weight_policies], 0.4, label="variables (counted)")
left.bar(x + 0.2, [ws.loc[p, "median"] / MIB for p in weight_policies], 0.4,
         yerr=[ws.loc[p, "spread"] / MIB for p in weight_policies], label="resident rise of the build")
left.set_xticks(x, weight_policies)
left.set(ylabel="host resident memory rise (MiB)", ylim=(0, None), title=f"Weights: {weights_model} {weights_size} px, one build")
left.legend()
right.bar(act_policies, [rise.loc[p, "median"] / MIB for p in act_policies],
          yerr=[rise.loc[p, "spread"] / MIB for p in act_policies], color="tab:orange")
right.axhline(rise.loc["float32", "median"] / 2 / MIB, color="gray", ls="--", label="half of float32's")
right.set(ylabel="host resident memory rise (MiB)", ylim=(0, None),
          title=f"Activations: peak rise of one predict, {activations_model} batch {activations_batch}")
right.legend()
plt.show()

spread_a = max(rise["spread"].max(), FLOOR)
sixteen = [p for p in act_policies if p != "float32"]
saved = {p: rise.loc["float32", "median"] - rise.loc[p, "median"] for p in sixteen}
memory_claim(all(v > 3 * spread_a for v in saved.values()),
             "every 16-bit policy lowers the host peak of one predict: "
             + ", ".join(f"{p} by {fmt(v)} ({v / rise.loc['float32', 'median']:.0%})" for p, v in saved.items())
             + f", each beyond 3x the spread ({fmt(rise['spread'].max())} over repeats, counted as at least "
             f"{fmt(FLOOR)})")
same = abs(rise.loc["mixed_float16", "median"] - rise.loc["float16", "median"])
memory_claim(same < 0.1 * saved["mixed_float16"],
             f"for the activations, mixed and pure float16 are the same: their peaks differ by {fmt(same)}, under a "
             f"tenth of the {fmt(saved['mixed_float16'])} both save against float32; what separates them is the "
             "weights (section 3)")
best = max(saved, key=lambda p: saved[p])
share = saved[best] / rise.loc["float32", "median"]
if gpu:
    say(f"The arithmetic promises half (every activation in 2 bytes instead of 4). On this machine a GPU ({gpu}) "
        f"was found, so the activations likely live in its memory, which these probes do not read: the host "
        f"figures above (at best **{share:.0%}** less, {best}) say little about them. Compare the GPU peaks of a "
        "sweep over the precisions instead.")
elif share < 0.4:
    say(f"The arithmetic promises half (every activation in 2 bytes instead of 4); this CPU delivers at best "
        f"**{share:.0%}** ({best}). The float32 peak is "
        f"{rise.loc['float32', 'median'] / (largest * activations_batch * 4):.1f} times its largest layer output, "
        f"the float16 peak {rise.loc['float16', 'median'] / (largest * activations_batch * 2):.1f} times its own. "
        "A likely reason, not measured here: the 16-bit kernels of this CPU hold more of their (smaller) tensors, "
        "or scratch space, at once.")
else:
    say(f"The arithmetic promises half, and on this CPU {best} comes close: **{share:.0%}** less than float32.")

# %% [markdown]
# ## 5. The `load_model` pitfall: the saved policies win
#
# A common recipe for "running a saved model in mixed precision" is
#
# ```python
# keras.mixed_precision.set_global_policy("mixed_float16")
# model = keras.saving.load_model("model.keras")   # saved in float32
# ```
#
# It runs in float32. The global policy applies to layers **created without a dtype**, and a
# saved model stores every layer's policy (`float32`) in its config, so loading restores them.
# The probe below runs the recipe in a fresh process on the `activations_model` file saved in
# float32 above (and on the trained demo model, to compare outputs), then `clone_model` under
# the same policy, and the rebuild that works: rewrite the stored policies in the config, then
# `from_config` and `set_weights` (what the workbench does for every model file, in
# `workbench.trial.models.rebuild`). Building the model from code under the policy and loading
# only the weights works too.

# %%
wb.prepare(wb.ModelSpec("demo"), wb.DataSpec.parse("demo"))  # trains the demo model the first time (about a minute)
paths = demo_assets.paths()
pit = run_probe("policies", {"part": "load_model", "policy": "mixed_float16", "model_path": str(mixed_file),
                             "image_size": activations_size, "batch_size": activations_batch,
                             "drift_model_path": str(paths["model"]), "drift_images_path": str(paths["images"]),
                             "drift_images": drift_samples}, launcher=SpawnLauncher())


def dtypes(counts: dict) -> str:
    """``{"float16": 104, "float32": 1}`` -> ``104 layers float16, 1 layer float32``."""
    return ", ".join(f"{n} layer{'s' if n != 1 else ''} {d}" for d, n in counts.items())


drift_pit = pit["drift"]
display(pd.DataFrame({
    f"{activations_model}: layers compute in": {k: dtypes(pit[k]["compute_dtypes"]) for k in ("loaded", "cloned", "rebuilt")},
    "demo model: max |diff| from float32": {k: f"{drift_pit[k]['max_abs_diff']:.2g}" for k in ("loaded", "cloned", "rebuilt")},
    "demo model: top-1 agreement": {k: f"{drift_pit[k]['top1_agreement']:.1%}" for k in ("loaded", "cloned", "rebuilt")},
}).rename(index={"loaded": "set_global_policy + load_model", "cloned": "then clone_model",
                 "rebuilt": "policies rewritten, rebuilt"}))
layers = sum(a.loc["float32", "compute_dtypes"].values())
loaded_rise = pit["loaded"]["rise_bytes"]
claim(pit["global_policy"] == "mixed_float16" and pit["loaded"]["compute_dtypes"] == {"float32": layers}
      and pit["cloned"]["compute_dtypes"] == {"float32": layers} and drift_pit["loaded"]["max_abs_diff"] == 0.0,
      f"with the global policy set to mixed_float16, all {layers} layers of the loaded model compute in float32 "
      f"(and so do clone_model's), and the loaded demo model's outputs equal float32's to the last bit: the "
      "recipe changed nothing")
to32, to16 = abs(loaded_rise - rise.loc["float32", "median"]), abs(loaded_rise - rise.loc["mixed_float16", "median"])
memory_claim(to32 < to16 and to16 - to32 > 3 * spread_a,
             f"and it pays float32's host memory: one predict of {activations_batch} rose {fmt(loaded_rise)}, "
             f"against {fmt(rise.loc['float32', 'median'])} for float32 and "
             f"{fmt(rise.loc['mixed_float16', 'median'])} for a model built under mixed_float16 (section 4)")
out_layers = pit["rebuilt"]["output_compute_dtypes"]
claim(pit["rebuilt"]["compute_dtypes"].get("float16", 0) == layers - 1 and set(out_layers.values()) == {"float32"}
      and drift_pit["rebuilt"]["max_abs_diff"] > 0,
      f"rewriting the stored policies and rebuilding works: {layers - 1} of {layers} layers compute in float16, and "
      f"the one left, the output layer ({', '.join(f'`{k}`' for k in out_layers)}), computes in float32, as the "
      f"mixed-precision guide advises; the demo model's outputs now move by "
      f"{drift_pit['rebuilt']['max_abs_diff']:.2g}, the rounding of 16-bit arithmetic")

# %% [markdown]
# ## 6. Accuracy drift on a trained model
#
# One trial process per precision and batch size, on the trained demo model. After the timed
# and memory phases, each trial runs the first `drift_samples` images through its model **and**
# through a float32 copy with the same weights, and records the largest difference in the
# outputs (class probabilities), how often the top class agrees, and the accuracy against the
# true labels. Rounding every activation to 16 bits moves the outputs a little; what matters is
# whether it moves the **decisions**.

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
display(pd.DataFrame({
    "images/s (median of passes)": m["throughput_ips"].round(0),
    "spread (CV)": m["throughput_cv"].map(lambda v: f"{v:.1%}"),
    "max |diff|": m["drift_max_abs"].map(lambda v: f"{v:.2g}"),
    "top-1 agreement": m["top1_agreement"].map(lambda v: f"{v:.1%}"),
    "accuracy": m["accuracy"].map(lambda v: f"{v:.1%}"),
}))
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
# bfloat16's steps are 8x float16's (7 mantissa bits against 10): call its drift larger only beyond 3x
# float16's, and beyond 3x how much each precision's drift moved across the batch sizes.
per = df.groupby("precision")["drift_max_abs"].agg(["min", "max"])
wobble = (per["max"] - per["min"]).loc[["mixed_float16", "mixed_bfloat16"]].max()
ratio = per.loc["mixed_bfloat16", "min"] / per.loc["mixed_float16", "max"]
gap = per.loc["mixed_bfloat16", "min"] - per.loc["mixed_float16", "max"]
claim(ratio > 3 and gap > 3 * wobble,
      f"bfloat16's coarser steps show: in every trial its outputs drift at least {per.loc['mixed_bfloat16', 'min']:.2g} "
      f"from float32, float16's at most {per.loc['mixed_float16', 'max']:.2g}: {ratio:.1f}x (the steps are 8x "
      f"coarser; the drift moved by at most {wobble:.2g} across batch sizes {batch_sizes})")

# %% [markdown]
# ## 7. Speed
#
# 16-bit arithmetic is fast only where the hardware has it (the tensor cores of recent NVIDIA
# GPUs; some recent CPUs have bfloat16 instructions). Elsewhere each layer converts between
# formats, and the conversions cost time. Each trial timed several passes; a precision is called
# faster or slower than float32 only when the medians differ by more than their combined spread
# (`workbench.analysis.spread.speed_verdict`), otherwise "no measurable difference".

# %%
where = f"the GPU ({gpu})" if gpu else "this CPU (no GPU was found)"
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
plots.throughput_vs_batch(df, ax=ax)
plt.show()
verdicts = {(p, b): speed_verdict(m.loc[(p, b)], m.loc[("float32", b)])
            for p in ("mixed_float16", "mixed_bfloat16") for b in batch_sizes}
for p in ("mixed_float16", "mixed_bfloat16"):
    each = "; ".join(f"batch {b}: **{verdicts[(p, b)][0]}** ({verdicts[(p, b)][1]:.2f}x, spreads "
                     f"{m.loc[(p, b), 'throughput_cv']:.0%} and {m.loc[('float32', b), 'throughput_cv']:.0%})"
                     for b in batch_sizes)
    say(f"On {where}, {p} against float32: {each}.")
kinds = {v for v, _ in verdicts.values()}
if kinds == {"no measurable difference"}:
    say("No precision was measurably faster or slower than float32 in this run: the differences stayed within "
        "the spread of the passes. Rerun with a longer `min_duration_s` on a quiet machine to separate them.")
elif "faster" not in kinds:
    say(f"Where a difference was measurable, 16 bits were **slower** on {where}: without fast 16-bit arithmetic "
        "the conversions cost more than the narrower numbers save.")

# %% [markdown]
# ## What to take away
#
# The decision this notebook helps make: **which precision to deploy, and how to get it.**
#
# - For **weight memory**, mixed precision does nothing: its variables stay float32. Only a pure
#   float16 (or bfloat16, or int8-quantised) model halves them; measure its accuracy first.
# - For **activation memory**, 16 bits saved less than the arithmetic's half on the CPU this was
#   written on (section 4 says what this run found); measure on the hardware you deploy to (on a
#   GPU, compare the GPU peaks: these probes read host memory only).
# - **Never trust `set_global_policy` + `load_model`**: check `layer.dtype_policy.compute_dtype`
#   after loading. Rebuild from the config with the policies rewritten, or build from code under
#   the policy and load the weights; the workbench does this for model files.
# - 16 bits move the outputs a little and the decisions less: check top-1 agreement and
#   accuracy on your own model and data before you switch, and call a speed-up only beyond the
#   spread.

# %%
# The kernel stayed free of TensorFlow: every figure above came from isolated processes.
assert "tensorflow" not in sys.modules, "TensorFlow was imported in the notebook kernel"
say(f"TensorFlow was never imported in this kernel. The whole notebook took {time.perf_counter() - started:.0f} s "
    f"here; the raw results are in `{out}`.")
