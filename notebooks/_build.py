"""Write the teaching notebooks 02-05 (clean: no outputs) from the cell texts below.

    .venv/bin/python notebooks/_build.py          # rewrite all four
    .venv/bin/python notebooks/_build.py 03       # rewrite the ones whose name starts with 03

The notebooks are the product; this script only keeps their shared set-up cell identical and
their JSON tidy. Edit a notebook's text here, run the script, and commit both.

Each notebook: an introduction, a ``parameters`` cell (papermill) with defaults that run in a
few minutes on a 2-core CPU, the shared set-up, then sections that measure, plot and state
claims through ``claim(holds, text)``, which shows the claim with its check and stops the
notebook when this run's numbers contradict it. Where a result depends on the machine
(half precision on a CPU), the text branches on the measurement instead of asserting it.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str, *tags: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(textwrap.dedent(text).strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


SETUP = '''
# Shared set-up (the same in every teaching notebook). The kernel never imports TensorFlow:
# every trial runs in its own process, so an out-of-memory kill costs one trial, not this kernel.
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

import workbench as wb
from workbench import analysis
from workbench.render import plots
from workbench import format_bytes as fmt

out = Path(out_dir).expanduser() if out_dir else Path(tempfile.mkdtemp(prefix=f"workbench-{NOTEBOOK}-"))
out.mkdir(parents=True, exist_ok=True)
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 120)


def say(text: str) -> None:
    """Text written from this run's numbers."""
    display(Markdown(text))


def claim(holds: bool, text: str) -> None:
    """Show a claim about this run's numbers with its check; stop when the numbers contradict it."""
    say(("**✔ checked:** " if holds else "**✘ contradicted by this run:** ") + text)
    assert holds, "the measurement contradicts the notebook's text: " + text


def progress(event: wb.TrialEvent) -> None:
    """One line per finished trial."""
    if event.kind == "end":
        r = event.result
        peak = fmt(r.host_peak_bytes)
        print(f"{event.index + 1}/{event.total} {r.pipeline:10} {r.precision:14} batch {r.batch_size:4}: "
              f"{str(r.status):11} {r.throughput_ips:7.0f} images/s  peak host {peak}", flush=True)


def is_ok(df: pd.DataFrame) -> pd.Series:
    return df["status"].astype(str) == "ok"


