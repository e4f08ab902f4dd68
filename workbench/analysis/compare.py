"""Several results folders side by side: one DataFrame with a ``run`` and a ``machine`` column,
what differs between the runs, and the settings every run measured.

Two runs compare only where they measured the same thing: the same model, data, pipeline,
precision and batch size (a *setting*). :func:`compare_frames` lines those up, one row per
setting measured ``ok`` in every run, and lists the sweep settings that differ between runs
(timing, budgets, axes) in words, so a faster number is never read off different settings
without being told. Pure pandas; :func:`load_comparison` reads the folders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import ConfigError
from workbench.results import load_results, ok_trials

SETTING = ["model", "dataset", "backend", "pipeline", "precision", "batch_size"]
FIGURES = ("throughput_ips", "host_peak_bytes")  # compared per setting, one column per run


@dataclass
class Run:
    """One results folder in a comparison."""

    label: str  # unique among the runs: the folder's name, and its machine's hostname
    path: str
    machines: list[str]  # the machine ids of its trials
    environment: dict[str, Any]
    settings: dict[str, str]  # the sweep header, flattened ("timing.min_batches": "10")
    trials: int = 0


@dataclass
class Comparison:
    """The runs, all their trials (``df`` with ``run`` and ``machine`` columns), the settings
    measured ``ok`` by every run (``common``: one row per setting, ``<figure>:<run label>``
    columns) and the sweep settings that differ, in words."""

    runs: list[Run]
    df: pd.DataFrame
    common: pd.DataFrame
    differences: list[str] = field(default_factory=list)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested settings as ``{"budget.host_bytes": "2000000000"}``."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list | tuple):
        value = ", ".join(map(str, value))
    return {prefix: "n/a" if value is None else str(value)}


def _labels(names: list[str], hosts: list[str | None]) -> list[str]:
    labels = [f"{n} ({h})" if h else n for n, h in zip(names, hosts, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def setting_differences(runs: list[Run]) -> list[str]:
    """Each sweep setting whose value is not the same in every run: ``"timing.min_duration_s:
    1.0 in a (h1), 3.0 in b (h2)"``."""
    keys = sorted(set().union(*(r.settings for r in runs)))
    out = []
    for key in keys:
        values = [r.settings.get(key, "not set") for r in runs]
        if len(set(values)) > 1:
            out.append(f"{key}: " + ", ".join(f"{v} in {r.label}" for v, r in zip(values, runs, strict=True)))
    return out


def common_settings(df: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """One row per setting measured ``ok`` in every run: the median of each figure per run."""
    ok = ok_trials(df)
    setting = [k for k in SETTING if k in ok.columns]  # results from before the backend axis have none
    if ok.empty:
        return pd.DataFrame(columns=setting)
    medians = ok.groupby([*setting, "run"], sort=True)[list(FIGURES)].median()
    per_run = pd.DataFrame(medians.unstack("run"))  # a frame's unstack is a frame (the stub says or a Series)
    per_run.columns = [f"{figure}:{run}" for figure, run in per_run.columns]
    wanted = [f"{f}:{label}" for f in FIGURES for label in labels]
    for column in wanted:
        if column not in per_run.columns:
            per_run[column] = float("nan")
    every = per_run[[f"{FIGURES[0]}:{label}" for label in labels]].notna().all(axis=1)
    return per_run.loc[every, wanted].reset_index()


def compare_frames(frames: Sequence[tuple[str, pd.DataFrame]]) -> Comparison:
    """Compare results DataFrames (as :func:`workbench.load_results` returns them), each with
    the folder it came from. Raises :class:`ConfigError` for fewer than two, or runs that share
    no setting measured ``ok`` (nothing to compare: the differing settings are named)."""
    if len(frames) < 2:
        raise ConfigError("compare needs two or more results folders, e.g. workbench compare runs/a runs/b")
    envs = [df.attrs.get("environment") or {} for _, df in frames]
    labels = _labels([Path(path).name or str(path) for path, _ in frames], [e.get("hostname") for e in envs])
    runs, parts = [], []
    for (path, df), env, label in zip(frames, envs, labels, strict=True):
        part = df.copy()
        part.insert(0, "run", label)
        if "machine" not in part.columns:
            part["machine"] = None
        parts.append(part)
        runs.append(Run(label=label, path=str(path), machines=sorted(map(str, part["machine"].dropna().unique())),
                        environment=env, settings=flatten(df.attrs.get("sweep") or {}), trials=len(df)))
    df = pd.concat(parts, ignore_index=True)
    common = common_settings(df, labels)
    differences = setting_differences(runs)
    if common.empty:
        said = "; ".join(differences) or "they measured different settings, or none finished"
        raise ConfigError(f"{', '.join(labels)} share no setting (model, data, pipeline, precision, batch) "
                          f"that finished in every run, so there is nothing to compare ({said})")
    return Comparison(runs=runs, df=df, common=common, differences=differences)


def load_comparison(folders: Sequence[str | os.PathLike[str]]) -> Comparison:
    """Load each results folder (see :func:`workbench.load_results`) and compare them."""
    return compare_frames([(str(folder), load_results(folder)) for folder in folders])
