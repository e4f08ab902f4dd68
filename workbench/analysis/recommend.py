"""From a results table to a decision: the Pareto frontier and a recommendation.

Pure functions over the DataFrame of :func:`workbench.results.load_results` (failed trials
included, NaN for figures not measured). The memory model lives in :mod:`.memory_model` and is
re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from workbench.analysis.peaks import at_largest_size, budget_peak, dataset_sizes
from workbench.analysis.spread import aggregate_repeats, speed_verdict
from workbench.config import format_bytes, parse_target_images
from workbench.errors import ConfigError
from workbench.parsing import check_margin
from workbench.results import is_ok, json_value, ok_trials
from workbench.types import MemoryKind, Objective

# objective -> (column, True when larger is better)
OBJECTIVES: dict[Objective, tuple[str, bool]] = {
    "throughput": ("throughput_ips", True),
    "latency": ("latency_p50_s", False),
    "memory": ("host_peak_bytes", False),
}
MEMORY_FAILURES = ("oom", "over_budget")


class Asked(TypedDict):
    """What a recommendation was asked and how many settings qualified: passed, as keywords, to
    the explanations and to the :class:`Recommendation` alike."""

    objective: Objective
    host_budget_bytes: int | None
    gpu_budget_bytes: int | None
    margin: float
    candidates: int


def pareto_frontier(
    df: pd.DataFrame,
    *,
    memory_col: str = "host_peak_bytes",
    throughput_col: str = "throughput_ips",
) -> pd.DataFrame:
    """The ok trials no other trial beats on both memory (less) and throughput (more).

    Sorted by memory, so throughput rises along it. Trials missing either figure are left out.
    """
    ok = ok_trials(df)
    ok = ok[np.isfinite(ok[memory_col].astype(float)) & np.isfinite(ok[throughput_col].astype(float))]
    ordered = ok.sort_values([memory_col, throughput_col], ascending=[True, False], kind="mergesort")
    keep, best = [], -math.inf
    for index, value in ordered[throughput_col].items():
        if value > best:  # strictly better than every trial using less (or equal) memory
            keep.append(index)
            best = value
    return ordered.loc[keep]


@dataclass(frozen=True)
class Recommendation:
    """The chosen setting (``row``: its columns, or None when nothing fits) and why."""

    row: dict[str, Any] | None
    reason: str
    objective: Objective = "throughput"
    host_budget_bytes: int | None = None
    gpu_budget_bytes: int | None = None
    margin: float = 0.1
    candidates: int = 0  # ok trials that fit
    notes: tuple[str, ...] = field(default=())
    target_images: int | None = None  # the dataset size the answer is for (None: the largest measured)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN figures become None."""
        row = None
        if self.row is not None:
            row = {k: json_value(v) for k, v in self.row.items()}
        return {
            "row": row, "reason": self.reason, "objective": self.objective,
            "host_budget_bytes": self.host_budget_bytes, "gpu_budget_bytes": self.gpu_budget_bytes,
            "margin": self.margin, "candidates": self.candidates, "notes": list(self.notes),
            "target_images": self.target_images,
        }

    def label(self) -> str:
        """``batch 64, mixed_bfloat16, in_memory`` (or ``nothing fits``)."""
        if self.row is None:
            return "nothing fits"
        return _setting(self.row)


def _setting(row: Any) -> str:
    backend = row.get("backend") if hasattr(row, "get") else None
    on = f", on {backend}" if isinstance(backend, str) and backend != "tensorflow" else ""  # the default unsaid
    return f"batch {int(row['batch_size'])}, {row['precision']}, {row['pipeline']}{on}"


def _host_peak(df: pd.DataFrame) -> pd.Series:
    return budget_peak(df, "host")


def _gpu_peak(df: pd.DataFrame) -> pd.Series:
    """The allocator's budget peak (what a simulated budget limits); NVML's figure where TF has none."""
    return budget_peak(df, "gpu")


def _fits(df: pd.DataFrame, host_limit: float | None, gpu_limit: float | None) -> pd.Series:
    """Measured within the limits (a figure that was not measured cannot be shown to fit)."""
    fits = pd.Series(True, index=df.index)
    if host_limit is not None:
        fits &= _host_peak(df) <= host_limit
    if gpu_limit is not None:
        fits &= _gpu_peak(df) <= gpu_limit
    return fits


