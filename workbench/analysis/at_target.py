"""The recommendation for the user's real dataset size (``recommend(df, target_images=N)``).

The candidates are the settings measured at the largest size (or at N itself, when that size
was measured); each is kept when its budget peak *predicted at N* (:mod:`.target`) stays under
each budget less the margin. A setting whose peak at N cannot be predicted (its N term not
measured) cannot be shown to fit, so it is never chosen under a budget, and the answer says
why. The reason and the notes say how far the prediction reaches beyond the sizes measured.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.peaks import dataset_sizes
from workbench.analysis.recommend import (
    OBJECTIVES,
    Recommendation,
    _gain,
    _pct,
    _setting,
    explain_nothing,
)
from workbench.analysis.target import (
    added_sizes_note,
    max_batch_line,
    peak_text,
    series_at,
    settings_at,
)
from workbench.config import format_bytes
from workbench.results import json_value, ok_trials
from workbench.types import Objective

SHOWN = 3  # settings named in the "predicted not to fit" note


def _series_of(entries: list[dict[str, Any]], row: dict[str, Any]) -> dict[str, Any] | None:
    for entry in entries:
        if all(entry.get(k) == row.get(k) for k in ("model", "backend", "pipeline", "precision")
               if k in entry):  # the backend is a key only where several were measured
            return entry
    return None


def _over(settings: pd.DataFrame, target: int, margin: float, budgeted: bool) -> list[str]:
    """One note naming the settings predicted not to fit at the target (the largest first)."""
    out = settings[settings["predictable"].astype(bool) & ~settings["fits"].astype(bool)]
    if out.empty or not budgeted:
        return []
    out = out.sort_values("predicted_host_bytes", ascending=False)
    items = [f"{_setting(r)} (predicted {format_bytes(r['predicted_host_bytes'])})" for _, r in out.head(SHOWN).iterrows()]
    more = f" and {len(out) - SHOWN} more" if len(out) > SHOWN else ""
    return [f"{len(out)} of {len(settings)} settings measured are predicted not to fit the budget less the "
            f"{_pct(margin)} margin at {target:,} images: " + "; ".join(items) + more]


def _nothing(df: pd.DataFrame, settings: pd.DataFrame, target: int, why: list[str], *, host: int | None,
             gpu: int | None, margin: float, objective: Objective) -> str:
    ok = ok_trials(df)
    no_gpu = "gpu_peak_bytes" not in ok or not np.isfinite(pd.to_numeric(ok["gpu_peak_bytes"], errors="coerce")).any()
    if ok.empty or (gpu and no_gpu) or not (host or gpu):
        return explain_nothing(df, host * (1 - margin) if host else None, gpu * (1 - margin) if gpu else None,
                               objective=objective, host_budget_bytes=host, gpu_budget_bytes=gpu,
                               margin=margin, candidates=0)
    known = settings[settings["predictable"].astype(bool)]
    if known.empty:
        return f"nothing to recommend at {target:,} images: " + (why[0] if why else "no peak could be predicted")
    kind, budget = ("host", host) if host else ("gpu", gpu)
    least = known.loc[known[f"predicted_{kind}_bytes"].astype(float).idxmin()]
    what = "host" if kind == "host" else "GPU"
    return (f"nothing is predicted to fit {100 - margin * 100:g} % of your {format_bytes(budget)} {what} budget at "
            f"{target:,} images: the least predicted was {format_bytes(least[f'predicted_{kind}_bytes'])} "
            f"({_setting(least)}); try a larger budget, a smaller batch, the stream pipeline, or a smaller job")


def recommend_at(df: pd.DataFrame, target: int, *, host_budget_bytes: int | None, gpu_budget_bytes: int | None,
                 objective: Objective, margin: float) -> Recommendation:
    """The best setting for ``objective`` whose peaks predicted at ``target`` images stay under
    each budget less the margin (checked arguments: see :func:`.recommend.recommend`)."""
    column, larger = OBJECTIVES[objective]
    if objective == "memory":
        column = "predicted_gpu_bytes" if gpu_budget_bytes and not host_budget_bytes else "predicted_host_bytes"
    settings = settings_at(df, target, host_budget_bytes=host_budget_bytes, gpu_budget_bytes=gpu_budget_bytes,
                           margin=margin)
    series = series_at(df, target, host_budget_bytes=host_budget_bytes, margin=margin)
    why = [e["why"] for e in series if e["why"]]
    budgeted = bool(host_budget_bytes or gpu_budget_bytes)
    pool = settings[settings["fits"].astype(bool)] if budgeted else settings
    pool = pool[np.isfinite(pool[column].astype(float))] if len(pool) else pool
    common: dict[str, Any] = dict(objective=objective, host_budget_bytes=host_budget_bytes, gpu_budget_bytes=gpu_budget_bytes,
                  margin=margin, candidates=len(pool), target_images=target)
    sizes = dataset_sizes(df)
    measured = f"the trials ran at {', '.join(f'{n:,}' for n in sizes) or 'unknown'} images"
    added = added_sizes_note(df)
    measured += f"; {added}" if added else ""
    if pool.empty:
        reason = _nothing(df, settings, target, why, host=host_budget_bytes, gpu=gpu_budget_bytes,
                          margin=margin, objective=objective)
        extra = [w for w in why if w not in reason]
        return Recommendation(row=None, reason=reason, notes=(*extra, f"{measured}; this answer is for {target:,}"),
                              **common)
    ordered = pool.assign(_score=pool[column].astype(float) * (-1 if larger else 1))
    ordered = ordered.sort_values(["_score", "throughput_ips", "predicted_host_bytes"],
                                  ascending=[True, False, True], kind="mergesort", na_position="last")
    row = {k: json_value(v) for k, v in ordered.drop(columns="_score").iloc[0].items()}
    row["target_images"] = target
    parts = [_gain(settings, row, objective), peak_text(row, target, host_budget_bytes)]
    if objective == "memory":
        fit = " that fit" if budgeted else ""
        parts[0] = f"the least memory at {target:,} images of the {len(pool)} settings{fit} ({parts[0]})"
    if gpu_budget_bytes:
        parts.append(peak_text(row, target, gpu_budget_bytes, "gpu"))
    entry = _series_of(series, row)
    notes = [entry["reach"]] if entry and not entry["why"] else []
    if entry and host_budget_bytes:
        notes.append(max_batch_line(entry, target, margin))
    elif entry and entry.get("caveat"):
        notes.append(entry["caveat"])
    notes += _over(settings, target, margin, budgeted)
    notes += [w for w in why if entry is None or w != entry["why"]] + ([entry["why"]] if entry and entry["why"] else [])
    agreement = row.get("top1_agreement")
    if row["precision"] != "float32" and agreement is not None and not math.isnan(float(agreement)):
        notes.append(f"{row['precision']} agrees with float32 on the top-1 class for {agreement * 100:.1f} % of images")
    if not budgeted:
        notes.append("no memory budget given: the choice is the best measured, whatever its memory")
    notes.append(f"{measured}; this answer is for {target:,}")
    return Recommendation(row=row, reason=f"{_setting(row)}: " + ", ".join(parts), notes=tuple(notes), **common)
