"""Least-squares lines and planes of peak memory, and the batch range where a line holds.

The memory model (:mod:`.memory_model`) fits ``peak = fixed + per image x batch + per dataset
image x N`` per series. Small batches often bend the curve; :func:`fit_group` drops the
smallest batch sizes while the line misses a point by more than :data:`STRAIGHT_TOLERANCE` of
its peak and dropping them makes it fit better, keeping at least :data:`MIN_BATCHES` sizes, and
never so far that the dataset-size term is lost: trials below the line measured at several
dataset sizes (a sweep adds its sizes at one batch, the search at batch 1) still tell how memory
grows with N, each such batch at a level of its own.

Pure functions (numpy and pandas; no TensorFlow, no I/O).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

STRAIGHT_TOLERANCE = 0.02  # a line fits a point it misses by at most 2 % of that point's peak
MIN_BATCHES = 3  # the batch range is never cut to fewer sizes than this

Fit = tuple[float, float, float, float]  # fixed, per image of a batch, per dataset image, r2


def fit_line(batch: npt.ArrayLike, peak: npt.ArrayLike) -> tuple[float, float, float]:
    """Least-squares ``peak = fixed + per_image * batch``: ``(fixed, per_image, r2)``.

    With fewer than two distinct batch sizes the line is unknown: all three are NaN. ``r2`` is
    NaN when every peak is the same (nothing to explain), so it is never a flattering 1.0.
    """
    x = np.asarray(batch, dtype=float)
    y = np.asarray(peak, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(np.unique(x)) < 2:
        return math.nan, math.nan, math.nan
    per_image, fixed = np.polyfit(x, y, 1)
    residual = y - (fixed + per_image * x)
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else math.nan
    return float(fixed), float(per_image), r2


def fit_plane(batch: npt.ArrayLike, images: npt.ArrayLike, peak: npt.ArrayLike) -> Fit:
    """Least squares ``peak = fixed + per_image * batch + per_dataset_image * images``:
    ``(fixed, per_image, per_dataset_image, r2)``.

    A term whose axis was measured at one value only is NaN (then ``fixed`` includes its part
    at that value); with neither axis varied, or the two varied together (so they cannot be
    told apart), everything is NaN.
    """
    x, n, y = (np.asarray(v, dtype=float) for v in (batch, images, peak))
    keep = np.isfinite(x) & np.isfinite(y)
    x, n, y = x[keep], n[keep], y[keep]
    vary_b, vary_n = len(np.unique(x)) >= 2, len(np.unique(n[np.isfinite(n)])) >= 2 and np.isfinite(n).all()
    if not (vary_b or vary_n):
        return math.nan, math.nan, math.nan, math.nan
    design = np.column_stack([np.ones_like(y), *([x] if vary_b else []), *([n] if vary_n else [])])
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    if rank < design.shape[1]:
        return math.nan, math.nan, math.nan, math.nan
    residual = y - design @ coef
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else math.nan
    terms = list(coef[1:])
    per_image = float(terms.pop(0)) if vary_b else math.nan
    per_dataset = float(terms.pop(0)) if vary_n else math.nan
    return float(coef[0]), per_image, per_dataset, r2


def predicted(fit: Fit, batch: pd.Series, images: pd.Series) -> pd.Series:
    """The peak ``fit`` predicts at each ``batch`` and ``images`` (a term not measured adds nothing)."""
    fixed, per_image, per_dataset, _ = fit
    pred = pd.Series(fixed, index=batch.index, dtype=float)
    if math.isfinite(per_image):
        pred = pred + per_image * batch.astype(float)
    if math.isfinite(per_dataset):
        pred = pred + per_dataset * images
    return pred


def _worst(fit: Fit, part: pd.DataFrame) -> float:
    """The largest miss of the fit over ``part``, as a fraction of each point's peak."""
    miss = (part["_peak"] - predicted(fit, part["batch_size"], part["_n"])).abs() / part["_peak"].abs()
    return float(miss.max()) if len(miss) else math.nan