def _check(objective: Objective, margin: float, host: Any, gpu: Any) -> None:
    if objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}: choose from {', '.join(OBJECTIVES)}")
    check_margin(margin)
    for name, value in (("host", host), ("GPU", gpu)):
        if value is not None and not value > 0:
            raise ConfigError(f"{name} budget {value!r} must be a positive number of bytes")


def recommend(
    df: pd.DataFrame,
    *,
    host_budget_bytes: int | None = None,
    gpu_budget_bytes: int | None = None,
    objective: Objective = "throughput",
    margin: float = 0.1,
    target_images: int | None = None,
) -> Recommendation:
    """The best ok trial for ``objective`` whose peaks stay under ``budget * (1 - margin)``.

    ``objective``: ``throughput`` (most images/s), ``latency`` (lowest median batch latency) or
    ``memory`` (least host memory; GPU memory when only a GPU budget is given). The margin
    leaves room for run-to-run variation. The reason says, in plain words, what the choice gains
    over float32 and what went over the budget; with nothing fitting, ``row`` is None and the
    reason says what to try.

    ``target_images``: the number of images of the real job. Each setting is then judged by its
    budget peak *predicted* at that size by the memory model (memory grows with the number of
    images), the notes say how far the prediction reaches beyond the sizes measured, and a
    setting whose peak there cannot be predicted (one dataset size measured) is never chosen
    under a budget (:mod:`.at_target`). None: the answer is for the largest size measured.
    """
    _check(objective, margin, host_budget_bytes, gpu_budget_bytes)
    df = aggregate_repeats(df)  # a setting run more than once: its median throughput, its larger peak
    target = parse_target_images(target_images)
    if target is not None:
        from workbench.analysis.at_target import recommend_at  # it builds on this module

        return recommend_at(df, target, host_budget_bytes=host_budget_bytes,
                            gpu_budget_bytes=gpu_budget_bytes, objective=objective, margin=margin)
    host_limit = host_budget_bytes * (1 - margin) if host_budget_bytes else None
    gpu_limit = gpu_budget_bytes * (1 - margin) if gpu_budget_bytes else None
    column, larger = OBJECTIVES[objective]
    if objective == "memory" and gpu_budget_bytes and not host_budget_bytes:
        column = "gpu_peak_bytes"
    sizes, df = dataset_sizes(df), at_largest_size(df)
    ok = ok_trials(df)
    fitting = ok[_fits(ok, host_limit, gpu_limit) & np.isfinite(ok[column].astype(float))]
    common = Asked(objective=objective, host_budget_bytes=host_budget_bytes,
                   gpu_budget_bytes=gpu_budget_bytes, margin=margin, candidates=len(fitting))
    size_note = _size_note(sizes)
    if fitting.empty:
        return Recommendation(row=None, reason=explain_nothing(df, host_limit, gpu_limit, **common),
                              notes=size_note, **common)
    # Ties on the objective go to higher throughput, then to less memory.
    ordered = fitting.assign(_score=fitting[column].astype(float) * (-1 if larger else 1))
    ordered = ordered.sort_values(["_score", "throughput_ips", "host_peak_bytes"],
                                  ascending=[True, False, True], kind="mergesort", na_position="last")
    best = ordered.drop(columns="_score").iloc[0]
    row = {k: json_value(v) for k, v in best.items()}
    reason, notes = explain(df, row, host_limit, gpu_limit, **common)
    return Recommendation(row=row, reason=reason, notes=(*notes, *size_note), **common)


def _size_note(sizes: list[int]) -> tuple[str, ...]:
    """Say which dataset size the answer is for, when the trials ran at several."""
    if len(sizes) < 2:
        return ()
    return (f"the trials ran at {len(sizes)} dataset sizes ({', '.join(f'{n:,}' for n in sizes)} images): "
            f"this answer is for the largest, {sizes[-1]:,} images; memory grows with the number of "
            "images, and the memory model says by how much",)


# ---------------------------------------------------------------- the reason, in plain words


def _pct(margin: float) -> str:
    return f"{margin * 100:g} %"


def _same_backend(df: pd.DataFrame, row: dict[str, Any]) -> pd.Series | bool:
    """Rows on the same Keras backend as ``row`` (all of them for results without the column)."""
    backend = row.get("backend")
    return df["backend"] == backend if "backend" in df.columns and isinstance(backend, str) else True


