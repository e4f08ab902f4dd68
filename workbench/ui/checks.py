"""Checks of the panel's options, each message tied to the group of controls it is about.

The CLI stops at the first bad option; the panel shows every problem at once, each next to
the control that caused it, so each part of the config is built on its own, in the order a
user reads the controls, and the sweep is assembled only when every part is valid. The parts
are the config dataclasses themselves, so what passes here is what the engine accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import (
    BACKENDS,
    PIPELINES,
    PRECISIONS,
    Budget,
    ModelSpec,
    SweepConfig,
    parse_bytes,
    parse_image_size,
    parse_name_list,
)
from workbench.errors import ConfigError
from workbench.plan import checked_trials

if TYPE_CHECKING:
    from workbench.ui.form import SweepForm

DATA_LABELS = {"synthetic": "synthetic images", "demo": "demo (real labelled images)",
               "folder": "image folder", "npy": ".npy array file"}


def check_sweep(form: SweepForm) -> tuple[SweepConfig | None, dict[str, str]]:
    """The sweep the form's controls describe, or None and a message per group of controls at fault."""
    # (group of controls, part, how to build it): a group shows its first problem only.
    checks: list[tuple[str, str, Callable[[], Any]]] = [
        ("image_size", "image_size", lambda: parse_image_size(form.image_size.value)),
        ("model", "model", lambda: ModelSpec(form.model_name(), allow_unsafe=bool(form.allow_unsafe.value))),
        ("data", "data", form.data_spec),
        ("images", "images", form.dataset_sizes),
        ("target_images", "target_images", form.target_size),
        ("pipelines", "pipelines", lambda: parse_name_list(form.ticked(form.pipelines), PIPELINES, "pipelines")),
        ("precisions", "precisions", lambda: parse_name_list(form.ticked(form.precisions), PRECISIONS, "precisions")),
        ("backends", "backends", lambda: parse_name_list(form.ticked(form.backends), BACKENDS, "backends")),
        ("batch_sizes", "batch_sizes", form.batch_sizes),
        ("host_budget", "host", lambda: form.host_budget.value.strip() and parse_bytes(form.host_budget.value)),
        ("gpu_budget", "gpu", lambda: form.gpu_budget.value.strip() and parse_bytes(form.gpu_budget.value)),
        ("timing", "timing", form.timing),
        ("timing", "timeout", lambda: Budget(timeout_s=form.timeout.value)),
        ("out", "out", lambda: check_out(form.out.value.strip())),
    ]
    errors: dict[str, str] = {}
    parts: dict[str, Any] = {}
    for group, part, build in checks:
        if group in errors:
            continue
        try:
            parts[part] = build()
        except ConfigError as exc:
            errors[group] = str(exc)
    if "image_size" not in errors and "model" not in errors:
        try:  # the size against the model (e.g. Xception needs 71 pixels or more)
            parts["model"] = ModelSpec(form.model_name(), image_size=parts["image_size"],
                                       allow_unsafe=bool(form.allow_unsafe.value))
        except ConfigError as exc:
            errors["image_size"] = str(exc)
    if errors:
        return None, errors
    try:
        sweep = SweepConfig(model=parts["model"], data=parts["data"], pipelines=parts["pipelines"],
                            precisions=parts["precisions"], batch_sizes=parts["batch_sizes"],
                            budget=form.budget(), timing=parts["timing"], images=parts["images"],
                            target_images=parts["target_images"], backends=parts["backends"],
                            auto_sizes=bool(form.auto_sizes.value))
        checked_trials(sweep)  # settings that cannot go together (stream needs data on disk)
    except ConfigError as exc:
        text = str(exc)
        group = ("backends" if "backend" in text else "pipelines" if "pipeline" in text
                 else "images" if "images" in text else "general")
        return None, {group: text}
    return sweep, {}


def check_out(text: str) -> None:
    """A results folder: given, and not an existing file."""
    if not text:
        raise ConfigError("results folder: give a folder to save the results in, e.g. runs/mine")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"results folder {text!r} is a file: give a folder")