print(f"results go to {out}")
'''

FINAL = '''
# The kernel stayed free of TensorFlow: every figure above came from isolated trial processes.
assert "tensorflow" not in sys.modules, "TensorFlow was imported in the notebook kernel"
say(f"TensorFlow was never imported in this kernel. The raw results are in `{out}`.")
'''


def setup(name: str) -> nbformat.NotebookNode:
    return code(f'NOTEBOOK = "{name}"\n' + SETUP)


# --------------------------------------------------------------------------- 02 batch size

NB02 = [
    md('''
    # Batch size: what memory grows with, and where speed stops improving

    Larger batches are faster, until they are not, and they always cost memory. This notebook
    measures, **on this machine**, for one model:

    1. peak memory and throughput at several batch sizes (host memory; GPU memory where a GPU
       ran the trials);
    2. how the peak splits into a **fixed part** (runtime, weights, data already loaded) and a
       **per-image part** (the activations of one more image in the batch);
    3. where throughput stops improving;
    4. why "start at 1 and double until it fails" is a slow and risky way to find the largest
       batch that fits, and what the workbench's search does instead.

    Every trial runs in its own process (TensorFlow is never imported in this kernel). Sentences
    marked **✔ checked** are tested against the numbers this run measured: if the story stops
    matching the measurement, the notebook fails rather than teach folklore.
    '''),
    code('''
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
    ''', "parameters"),
    setup("02"),
    md('''
    ## 1. Sweep the batch size

    Each batch size is one fresh process: build the model, make the images, warm up (the first
    call traces the model), then time whole passes over the images. The host peak is the
    kernel's own high-water mark for the process during prediction, so a spike of a millisecond
    is counted.
    '''),
    code('''
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
    '''),
    code('''
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
    '''),
    md('''
    ## 2. Fixed memory and per-image memory

    Over the batch sizes tried, the peak follows a straight line, give or take some scatter:
    `peak = fixed + per_image x batch`. The **fixed** part is what the process holds whatever the
    batch: the Python and TensorFlow runtime, the model's weights, and the images already in
    memory (on a GPU: the weights and what TensorFlow keeps there). The **per-image** part is what one more image in the batch adds: its copy of the
    input and the outputs of every layer that are alive at the same time (the activations).
    '''),
    code('''
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
    '''),
    md('''
    ## 3. Where throughput stops improving

    A batch shares the fixed costs of a step (a Python call, launching the kernels, reading the
    weights) among its images. Once those are small next to the arithmetic, a bigger batch only
    costs memory, and each batch takes longer (its latency grows), which matters when someone is
    waiting for one answer.
    '''),
    code('''
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
    '''),
    md('''
    ## 4. Finding the largest batch that fits a budget

    The usual advice is to start at batch 1 and double until it fails. That costs a probe for
    every doubling and then a bisection between the last success and the first failure, and its
    last doubling asks for up to **twice** the memory of the answer. When "fails" means the
    machine ran out of memory, that probe is the one that kills your kernel (or pushes
    everything else on the machine into swap).

    The workbench's search runs each probe in its own process **under the budget** (a probe that
    passes the budget is stopped there, far from the machine's real limit), measures batch 1 for
    the fixed part, takes one jump, and then asks the memory model where the line crosses the
    budget, confirming that guess with one more probe.

    Suppose this process may use the budget below (chosen from the fitted line so that about
    `search_share` of the images fit in one batch with the margin to spare). First both strategies
    are replayed on the fitted line (no process is started: each "probe" reads the line), to
    count their probes; then the real search runs.
    '''),
    code('''
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
    '''),
    code('''
    doubling, guided = replay["doubling"], replay["model"]
    say(f"Budget: **{fmt(budget)}** of {kind} memory, {margin:.0%} of it kept free.")
    claim(doubling.batch_size == guided.batch_size and guided.n_probes < doubling.n_probes,
          f"on the same memory curve both find batch {guided.batch_size}; doubling needs "
          f"{doubling.n_probes} probes, the model-guided search {guided.n_probes}")
    limit = budget * (1 - margin)
    failures = [(b, peak) for (b, _, peak), fits in zip(doubling.probes, doubling.fits) if not fits]
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
    '''),
    code('''
    def probe_line(event) -> None:
        if event.kind == "end":
            print(f"probe {event.index + 1}: batch {event.batch_size:4} {str(event.result.status):11} "
                  f"peak {fmt(getattr(event.result, column))} -> {'fits' if event.fits else 'does not fit'}", flush=True)


    found = search_batch(template, out / "search", margin=margin, progress=probe_line, **budget_arg)
    predicted = analysis.max_batch_for_budget(fixed, per_image, budget, margin)
    say(f"The real search answered **batch {found.batch_size}** in {found.n_probes} probes, each an isolated "
        f"process; the line fitted to the sweep predicted batch {predicted}.")
    answer_peak = next(peak for (b, _, peak), fits in zip(found.probes, found.fits) if b == found.batch_size and fits)
    claim(answer_peak <= budget * (1 - margin),
          f"at batch {found.batch_size} the measured peak {fmt(answer_peak)} stays under the budget less the margin "
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
    '''),
    md('''
    ## What to take away

    - Peak memory is a fixed part plus a per-image part; the per-image part (activations) is what
      grows with the batch, and it says, give or take the scatter, what a larger batch will cost
      before you try it.
    - Throughput climbs steeply at small batches and then flattens: past the knee, a bigger batch
      costs memory and latency and buys little speed.
    - To find the largest batch that fits, measure a few isolated probes under a budget and let the
      memory model aim, rather than doubling into an out-of-memory kill
      (`python -m workbench search --help`).
    '''),
    code(FINAL),
]


# --------------------------------------------------------------------------- 03 input pipelines

NB03 = [
    md("""
    # Input pipelines: in memory, a manual loop, or streamed from disk

    The same model and the same images can reach `predict` in three ways, and they cost very
    different amounts of memory and time:

    | pipeline | what it does |
    |---|---|
    | `in_memory` | decode every image into one array, then `model.predict(x, batch_size=b)` |
    | `batch_loop` | the same array, but a Python loop calls `model.predict` on one slice at a time |
    | `stream` | read each batch from disk as it is needed (`tf.data`, a few batches prefetched) |

    This notebook writes a small image set to disk twice (one `.npy` file and a folder of PNG
    files), feeds it through each pipeline in isolated trial processes, and compares host memory,
    throughput, and the cost of calling `predict` in a Python loop. Sentences marked
    **✔ checked** are tested against this run's numbers.
    """),
    code("""
    # Defaults run in a few minutes on a 2-core CPU. With more memory and a GPU, try for example:
    #   model = "mobilenet_v2"; image_size = 224; images = 4096; batch_sizes = [32, 256]
    model = "tiny"          # "tiny", a keras.applications name, or a .keras/.h5 file
    image_size = 64         # pixels a side of the images written to disk (and of the model's input)
    images = 512            # images in the data set
    batch_sizes = [32, 128]
    out_dir = ""            # "" for a fresh temporary folder
    """, "parameters"),
    setup("03"),
    md("""
    ## 1. The same images, twice on disk

    Random 8-bit RGB pixels: memory and speed do not depend on what the pictures show. On disk an
    image is one byte per channel; decoded for the model it is a float32, four bytes per channel,
    so the decoded set is four times the `.npy` file.
    """),
    code("""
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
    """),
    md("""
    ## 2. Run every pipeline

    One trial per pipeline and batch size on the `.npy` file, and the stream pipeline on the PNG
    folder. `host baseline` is the process's resident memory after loading (before the first
    prediction); `peak` is its high-water mark while predicting.
    """),
    code("""
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
    """),
    code("""
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
    """),
    md("""
    ## 3. Host memory: what streaming saves

    `in_memory` and `batch_loop` hold the whole decoded set before the first prediction; `stream`
    holds a few batches. On top of that, `model.predict(x)` on a whole array converts it into a
    dataset of its own (Keras copies what it is given), so the in-memory peak carries the data set
    more than once.
    """),
    code("""
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
    """),
    md("""
    ## 4. Throughput, and the cost of calling `predict` in a loop

    `model.predict` has work to do on every call before the first image is computed: it wraps
    its input in a dataset, sets up its loop and callbacks, and gathers the outputs. Called once
    on the whole array it pays that once; called in a Python loop it pays it for every batch.
    """),
    code("""
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
    """),
    code("""
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
    """),
    md("""
    ## 5. When is streaming worth it?

    The memory streaming saves grows with the data set; its cost in speed does not. From this run's
    figures, per image of this size:
    """),
    code("""
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
    """),
    code(FINAL),
]


# --------------------------------------------------------------------------- 04 precision

NB04 = [
    md("""
    # Precision: what float16 and bfloat16 buy, and what they cost

    Keras's mixed precision policies (`mixed_float16`, `mixed_bfloat16`) compute the layers in a
    16-bit format while the weights stay float32 variables and the last layer still answers in
    float32. Half the bits per number should mean less memory for activations and, on hardware
    with fast 16-bit arithmetic, more speed. It also means rounding, so the answers move.

    This notebook runs the **demo model** (a small CNN trained on this machine on scikit-learn's
    handwritten digits) in all three precisions on the same held-out images, and measures memory,
    speed and how far the outputs drift from float32. Whether 16 bits is faster depends on the
    hardware: the text below follows what this run measured. Sentences marked **✔ checked** are
    tested against this run's numbers.
    """),
    code("""
    # Defaults run in a few minutes on a 2-core CPU (the first run also trains the demo model, about a
    # minute). On a GPU, try batch_sizes = [32, 256, 1024].
    model = "demo"          # the locally trained CNN (drift on random weights would mean little)
    data = "demo"           # the embedded digits; the first 600 were never used in training
    batch_sizes = [32, 512]
    drift_samples = 600     # images compared with float32 (the held-out ones)
    min_duration_s = 2.0    # timed seconds per trial, at least: enough passes to steady the speed figures
    out_dir = ""            # "" for a fresh temporary folder
    """, "parameters"),
    setup("04"),
    md("""
    ## 1. Two 16-bit formats

    Both formats keep a sign bit; they split the other 15 differently. `float16` keeps 10 bits of
    mantissa (finer steps) and 5 of exponent (its largest number is 65504); `bfloat16` keeps
    float32's 8 exponent bits (the same range) and only 7 bits of mantissa (coarser steps). The
    cell below rounds a few numbers to each format with plain numpy (bfloat16 is float32 with its
    low 16 bits rounded away).
    """),
    code("""
    def to_bfloat16(x) -> np.ndarray:
        \"\"\"Round float32 values to the nearest bfloat16 (ties to even), returned as float32.\"\"\"
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
    """),
    md("""
    ## 2. The same model in three precisions

    One process per precision and batch size. After the timed and memory phases, each trial runs
    the first `drift_samples` images through its model **and** through a float32 copy with the
    same weights, and records the largest difference in the outputs (class probabilities), how
    often the top class agrees, and the accuracy against the true labels.
    """),
    code("""
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
    """),
    md("""
    ## 3. Accuracy drift

    Rounding every activation to 16 bits moves the outputs a little. What matters is whether it
    moves the **decisions**: the top class, and the accuracy on labelled images.
    """),
    code("""
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
    """),
    md("""
    ## 4. Speed

    16-bit arithmetic is fast only where the hardware has it (the tensor cores of recent NVIDIA
    GPUs, some recent CPUs). Elsewhere each layer converts between formats and computes in
    float32 anyway, and the conversions cost time.
    """),
    code("""
    gpu = wb.environment()["gpu_name"]
    where = f"the GPU ({gpu})" if gpu else "this CPU (no GPU was found)"
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plots.throughput_vs_batch(df, ax=ax)
    plt.show()
    for p in ("mixed_float16", "mixed_bfloat16"):
        ratios = [m.loc[(p, b), "throughput_ips"] / m.loc[("float32", b), "throughput_ips"] for b in batch_sizes]
        mean = float(np.exp(np.mean(np.log(ratios))))
        each = ", ".join(f"{r:.2f}x at batch {b}" for r, b in zip(ratios, batch_sizes))
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
    """),
    md("""
    ## 5. Memory

    The weights stay float32 under a mixed policy, and the runtime is the same, so the **fixed**
    part of the peak should not change; what 16 bits can shrink is the **per-image** part (the
    activations). With two batch sizes the per-image figure is a line through two noisy points:
    read small differences as no difference.
    """),
    code("""
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
    """),
    md("""
    ## What to take away

    - Lower precision moves the outputs by a little and the decisions by less: check top-1
      agreement and accuracy on your own model and data before you switch.
    - bfloat16 rounds more coarsely than float16 but never overflows where float32 would not.
    - Speed and memory gains depend on the hardware: measure them, as above, rather than assume.
    """),
    code(FINAL),
]


# --------------------------------------------------------------------------- 05 out of memory

NB05 = [
    md("""
    # Out of memory: what it looks like, and how to rehearse a smaller machine

    Without isolation, running out of memory in a notebook looks like this: on the host, the
    operating system's out-of-memory killer ends the kernel ("The kernel appears to have died")
    and every variable in it is gone; on a GPU, TensorFlow raises `ResourceExhaustedError: OOM
    when allocating tensor` and the memory it already took stays held until the kernel restarts.

    The workbench runs each setting in its own process, so an out-of-memory failure ends **one
    trial**, which comes back as a row with a status and the reason. This notebook:

    1. gives the trials a **host memory budget** (a smaller machine, rehearsed on this one) and
       watches the large batches fail against it;
    2. shows each kind of failure as the workbench reports it;
    3. predicts where the budget will be crossed before trying it, and picks a setting;
    4. tries the **simulated GPU budget**, which needs a GPU;
    5. reads the HTML report of the whole exercise.

    Sentences marked **✔ checked** are tested against this run's numbers.
    """),
    code("""
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
    """, "parameters"),
    setup("05"),
    md("""
    ## 1. Rehearse a smaller machine with a host budget

    First, what does the process need at all? A trial at the smallest batch size, without a
    budget. Then the budget: that much plus `headroom_mib`, as if this were a machine with little
    memory to spare.
    Every trial of the sweep runs under it: the workbench watches the trial's resident memory and
    stops it as soon as it passes the budget (and checks the kernel's high-water mark at the end,
    so a spike between two looks is caught too).
    """),
    code("""
    spec, data = wb.ModelSpec(model, image_size=image_size), wb.DataSpec("synthetic", count=images)
    timing = wb.TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=0.0, drift_samples=0)  # one pass each
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
    """),
    code("""
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
    """),
    md("""
    The triangle is the trial stopped at the budget: its peak is where the workbench caught it (a
    lower bound, `sampled_by_parent`), or the kernel's exact high-water mark (`vmhwm`) when the
    trial finished before a look caught it. Either way this kernel, and every result before the
    failure, is untouched.

    ## 2. What each kind of failure looks like

    A budget is the failure you rehearse on purpose. Two others cannot be produced safely on a
    shared machine, so the workbench can **inject** them into a trial (its `fault` option, made
    for tests and teaching): a `SIGKILL`, which is exactly what the kernel's out-of-memory killer
    sends, and the `ResourceExhaustedError` TensorFlow raises when a GPU allocation fails.
    """),
    code("""
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
    """),
    code("""
    killed, gpu_oom = injected["sigkill"], injected["raise_oom"]
    claim(str(killed.status) == "oom" and killed.exit_code == -9,
          f"a process killed by SIGKILL without writing a result is recorded as `oom` (exit code {killed.exit_code}): "
          "the kernel's out-of-memory killer leaves no other trace")
    claim(str(gpu_oom.status) == "oom" and "GPU out of memory" in (gpu_oom.error or ""),
          "TensorFlow's ResourceExhaustedError is recorded as `oom` with its message, and the process that held the "
          "GPU memory is gone with it")
    say("The last lines of the GPU trial's error output, as the results keep them:")
    print("\\n".join((gpu_oom.stderr_tail or "").splitlines()[-3:]))
    """),
    md("""
    ## 3. Predict before you try, then choose

    The trials that fitted give the memory model (`fixed + per image x batch`), which says where
    the budget will be crossed without running anything larger. `recommend` then picks the
    fastest measured setting that stays under the budget with a margin to spare.
    """),
    code("""
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
    """),
    md("""
    ## 4. The simulated GPU budget

    On a GPU, `Budget(gpu_bytes=...)` gives each trial a logical GPU with only that much memory,
    so a large card rehearses a smaller one: a batch that needs more fails with TensorFlow's
    out-of-memory error and comes back as `over_budget`. It limits TensorFlow's GPU allocator,
    so it needs a GPU; on a machine without one it is not enforced, and GPU memory is not
    measured (the results say NaN, never 0).
    """),
    code("""
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
    """),
    md("""
    ## 5. Reading the report

    `write_report` turns a results folder into one HTML file that works offline (plots inline, no
    external URL), for sharing or for later. Read it top to bottom:

    1. **the counts** of trials by status: a first look at how many failed, and how;
    2. **Recommendation**: the setting, the reason in plain words (what it gains, its peak against
       the budget, what happened at the next larger batch) and notes;
    3. **Plots**: failures are drawn as markers where the curve stops, with the budget as a line;
    4. **Memory model**: fixed and per-image memory per series, and the largest batch the budget allows;
    5. **All trials**: every row, failed ones with their reason;
    6. **Sweep settings** and **Environment**: what was run, on which machine and versions, so
       numbers from two machines are never mixed up.
    """),
    code("""
    from workbench.render.report import report_data, write_report

    path = write_report(rehearsal, host_budget_bytes=budget)
    html = path.read_text(encoding="utf-8")
    summary = report_data(wb.load_results(rehearsal), host_budget_bytes=budget)
    say(f"Report: `{path}` ({len(html) / 1024:.0f} KiB). Counts: {summary['counts']}. "
        f"Recommendation: **{summary['recommendation']['label']}**.")
    display(pd.DataFrame(summary["memory_model"]))
    external = [u for u in ("src=\\"http", "href=\\"http", "url(http", "@import") if u in html]
    claim(not external and html.count("over_budget") >= len(failed),
          f"the report needs no network (no external source, stylesheet or font) and lists the "
          f"{len(failed)} over-budget trial(s) with the others")
    """),
    md("""
    ## What to take away

    - In the workbench an out-of-memory failure is a row, not a dead kernel: `oom` (killed by the
      system, or TensorFlow's GPU error) or `over_budget` (passed the budget you set).
    - A host budget rehearses a smaller machine on this one; the simulated GPU budget does the same
      for a smaller GPU, where there is a GPU.
    - The memory model predicts where the budget will be crossed; the recommendation keeps a margin
      under it; the report records all of it, with the machine it was measured on.
    """),
    code(FINAL),
]


NOTEBOOKS: dict[str, list[nbformat.NotebookNode]] = {
    "02_batch_size.ipynb": NB02,
    "03_input_pipelines.ipynb": NB03,
    "04_precision.ipynb": NB04,
    "05_out_of_memory.ipynb": NB05,
}


def build(name: str, cells: list[nbformat.NotebookNode]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{index:02d}"  # stable ids: rebuilding changes no line it need not
    nbformat.validate(nb)
    path = HERE / name
    nbformat.write(nb, path)
    return path


def main(argv: list[str]) -> int:
    wanted = [n for n in NOTEBOOKS if not argv or any(n.startswith(a) for a in argv)]
    for name in wanted:
        print(build(name, NOTEBOOKS[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