def _same_series(df: pd.DataFrame, row: dict[str, Any]) -> pd.Series:
    return ((df["model"] == row["model"]) & (df["pipeline"] == row["pipeline"])
            & (df["precision"] == row["precision"]) & _same_backend(df, row))


def _gain(df: pd.DataFrame, row: dict[str, Any], objective: Objective) -> str:
    """What the choice gains over the obvious alternative (float32 at the same batch, or batch 1)."""
    ok = ok_trials(df)
    same_setting = (ok["model"] == row["model"]) & (ok["pipeline"] == row["pipeline"]) & _same_backend(ok, row)
    base, what = None, ""
    if row["precision"] != "float32":
        match = ok[same_setting & (ok["precision"] == "float32") & (ok["batch_size"] == row["batch_size"])]
        base, what = (match.iloc[0], f"float32 at batch {int(row['batch_size'])}") if len(match) else (None, "")
    if base is None and objective == "throughput" and int(row["batch_size"]) != 1:
        match = ok[_same_series(ok, row) & (ok["batch_size"] == 1)]
        base, what = (match.iloc[0], "batch 1") if len(match) else (None, "")
    tput = row.get("throughput_ips")
    if objective == "latency":  # the chosen row's latency was measured: only such rows compete
        p50 = float(row["latency_p50_s"])
        text = f"median batch latency {p50 * 1e3:.1f} ms"
        if base is not None and base["latency_p50_s"] > 0:
            text += f" ({p50 / base['latency_p50_s']:.2g}x that of {what})"
        return text
    text = f"{tput:.0f} images/s" if tput is not None else "throughput not measured"
    if base is not None and tput is not None and base["throughput_ips"] > 0:
        verdict, ratio = speed_verdict(row, base)  # faster or slower only beyond the spread
        if verdict == "no measurable difference":
            text = (f"{tput:.0f} images/s, no measurable difference in throughput from {what} "
                    f"({ratio:.2g}x, within the spread of the timed passes)")
        else:
            text = f"{ratio:.2g}x the throughput of {what} ({tput:.0f} images/s, {verdict} beyond the spread)"
    return text


def _usage(row: dict[str, Any], kind: MemoryKind, budget: int | None) -> str | None:
    value = budget_peak(row, kind)
    if not np.isfinite(value):
        return None if kind == "gpu" else "peak host not measured"
    if budget:
        return f"peak {kind} {format_bytes(value)} of your {format_bytes(budget)} budget"
    return f"peak {kind} {format_bytes(value)}"


def _next_larger(df: pd.DataFrame, row: dict[str, Any], host_limit: float | None,
                 gpu_limit: float | None, margin: float) -> str | None:
    """What happened at the next larger batch of the same series, when it did not fit."""
    series = df[_same_series(df, row) & (df["batch_size"] > row["batch_size"])].sort_values("batch_size")
    if series.empty:
        return None
    nxt = series.iloc[0]
    batch = int(nxt["batch_size"])
    status = str(nxt["status"])
    if status == "oom":
        return f"batch {batch} ran out of memory"
    if status == "over_budget":
        return f"batch {batch} went over budget"
    if status != "ok" or (host_limit is None and gpu_limit is None):
        return None
    checks = [(_host_peak(series).iloc[0], host_limit)]
    if gpu_limit is not None:
        checks.append((_gpu_peak(series).iloc[0], gpu_limit))
    for value, limit in checks:
        if limit is None or not np.isfinite(value) or value <= limit:
            continue
        if value <= limit / (1 - margin):
            return f"batch {batch} ({format_bytes(value)}) fit the budget but not the {_pct(margin)} margin"
        return f"batch {batch} went over budget ({format_bytes(value)})"
    return None


def _did_not_fit(df: pd.DataFrame, host_limit: float | None, gpu_limit: float | None,
                 margin: float, shown: int = 3) -> list[str]:
    """One note naming the trials that did not fit (the largest first), if any."""
    status = df["status"].astype(str)
    measured_over = is_ok(df) & ~_fits(df, host_limit, gpu_limit) & np.isfinite(df["host_peak_bytes"].astype(float))
    out = df[status.isin(MEMORY_FAILURES) | measured_over]
    if out.empty:
        return []
    out = out.sort_values("host_peak_bytes", ascending=False, na_position="first")
    items = [f"{_setting(r)} ({r['status'] if r['status'] != 'ok' else format_bytes(r['host_peak_bytes'])})"
             for _, r in out.head(shown).iterrows()]
    more = f" and {len(out) - shown} more" if len(out) > shown else ""
    return [f"{len(out)} of {len(df)} trials did not fit the budget less the {_pct(margin)} margin: "
            + "; ".join(items) + more]


