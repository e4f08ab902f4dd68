"""Plots of a results DataFrame: ``f(df, *, ax=None) -> Axes``.

Each function draws on the ``ax`` it is given, or on a new :class:`matplotlib.figure.Figure`
(never pyplot: no global state, so the panel can draw from a worker thread). Failed trials are
drawn as points with a marker per status, because where a curve stops (an OOM at batch 256)
is often the most useful thing on the plot. Axes carry units.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from workbench.analysis import fit_memory_model, pareto_frontier
from workbench.analysis.memory_model import peak_at
from workbench.analysis.peaks import at_largest_size, budget_peak, dataset_sizes
from workbench.analysis.spread import aggregate_repeats
from workbench.results import is_ok, ok_trials
from workbench.types import MEMORY_KINDS, MemoryKind

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

    from workbench.analysis import Recommendation

# status -> (marker, colour, legend text)
FAILURE_STYLES: dict[str, tuple[str, str, str]] = {
    "oom": ("X", "#d62728", "out of memory"),
    "over_budget": ("^", "#ff7f0e", "over budget"),
    "timeout": ("v", "#9467bd", "timeout"),
    "error": ("D", "#7f7f7f", "error"),
}
# (column, name, line width): the median bold, the tail thinner and lighter
PERCENTILES = (("latency_p50_s", "p50", 2.2), ("latency_p90_s", "p90", 1.0), ("latency_p99_s", "p99", 0.6))
NOT_MEASURED_GPU = "not measured (no GPU)"
# precision -> (line style, marker)
PRECISION_STYLES = {"float32": ("-", "o"), "mixed_float16": ("--", "s"), "mixed_bfloat16": (":", "D")}


def new_axes(ax: Axes | None = None, *, size: tuple[float, float] = (6.4, 4.0)) -> Axes:
    """``ax`` itself, or the axes of a new pyplot-free figure."""
    if ax is not None:
        return ax
    return Figure(figsize=size, layout="constrained").add_subplot()


def byte_unit(values: Any) -> tuple[str, float]:
    """MiB, or GiB when the largest figure reaches 2 GiB: (unit, divisor)."""
    arr = np.asarray(values, dtype=float)
    top = np.nanmax(arr) if np.isfinite(arr).any() else 0.0
    return ("GiB", 2.0**30) if top >= 2 * 2**30 else ("MiB", 2.0**20)


def series_keys(df: pd.DataFrame) -> list[tuple[str, ...]]:
    """The lines of a plot: (pipeline, precision), with the model and the Keras backend first
    when several are shown."""
    keys = _key_columns(df)
    return [tuple(k) for k in df[keys].drop_duplicates().sort_values(keys).itertuples(index=False)]


def _key_columns(df: pd.DataFrame) -> list[str]:
    keys = ["pipeline", "precision"] if df["model"].nunique() <= 1 else ["model", "pipeline", "precision"]
    if "backend" in df.columns and df["backend"].nunique() > 1:  # a colour family per backend too
        keys.insert(keys.index("pipeline"), "backend")
    return keys


def _series(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame, dict[str, Any]]]:
    """(label, rows sorted by batch, line style) per series.

    Colour says the pipeline (and model and backend), line style and marker the precision, so
    nine series read as three families of three rather than nine unrelated colours.
    """
    from matplotlib import colormaps

    keys = _key_columns(df)
    series = series_keys(df)
    families = list(dict.fromkeys(key[:-1] for key in series))
    cmap = colormaps["tab10" if len(families) <= 10 else "tab20"]
    out = []
    for key in series:
        part = df[np.logical_and.reduce([df[k] == v for k, v in zip(keys, key, strict=True)])]
        linestyle, marker = PRECISION_STYLES.get(key[-1], ("-", "o"))
        style = {"color": cmap(families.index(key[:-1]) % cmap.N), "linestyle": linestyle, "marker": marker}
        out.append((" · ".join(map(str, key)), part.sort_values("batch_size"), style))
    return out


def _batch_axis(ax: Axes, df: pd.DataFrame) -> None:
    batches = df["batch_size"].astype(float)
    if len(batches) and batches.min() > 0 and batches.max() / batches.min() >= 8:
        ax.set_xscale("log", base=2)
        ticks = sorted(set(int(b) for b in batches))
        ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("batch size (images)")


def _failures(ax: Axes, df: pd.DataFrame, y: pd.Series | None = None) -> None:
    """One marker per failed trial, by status: at its measured figure when there is one,
    otherwise along the top of the axes (the trial has no value to plot)."""
    for status, (marker, colour, text) in FAILURE_STYLES.items():
        rows = df[df["status"].astype(str) == status]
        if rows.empty:
            continue
        values = y.loc[rows.index].astype(float) if y is not None else pd.Series(np.nan, index=rows.index)
        known = np.isfinite(values)
        style: dict[str, Any] = dict(linestyle="none", marker=marker, color=colour, markersize=9,
                                     markeredgecolor="black", zorder=5)
        label = f"{text} ({status})"
        if known.any():
            ax.plot(rows["batch_size"][known], values[known], label=label, gid=f"failed:{status}", **style)
            label = "_nolegend_"
        if (~known).any():
            top = blended_transform_factory(ax.transData, ax.transAxes)
            ax.plot(rows["batch_size"][~known], np.full((~known).sum(), 0.96), transform=top,
                    label=label, gid=f"failed:{status}:unmeasured", **style)


def _number(value: float) -> str:
    """1000, 512, 1.86: whole numbers from 100 up, three significant digits below."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _legend(ax: Axes, handles: list[Any] | None = None) -> None:
    """A legend inside the axes when short, beside them when long (it would hide the lines)."""
    handles = handles if handles is not None else ax.get_legend_handles_labels()[0]
    if not handles:
        return
    if len(handles) <= 5:
        ax.legend(handles=handles, fontsize="small")
    else:
        ax.legend(handles=handles, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0)