def _fit(rows: pd.DataFrame) -> Fit:
    return fit_plane(rows["batch_size"], rows["_n"], rows["_peak"])


def _fit_above(part: pd.DataFrame, low: int) -> tuple[Fit, bool]:
    """The plane over the batches from ``low`` up, and whether the batches below it informed the
    N term: where one of them was measured at several dataset sizes (a sweep adds its sizes at
    one batch, the search at batch 1), those trials still tell how memory grows with N, each
    such batch at a level of its own so that the bend does not pull the line in batch."""
    kept = part["batch_size"] >= low
    below = part[~kept]
    if below.empty or not (below.groupby("batch_size")["_n"].nunique() > 1).any() or not np.isfinite(part["_n"]).all():
        return _fit(part[kept]), False
    plain = _fit(part[kept])
    if not math.isfinite(plain[1]):  # the line in batch needs two batch sizes of its own
        return plain, False
    x, n, y = (part[c].to_numpy(dtype=float) for c in ("batch_size", "_n", "_peak"))
    inside = kept.to_numpy(dtype=float)
    levels = [(part["batch_size"] == b).to_numpy(dtype=float) for b in sorted(below["batch_size"].unique())]
    design = np.column_stack([inside, x * inside, n, *levels])
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    if rank < design.shape[1]:
        return plain, False
    fit = (float(coef[0]), float(coef[1]), float(coef[2]), plain[3])
    rows = part[kept]
    residual = rows["_peak"] - predicted(fit, rows["batch_size"], rows["_n"])
    total = float(np.sum((rows["_peak"] - rows["_peak"].mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else math.nan
    return (fit[0], fit[1], fit[2], r2), True


def fit_group(part: pd.DataFrame) -> tuple[Fit, pd.DataFrame, list[str]]:
    """The fit of one group over the batch range where a line applies, the rows it used and
    what to say about it."""
    batches = sorted(part["batch_size"].astype(int).unique())
    # Candidates: every batch range that keeps the largest sizes (and at least MIN_BATCHES).
    # The first within tolerance wins (the fewest batches dropped); if none is, the one that
    # misses least, so the line is right where the budget edge is.
    best: tuple[float, int, Fit, pd.DataFrame] | None = None
    full_worst = math.nan
    with_n = False
    best_n = False
    for cut in range(max(len(batches) - MIN_BATCHES, 0) + 1):
        rows = part[part["batch_size"] >= batches[cut]]
        candidate, from_below = _fit_above(part, batches[cut])
        # A cut must not lose the N term the trials measured: the answers at the target need it
        # more than a straighter line.
        if not math.isfinite(candidate[0]) or (with_n and not math.isfinite(candidate[2])):
            break
        with_n = with_n or math.isfinite(candidate[2])
        miss = _worst(candidate, rows)
        full_worst = miss if cut == 0 else full_worst
        if best is None or miss < best[0]:
            best, best_n = (miss, cut, candidate, rows), from_below
        if miss <= STRAIGHT_TOLERANCE:
            break
    if best is None:  # too few points for a fit at all
        return _fit(part), part, []
    worst, cut, current, used = best
    batches = batches[cut:]
    notes: list[str] = []
    if len(used) < len(part):
        notes.append(f"a straight line in batch does not fit below batch {batches[0]} (the line through every "
                     f"batch missed by up to {full_worst * 100:.1f} % of the peak): fitted over batches "
                     f"{batches[0]}-{batches[-1]}, where the large batches and the budget edge are")
    if best_n:
        notes.append(f"the per dataset image term also rests on the trials below batch {batches[0]} measured at "
                     "several sizes (each of those batches at its own level)")
    if math.isfinite(worst) and worst > STRAIGHT_TOLERANCE:
        notes.append(f"the fit misses a point by {worst * 100:.1f} % of its peak: predictions carry that error")
    return current, used, notes