def explain(df: pd.DataFrame, row: dict[str, Any], host_limit: float | None,
            gpu_limit: float | None, *, objective: Objective, host_budget_bytes: int | None,
            gpu_budget_bytes: int | None, margin: float, candidates: int) -> tuple[str, list[str]]:
    """The one-line reason for a chosen row, and extra notes (drift, what was not tried)."""
    parts = [_gain(df, row, objective)]
    if objective == "memory":
        parts[0] = f"the least memory of the {candidates} settings that fit ({parts[0]})"
    parts += [u for u in (_usage(row, "host", host_budget_bytes),
                          _usage(row, "gpu", gpu_budget_bytes) if gpu_budget_bytes else None) if u]
    reason = f"{_setting(row)}: " + ", ".join(parts)
    larger = _next_larger(df, row, host_limit, gpu_limit, margin)
    if larger:
        reason += f"; {larger}"
    notes = []
    agreement = row.get("top1_agreement")
    if row["precision"] != "float32" and agreement is not None:
        notes.append(f"{row['precision']} agrees with float32 on the top-1 class for {agreement * 100:.1f} % of images")
    creep = row.get("host_creep_bytes_per_pass")
    if row.get("host_creeping") is True:
        grows = f" ({format_bytes(creep)} a pass)" if isinstance(creep, int | float) and math.isfinite(creep) else ""
        notes.append(f"its resident memory kept growing over the timed passes{grows}: a long job that calls "
                     "predict again and again will hold more than the peak measured; leave room for it")
    if not host_budget_bytes and not gpu_budget_bytes:
        notes.append("no memory budget given: the choice is the best measured, whatever its memory")
    else:
        notes += _did_not_fit(df, host_limit, gpu_limit, margin)
        if larger is None and not (df[_same_series(df, row)]["batch_size"] > row["batch_size"]).any():
            notes.append(f"batch {int(row['batch_size'])} is the largest tried in its series that fits; "
                         "`workbench search` finds the largest batch under the budget")
    return reason, notes


def explain_nothing(df: pd.DataFrame, host_limit: float | None, gpu_limit: float | None, *,
                    objective: Objective, host_budget_bytes: int | None, gpu_budget_bytes: int | None,
                    margin: float, candidates: int) -> str:
    """Why nothing was chosen, and what to try."""
    ok = ok_trials(df)
    if ok.empty:
        counts = df["status"].astype(str).value_counts()
        failed = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no trials"
        return f"nothing to recommend: no trial finished ({failed}); see the errors in the results table"
    if gpu_budget_bytes and not np.isfinite(_gpu_peak(ok)).any():
        return ("nothing to recommend: GPU memory was not measured (no GPU), so a GPU budget "
                "cannot be checked; run on a GPU or drop the GPU budget")
    if not host_budget_bytes and not gpu_budget_bytes:  # nothing was over a budget: the objective was not measured
        return (f"nothing to recommend for {objective}: no finished trial measured it ({OBJECTIVES[objective][0]} "
                "is missing in every one); rerun with timed passes (the timing settings) or pick another objective")
    kind, column, budget = ("host", "host_peak_bytes", host_budget_bytes)
    if gpu_budget_bytes and not host_budget_bytes:
        kind, column, budget = ("GPU", "gpu_peak_bytes", gpu_budget_bytes)
    values = ok[column].astype(float).to_numpy()
    least = ok.iloc[int(np.nanargmin(values))] if np.isfinite(values).any() else None
    text = f"nothing fits {100 - margin * 100:g} % of your {format_bytes(budget)} {kind} budget"
    if least is not None:
        text += f": the least measured was {format_bytes(least[column])} ({_setting(least)})"
    return text + ("; try a larger budget, a smaller batch, the stream pipeline, "
                   "or mixed_bfloat16 / mixed_float16 on a GPU")
