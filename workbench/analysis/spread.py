"""Speed verdicts only beyond noise, and settings measured more than once.

:func:`speed_verdict` is the one place that says one setting is faster or slower than another:
only when the difference of their median throughputs exceeds their combined spread, otherwise
"no measurable difference" (one short pass once made streaming read 1.59x *faster* than
in-memory here; other runs gave 1.03-1.09x). :func:`aggregate_repeats` folds the runs of one
setting (``--repeat``, the search's confirmation) into one row: the median throughput with the
spread across the runs, and the larger memory peak. :func:`spread_notes` says, in words, how
much the numbers moved. Pure pandas, no I/O.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import pandas as pd

from workbench.analysis.peaks import budget_peak, row_figure
from workbench.config import TimingSpec, format_bytes
from workbench.results import is_ok, ok_trials
from workbench.spread import cv, iqr, median

Verdict = Literal["faster", "slower", "no measurable difference", "not measured"]
# A throughput whose spread was not measured (one pass, older results) is taken to be as noisy
# as the re-measure threshold allows; a measured spread counts for at least 1 %, the run-to-run
# drift a spread within one trial cannot see.
UNKNOWN_SPREAD = TimingSpec().max_cv
MIN_SPREAD = 0.01
# Columns that name a setting: its runs share them (the repeat index and the key differ).
SETTING_COLUMNS = ("machine", "model", "dataset", "images", "pipeline", "precision", "batch_size")
PEAK_COLUMNS = ("host_peak_bytes", "host_peak_all_bytes", "gpu_peak_bytes", "gpu_peak_all_bytes",
                "gpu_device_peak_bytes")


def spread_share(row: Any) -> float:
    """A row's throughput spread as a share of its throughput: its CV (at least 1 %), or 5 %
    when not measured."""
    share = row_figure(row, "throughput_cv")
    return UNKNOWN_SPREAD if not math.isfinite(share) else max(share, MIN_SPREAD)


def speed_verdict(a: Any, b: Any) -> tuple[Verdict, float]:
    """Is ``a`` faster than ``b``? ``("faster" | "slower" | "no measurable difference", a/b)``.

    ``a`` and ``b`` are rows (a dict, a Series or a ``TrialResult``) with ``throughput_ips`` and
    ``throughput_cv``. Faster or slower only when the medians differ by more than the combined
    spread, ``sqrt((cv_a * a)^2 + (cv_b * b)^2)``; ``("not measured", nan)`` when either has no
    throughput.
    """
    ta, tb = row_figure(a, "throughput_ips"), row_figure(b, "throughput_ips")
    if not (ta > 0 and tb > 0):
        return "not measured", math.nan
    noise = math.hypot(spread_share(a) * ta, spread_share(b) * tb)
    if abs(ta - tb) <= noise:
        return "no measurable difference", ta / tb
    return ("faster" if ta > tb else "slower"), ta / tb


def _settings(df: pd.DataFrame) -> list[str]:
    return [c for c in SETTING_COLUMNS if c in df.columns]


def _flags(values: Any) -> list[bool]:
    """The known true/false values of a column of flags (None and NaN left out)."""
    return [bool(v) for v in values if v is not None and v == v]


def _fold(runs: pd.DataFrame) -> dict[str, Any]:
    """One row for the runs of a setting: the first run's row, with the median throughput and
    the spread across the runs (or within them, when larger), the larger memory peaks, and how
    far the budget peak moved."""
    row: dict[str, Any] = {str(k): v for k, v in runs.iloc[0].to_dict().items()}
    peaks = budget_peak(runs, "host")
    moved = float(peaks.max() - peaks.min()) if peaks.notna().sum() >= 2 else math.nan
    row.update(repeats=len(runs), host_peak_spread_bytes=moved)
    if len(runs) == 1:
        return row
    failed = runs[~is_ok(runs)]
    if len(failed):  # a setting that failed once is not shown to fit: the failure speaks for it
        first = {str(k): v for k, v in failed.iloc[0].to_dict().items()}
        return {**row, **first, "repeats": len(runs), "host_peak_spread_bytes": moved}
    tputs = pd.to_numeric(runs["throughput_ips"], errors="coerce").tolist()
    across = cv(tputs, minimum=2)
    within = pd.to_numeric(runs["throughput_cv"], errors="coerce").tolist() if "throughput_cv" in runs else []
    spreads = [v for v in (across, *within) if math.isfinite(v)]
    row.update(throughput_repeats_ips=tputs, throughput_ips=median(tputs),
               throughput_cv=max(spreads) if spreads else math.nan,
               # two runs: the interpolated quartiles are a quarter of the way in from each
               throughput_iqr_ips=iqr(tputs) if len(tputs) >= 3 else abs(tputs[0] - tputs[1]) / 2,
               unstable=any(_flags(runs.get("unstable", []))) or (math.isfinite(across) and across > UNKNOWN_SPREAD))
    for column in PEAK_COLUMNS:
        if column in runs:
            values = pd.to_numeric(runs[column], errors="coerce")
            row[column] = float(values.max()) if values.notna().any() else math.nan
    return row


def aggregate_repeats(df: pd.DataFrame) -> pd.DataFrame:
    """One row per setting: the runs of a setting measured more than once folded into one.

    Its ``throughput_ips`` is the median of the runs, ``throughput_cv`` the larger of the
    spread across the runs and within them, ``unstable`` true when any run was or the runs
    differ by more than 5 %; memory peaks are the largest of the runs (a budget must hold for
    every run), ``host_peak_spread_bytes`` how far the budget peak moved, ``repeats`` the runs.
    A setting that failed in any run keeps that failure. ``df`` itself when nothing repeats.
    """
    keys = _settings(df)
    if df.empty or not keys or not df.duplicated(keys).any():
        return df
    rows = [_fold(runs) for _, runs in df.groupby(keys, sort=False, dropna=False)]
    out = pd.DataFrame(rows)
    out.attrs = dict(df.attrs)
    return out


def spread_notes(df: pd.DataFrame) -> list[str]:
    """How much the numbers moved, in words: the spread of the passes within trials, the trials
    marked unstable, and the settings measured more than once (throughput and budget peak)."""
    ok = ok_trials(df) if "status" in df else df
    notes = []
    within = pd.to_numeric(ok.get("throughput_cv", pd.Series(dtype=float)), errors="coerce").dropna()
    if len(within):
        unstable = sum(_flags(ok.get("unstable", [])))
        notes.append(f"within trials, the throughput of the timed passes varied by {within.median() * 100:.1f} % "
                     f"(median CV; largest {within.max() * 100:.1f} %); {unstable} of {len(ok)} trials stayed "
                     f"above the {UNKNOWN_SPREAD * 100:g} % threshold after re-measuring (unstable)")
    keys = _settings(ok)
    repeated = [runs for _, runs in ok.groupby(keys, sort=False, dropna=False) if len(runs) > 1] if keys else []
    if repeated:
        ratios = [float(r["throughput_ips"].max() / r["throughput_ips"].min()) for r in repeated
                  if r["throughput_ips"].min() > 0]
        peaks = [budget_peak(r, "host") for r in repeated]
        moved = [(float(p.max() - p.min()), float((p.max() - p.min()) / p.min())) for p in peaks
                 if p.notna().sum() >= 2 and p.min() > 0]
        text = f"{len(repeated)} setting(s) measured more than once"
        if ratios:
            text += f": throughput differed by up to {(max(ratios) - 1) * 100:.1f} % between runs (max/min)"
        if moved:
            worst = max(moved)
            text += f"; the budget peak moved by up to {format_bytes(worst[0])} ({worst[1] * 100:.1f} %)"
        notes.append(text)
    return notes
