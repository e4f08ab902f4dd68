"""Checks of the panel's options, each message tied to the group of controls it is about.

The CLI stops at the first bad option; the panel shows every problem at once, each next to
the control that caused it, so the checks run per group and in the order a user reads them.
The final config is built by the CLI's own conversion, so what passes here is what
``workbench sweep`` would accept.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from workbench.cli.options import sweep_config
from workbench.config import (
    PIPELINES,
    PRECISIONS,
    DataSpec,
    ModelSpec,
    SweepConfig,
    TimingSpec,
    parse_bytes,
    parse_image_size,
    parse_int_list,
    parse_name_list,
)
from workbench.errors import ConfigError
from workbench.plan import expand

DATA_LABELS = {"synthetic": "synthetic images", "demo": "demo (real labelled images)",
               "folder": "image folder", "npy": ".npy array file"}


def check_options(ns: argparse.Namespace, *, data_kind: str,
                  batch_text: Callable[[], str]) -> tuple[SweepConfig | None, dict[str, str]]:
    """The sweep ``ns`` describes, or None and a message per group of controls at fault.

    ``data_kind`` is the dataset type picked (a path must match it); ``batch_text()`` gives the
    batch sizes as text, raising ConfigError for an empty powers-of-two range.
    """
    errors: dict[str, str] = {}
    checks: list[tuple[str, Callable[[], object]]] = [
        ("image_size", lambda: parse_image_size(ns.image_size)),
        ("model", lambda: ModelSpec(ns.model, allow_unsafe=ns.allow_unsafe)),
        ("data", lambda: check_data(ns.data, data_kind)),
        ("pipelines", lambda: parse_name_list(ns.pipelines, PIPELINES, "pipelines")),
        ("precisions", lambda: parse_name_list(ns.precisions, PRECISIONS, "precisions")),
        ("batch_sizes", lambda: parse_int_list(batch_text(), "batch sizes")),
        ("host_budget", lambda: ns.host_budget and parse_bytes(ns.host_budget)),
        ("gpu_budget", lambda: ns.gpu_budget and parse_bytes(ns.gpu_budget)),
        ("timing", lambda: TimingSpec(ns.warmup_batches, ns.min_batches, ns.min_duration, ns.drift_samples)),
        ("timing", lambda: check_timeout(ns.timeout)),
        ("out", lambda: check_out(ns.out)),
    ]
    for group, check in checks:
        if group in errors:
            continue
        try:
            check()
        except ConfigError as exc:
            errors[group] = str(exc)
    if "image_size" not in errors and "model" not in errors:
        try:  # the size against the model (e.g. Xception needs 71 pixels or more)
            ModelSpec(ns.model, image_size=ns.image_size, allow_unsafe=ns.allow_unsafe)
        except ConfigError as exc:
            errors["image_size"] = str(exc)
    if errors:
        return None, errors
    try:
        sweep = sweep_config(ns)
        expand(sweep)  # settings that cannot go together (stream needs data on disk)
    except ConfigError as exc:
        return None, {"pipelines" if "pipeline" in str(exc) else "general": str(exc)}
    return sweep, {}


def check_data(text: str, kind: str) -> None:
    """``text`` (the CLI's --data) is valid and of the dataset type picked."""
    if kind in ("folder", "npy") and not text:
        raise ConfigError(f"data: give the path of {'an image folder' if kind == 'folder' else 'a .npy file'}")
    spec = DataSpec.parse(text)
    if spec.kind != kind:
        raise ConfigError(f"data path {text!r} is {DATA_LABELS[spec.kind]!r}, not {DATA_LABELS[kind]!r}: "
                          "pick the matching dataset type")


def check_timeout(seconds: float) -> None:
    if not seconds > 0:
        raise ConfigError(f"timeout {seconds:g} s: give a positive number of seconds")


def check_out(text: str) -> None:
    """A results folder: given, and not an existing file."""
    if not text:
        raise ConfigError("results folder: give a folder to save the results in, e.g. runs/mine")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"results folder {text!r} is a file: give a folder")