def _spread_bars(ax: Axes, ok: pd.DataFrame, label: str, colour: Any) -> None:
    """Error bars of the throughput's spread: its interquartile range (of the timed passes, or
    of the runs of a repeated setting) centred on the median; none where it was not measured."""
    if "throughput_iqr_ips" not in ok:
        return
    half = pd.to_numeric(ok["throughput_iqr_ips"], errors="coerce") / 2
    if half.notna().any():
        ax.errorbar(ok["batch_size"], ok["throughput_ips"], yerr=half.to_numpy(dtype=float), fmt="none",
                    ecolor=colour, capsize=3, linewidth=1, label="_nolegend_", gid=f"spread:{label}")


def throughput_vs_batch(df: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Images per second against batch size, one line per pipeline/precision: the median of the
    timed passes with error bars for their spread (a setting run several times: the median of
    the runs and their spread)."""
    ax = new_axes(ax)
    df = aggregate_repeats(at_largest_size(df))  # one size a curve: points of different sizes are not one line
    for label, part, style in _series(df):
        ok = ok_trials(part)
        ax.plot(ok["batch_size"], ok["throughput_ips"], label=label, **style)
        _spread_bars(ax, ok, label, style["color"])
    _failures(ax, df)
    _batch_axis(ax, df)
    ax.set_ylabel("throughput (images/s)")
    ax.set_ylim(bottom=0)
    ax.set_title("Throughput")
    _legend(ax)
    return ax


def memory_vs_batch(df: pd.DataFrame, *, ax: Axes | None = None, kind: MemoryKind = "host",
                    budget_bytes: float | None = None, margin: float | None = None) -> Axes:
    """The budget peak of host (or GPU) memory against batch size (what a budget is checked
    against: the larger of the one-pass and all-passes peaks), with the budget as a line (and,
    given a ``margin``, the limit a recommendation keeps under, dotted).

    When the trials ran at several dataset sizes, the largest is drawn (memory grows with the
    number of images, so one curve holds one size; the largest is the nearest to the real job
    and where the budget bites first) and the title says so."""
    if kind not in MEMORY_KINDS:
        raise ValueError(f"kind {kind!r}: use 'host' or 'gpu'")
    ax = new_axes(ax)
    sizes, df = dataset_sizes(df), aggregate_repeats(at_largest_size(df))  # runs of a setting: the larger peak
    values = budget_peak(df, kind)
    what = "host" if kind == "host" else "GPU"
    ax.set_title(f"Peak {what} memory" + (f" at {sizes[-1]:,} images (largest size)" if len(sizes) > 1 else ""))
    _batch_axis(ax, df)
    if not np.isfinite(values).any() and kind == "gpu":
        ax.text(0.5, 0.5, NOT_MEASURED_GPU, transform=ax.transAxes, ha="center", va="center",
                fontsize="large", color="0.4")
        ax.set_ylabel("peak GPU memory")
        return ax
    unit, div = byte_unit([*values, budget_bytes or np.nan])
    for label, part, style in _series(df):
        ok = ok_trials(part)
        ax.plot(ok["batch_size"], values.loc[ok.index] / div, label=label, **style)
    _failures(ax, df, values / div)
    _budget_lines(ax, budget_bytes, margin, unit, div)
    ax.set_ylabel(f"peak {what} memory ({unit})")
    _legend(ax)
    return ax


def _budget_lines(ax: Axes, budget_bytes: float | None, margin: float | None, unit: str, div: float) -> None:
    if budget_bytes:
        ax.axhline(budget_bytes / div, color="#d62728", linestyle="--", linewidth=1.5,
                   label=f"budget {_number(budget_bytes / div)} {unit}", gid="budget")
        if margin:
            ax.axhline(budget_bytes * (1 - margin) / div, color="#d62728", linestyle=":", linewidth=1.2,
                       label=f"budget less {margin * 100:g} % margin", gid="margin")


def _n_series(df: pd.DataFrame, values: pd.Series, kind: MemoryKind, target: int | None,
              batch_size: int | None) -> list[dict[str, Any]]:
    """Per series: the batch drawn, its measured points, the fitted row and the peak at the target."""
    fits = fit_memory_model(df, kind=kind)
    out = []
    for label, part, style in _series(df):
        sizes = part.groupby("batch_size")["images"].nunique()
        batch = batch_size or int(sizes[sizes >= 2].index.max() if (sizes >= 2).any() else sizes.index.max())
        points = part[part["batch_size"] == batch].sort_values("images")
        first = part.iloc[0]
        match = fits[(fits["pipeline"] == first["pipeline"]) & (fits["precision"] == first["precision"])
                     & (fits["model"] == first["model"])]
        if "backend" in fits.columns:  # fitted per backend where several were measured
            match = match[match["backend"] == first["backend"]]
        fit = None if match.empty else match.iloc[0]
        at = peak_at(fit, batch, target) if fit is not None and target else np.nan
        out.append({"label": label, "style": style, "batch": batch, "fit": fit, "at_target": at,
                    "x": points["images"].astype(float), "y": values.loc[points.index]})
    return out


def memory_vs_images(df: pd.DataFrame, *, ax: Axes | None = None, kind: MemoryKind = "host",
                     target_images: int | None = None, budget_bytes: float | None = None,
                     margin: float | None = None, batch_size: int | None = None) -> Axes:
    """The budget peak against the number of images N, one line per series at one batch size.

    Measured points as markers; the fitted memory model (fixed + per image x batch + per
    dataset image x N) as a line over the sizes measured, dashed beyond them up to
    ``target_images``, where a star marks the predicted peak and a dotted vertical line the
    target; the budget (and, given a ``margin``, the limit kept under) as horizontal lines. The
    batch of a series is ``batch_size``, else its largest batch measured at two or more sizes.
    A series whose N term was not measured (one size) gets no line beyond its points, and the
    axes say that its peak at the target cannot be predicted. Log x when N spans 20x or more.
    """
    if kind not in MEMORY_KINDS:
        raise ValueError(f"kind {kind!r}: use 'host' or 'gpu'")
    ax = new_axes(ax)
    what = "host" if kind == "host" else "GPU"
    df = df.reset_index(drop=True)  # rows are matched by index below: results joined from two runs repeat it
    values = budget_peak(df, kind)
    images = pd.to_numeric(df["images"], errors="coerce") if "images" in df else pd.Series(np.nan, index=df.index)
    ok = df[is_ok(df) & np.isfinite(values) & (images > 0)]
    ax.set_xlabel("images in the dataset (N)")
    ax.set_title(f"Peak {what} memory vs number of images")
    if ok.empty:
        ax.text(0.5, 0.5, f"no {what} peak measured with a known dataset size", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
        return ax
    series = _n_series(ok, values, kind, target_images, batch_size)
    unit, div = byte_unit([*values.loc[ok.index], budget_bytes or np.nan, *[s["at_target"] for s in series]])
    low = float(ok["images"].min())
    high = max(float(ok["images"].max()), float(target_images or 0))
    log = high / low >= 20
    batches = {s["batch"] for s in series}
    unknown = []
    for s in series:
        style, label = s["style"], s["label"] + ("" if len(batches) == 1 else f" (batch {s['batch']})")
        ax.plot(s["x"], s["y"] / div, linestyle="none", marker=style["marker"], color=style["color"],
                label=label, gid=f"measured:{s['label']}")
        top = float(s["x"].max())
        for start, stop, dash, gid in ((float(s["x"].min()), top, "-", "fit"), (top, target_images or 0, "--", "extrapolated")):
            xs = np.geomspace(start, stop, 60) if log and stop > start else np.linspace(start, stop, 60)
            ys = np.array([peak_at(s["fit"], s["batch"], int(x)) for x in xs]) if s["fit"] is not None else xs * np.nan
            if stop > start and np.isfinite(ys).all():
                ax.plot(xs, ys / div, color=style["color"], linestyle=dash, linewidth=1.2, gid=f"{gid}:{s['label']}")
        if target_images and np.isfinite(s["at_target"]):
            ax.plot([target_images], [s["at_target"] / div], linestyle="none", marker="*", markersize=14,
                    color=style["color"], markeredgecolor="black", zorder=6, gid=f"predicted:{s['label']}")
        elif target_images:
            unknown.append(s["label"])
    if target_images:
        ax.axvline(target_images, color="0.3", linestyle=":", linewidth=1.2, gid="target",
                   label=f"target {target_images:,} images")
    _budget_lines(ax, budget_bytes, margin, unit, div)
    if unknown:  # room above the lines for the words, so they hide nothing
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.3 * (hi - lo))
        text = (f"cannot predict at {target_images:,} images (one dataset size measured): "
                + ", ".join(unknown))
        ax.text(0.02, 0.97, textwrap.fill(text, 70), transform=ax.transAxes, ha="left", va="top",
                fontsize="x-small", color="#b00020", gid="not-measured",
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    if log:
        ax.set_xscale("log")
    if len(batches) == 1:
        ax.set_title(f"Peak {what} memory vs number of images (batch {next(iter(batches))})")
    ax.set_ylabel(f"peak {what} memory ({unit})")
    _legend(ax)
    return ax


def pareto_plot(df: pd.DataFrame, *, ax: Axes | None = None, recommendation: Recommendation | None = None,
                memory_col: str = "host_peak_bytes") -> Axes:
    """Memory against throughput for every ok trial, the Pareto frontier highlighted and the
    recommendation marked."""
    ax = new_axes(ax)
    df = aggregate_repeats(at_largest_size(df))
    ok = ok_trials(df)
    unit, div = byte_unit(ok[memory_col])
    for label, part, style in _series(df):
        part = ok_trials(part)
        ax.plot(part[memory_col] / div, part["throughput_ips"], label=label, alpha=0.8,
                **{**style, "linestyle": "none"})
    front = pareto_frontier(df, memory_col=memory_col)
    if len(front):
        ax.plot(front[memory_col] / div, front["throughput_ips"], color="black", linewidth=2,
                marker="o", markerfacecolor="none", markersize=11, label="Pareto frontier", gid="pareto")
    row = recommendation.row if recommendation is not None else None
    if row is not None and row.get(memory_col) is not None and row.get("throughput_ips") is not None:
        ax.plot([row[memory_col] / div], [row["throughput_ips"]], linestyle="none", marker="*",
                markersize=20, color="gold", markeredgecolor="black", zorder=6,
                label=f"recommended: batch {int(row['batch_size'])}, {row['precision']}", gid="recommended")
    what = "host" if memory_col.startswith("host") else "GPU"
    ax.set_xlabel(f"peak {what} memory ({unit})")
    ax.set_ylabel("throughput (images/s)")
    ax.set_title("Memory vs throughput")
    _legend(ax)
    return ax


def latency_vs_batch(df: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Per-batch latency percentiles (p50 solid, p90 dashed, p99 dotted) against batch size."""
    ax = new_axes(ax)
    df = at_largest_size(df)
    series = _series(df)
    for label, part, style in series:
        ok = ok_trials(part)
        for column, name, width in PERCENTILES:
            if column in ok:
                ax.plot(ok["batch_size"], ok[column] * 1e3, color=style["color"], marker=style["marker"],
                        linestyle=style["linestyle"], linewidth=width, markersize=2 + 2 * width,
                        alpha=1.0 if name == "p50" else 0.55, gid=f"{label} {name}")
    _failures(ax, df)
    _batch_axis(ax, df)
    ax.set_ylabel("latency per batch (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title("Latency percentiles (p50 bold, p90, p99 thinner)")
    # One legend entry per series and per percentile, not their product.
    handles: list[Artist] = [Line2D([], [], label=label, **style) for label, _, style in series]
    handles += [Line2D([], [], color="0.3", linewidth=width, label=name) for _, name, width in PERCENTILES]
    handles += [h for h, lab in zip(*ax.get_legend_handles_labels(), strict=True) if not lab.startswith("_")]
    if series:
        _legend(ax, handles)
    return ax


def drift_by_precision(df: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Top-1 agreement with float32 and accuracy (where labels exist) per precision, in %.

    Each bar is the mean over the precision's ok trials; the largest absolute output
    difference from float32 is written above it. Where several Keras backends were measured,
    one bar per backend and precision (``jax · mixed_bfloat16``): each is compared with float32
    on its own backend.
    """
    ax = new_axes(ax)
    ok = ok_trials(df)
    if "backend" in ok.columns and ok["backend"].nunique() > 1:
        ok = ok.assign(precision=ok["backend"].astype(str) + " · " + ok["precision"].astype(str))
    stats = ok.groupby("precision", sort=False).agg(
        top1=("top1_agreement", "mean"), accuracy=("accuracy", "mean"), drift=("drift_max_abs", "max"))
    order = [p for p in ("float32", "mixed_float16", "mixed_bfloat16") if p in stats.index]
    stats = stats.loc[order + [p for p in stats.index if p not in order]]
    ax.set_title("Agreement with float32 and accuracy")
    ax.set_ylabel("images (%)")
    ax.set_xlabel("precision")
    if stats.empty or not np.isfinite(stats[["top1", "accuracy"]].to_numpy(dtype=float)).any():
        ax.text(0.5, 0.5, "no drift measured (drift samples = 0)", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
        return ax
    x = np.arange(len(stats))
    width = 0.38
    top1 = ax.bar(x - width / 2, stats["top1"] * 100, width, label="top-1 agreement with float32",
                  color="#1f77b4", gid="top1")
    if np.isfinite(stats["accuracy"].to_numpy(dtype=float)).any():  # labelled data only
        ax.bar(x + width / 2, stats["accuracy"] * 100, width, label="accuracy", color="#2ca02c", gid="accuracy")
    for rect, drift in zip(top1, stats["drift"], strict=True):
        if np.isfinite(drift):
            ax.annotate(f"max |diff| {drift:.2g}", (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                        ha="center", va="bottom", fontsize="x-small", xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x, list(stats.index))
    ax.set_ylim(0, 125)  # room above the bars for the legend
    ax.set_yticks(range(0, 101, 20))
    ax.legend(fontsize="small", loc="upper center", ncol=2)
    return ax
