"""Options shared by the subcommands, and their conversion to configs.

Defaults come from the config dataclasses, so the CLI, the panel and the Python API agree
(``tests/unit/test_parity.py`` checks each against the dataclass fields). A subcommand with
defaults of its own (the demo) passes them here rather than editing the parser afterwards.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from workbench.config import Budget, DataSpec, ModelSpec, SweepConfig, TimingSpec, parse_bytes
from workbench.engine.executors import Executor, make_executor
from workbench.errors import ConfigError
from workbench.parsing import parse_margin, parse_max_cv  # noqa: F401  (parse_margin re-exported: the subcommands import it from here)

_TIMING: dict[str, Any] = {f.name: f.default for f in fields(TimingSpec)}
_BUDGET: dict[str, Any] = {f.name: f.default for f in fields(Budget)}
_SWEEP: dict[str, Any] = {f.name: f.default for f in fields(SweepConfig)}

# Synthetic images at DataSpec's own default count ("synthetic:256").
DEFAULT_DATA = DataSpec("synthetic").label


def _with_default(help_text: str, default: str | None) -> str:
    return help_text if default is None else f"{help_text} (default {default})"


def add_trial_options(p: argparse.ArgumentParser, *, model: str | None = None, data: str = DEFAULT_DATA,
                      out: str | None = None) -> None:
    """Model, data, budgets and timing: what every trial needs. ``model`` and ``out`` are
    required unless a default is given."""
    p.add_argument("--model", required=model is None, default=model,
                   help=_with_default("keras.applications name (mobilenet_v2, resnet50, ...), demo, tiny, "
                                      "or a .keras/.h5/SavedModel path", model))
    p.add_argument("--image-size", default=None, help="input size, 96 or 96x128 (default: the model's own)")
    p.add_argument("--allow-unsafe", action="store_true",
                   help="load .keras files with safe_mode off (only for files you trust: Lambda layers)")
    p.add_argument("--data", default=data,
                   help=_with_default("synthetic:COUNT, demo[:COUNT], an image folder or a .npy file", data))
    p.add_argument("--host-budget", default=None, help="host memory budget per trial, e.g. 1.5GB or 2GiB")
    p.add_argument("--gpu-budget", default=None, help="simulated GPU memory budget, e.g. 8GB (needs a GPU)")
    p.add_argument("--timeout", type=float, default=_BUDGET["timeout_s"], help="seconds per trial (default %(default)s)")
    p.add_argument("--warmup-batches", type=int, default=_TIMING["warmup_batches"], help="untimed batches first (default %(default)s)")
    p.add_argument("--min-batches", type=int, default=_TIMING["min_batches"], help="timed batches at least (default %(default)s)")
    p.add_argument("--min-duration", type=float, default=_TIMING["min_duration_s"], help="timed seconds at least (default %(default)s)")
    p.add_argument("--drift-samples", type=int, default=_TIMING["drift_samples"], help="images compared with float32 (0: off; default %(default)s)")
    p.add_argument("--min-passes", type=int, default=_TIMING["min_passes"],
                   help="timed passes over the data at least; the throughput is their median (default %(default)s)")
    p.add_argument("--max-cv", default=f"{_TIMING['max_cv'] * 100:g}%",
                   help="spread of the passes (coefficient of variation) above which a trial is re-measured, "
                        "then marked unstable (default %(default)s)")
    p.add_argument("--remeasure-factor", type=float, default=_TIMING["remeasure_factor"],
                   help="a noisy trial is timed up to this many times as long as its minimum (1: never; default %(default)s)")
    p.add_argument("--out", required=out is None, default=out,
                   help=_with_default("results folder (re-running into it resumes)", out))
    p.add_argument("--allow-other-machine", action="store_true",
                   help="add to a results folder written on another machine (its trials are kept apart, not reused)")


def add_sweep_axes(p: argparse.ArgumentParser, *, batch_sizes: Sequence[int] = _SWEEP["batch_sizes"],
                   precisions: Sequence[str] = _SWEEP["precisions"],
                   pipelines: Sequence[str] = _SWEEP["pipelines"]) -> None:
    """The axes a sweep crosses; defaults are SweepConfig's unless given."""
    p.add_argument("--batch-sizes", default=",".join(map(str, batch_sizes)), help="comma-separated (default %(default)s)")
    p.add_argument("--precisions", default=",".join(precisions), help="float32, mixed_float16, mixed_bfloat16 (default %(default)s)")
    p.add_argument("--pipelines", default=",".join(pipelines), help="in_memory, batch_loop, stream (default %(default)s)")
    p.add_argument("--backends", default=",".join(_SWEEP["backends"]),
                   help="Keras backends, comma-separated: tensorflow, jax, torch (default %(default)s)")
    p.add_argument("--images", default=_SWEEP["images"],
                   help="dataset sizes, comma-separated, e.g. 1000,4000,16000: each runs on the first K images "
                        "of the data (default: the data's own count)")
    p.add_argument("--no-auto-sizes", dest="auto_sizes", action="store_false", default=_SWEEP["auto_sizes"],
                   help="with --target-images above the one dataset size measured, do not also measure a quarter "
                        "and a half of it (by default the sweep does, at one batch size, so the peak at the target "
                        "can be predicted)")
    p.add_argument("--repeat", type=int, default=_SWEEP["repeat"],
                   help="run every setting this many times, interleaved; the analysis takes the median and "
                        "the spread across the runs (default %(default)s)")


def add_target_option(p: argparse.ArgumentParser) -> None:
    """``--target-images N``: the number of images of the real job, the size answers are for."""
    p.add_argument("--target-images", default=_SWEEP["target_images"],
                   help="images of the real job, e.g. 1200000: the answers predict each setting's peak at "
                        "that size (default: the full count of a folder or .npy; for synthetic or demo data "
                        "the largest size measured)")


def optional_bytes(text: str | None) -> int | None:
    """A budget option: None when not given."""
    return parse_bytes(text) if text else None


def attach_signed_values(argv: list[str]) -> list[str]:
    """``--host-budget -1GB`` -> ``--host-budget=-1GB``: argparse takes a value starting with
    ``-`` and a digit for an option of its own ("expected one argument"); attached, it reaches
    the option's own check, which says what is wrong with it (here: "must be positive")."""
    out: list[str] = []
    for arg in argv:
        if out and re.fullmatch(r"--[A-Za-z][\w-]*", out[-1]) and re.match(r"-\.?\d", arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def size_option(text: str | None, option: str) -> int | None:
    """A memory size typed for ``option``; the error names the option."""
    try:
        return parse_bytes(text) if text else None
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def model_data_budget_timing(args: argparse.Namespace) -> tuple[ModelSpec, DataSpec, Budget, TimingSpec]:
    """The parts of a trial that the options of :func:`add_trial_options` describe."""
    model = ModelSpec(args.model, image_size=args.image_size, allow_unsafe=args.allow_unsafe)
    data = DataSpec.parse(args.data)
    budget = Budget(
        host_bytes=size_option(args.host_budget, "--host-budget"),
        gpu_bytes=size_option(args.gpu_budget, "--gpu-budget"),
        timeout_s=args.timeout,
    )
    timing = TimingSpec(warmup_batches=args.warmup_batches, min_batches=args.min_batches,
                        min_duration_s=args.min_duration, drift_samples=args.drift_samples,
                        min_passes=args.min_passes, max_cv=parse_max_cv(args.max_cv),
                        remeasure_factor=args.remeasure_factor)
    return model, data, budget, timing


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    """The sweep that trial options and sweep axes describe (validated)."""
    model, data, budget, timing = model_data_budget_timing(args)
    return SweepConfig(model=model, data=data, pipelines=args.pipelines, precisions=args.precisions,
                       batch_sizes=args.batch_sizes, budget=budget, timing=timing,
                       images=getattr(args, "images", None), target_images=getattr(args, "target_images", None),
                       repeat=getattr(args, "repeat", _SWEEP["repeat"]),
                       backends=getattr(args, "backends", _SWEEP["backends"]),
                       auto_sizes=getattr(args, "auto_sizes", _SWEEP["auto_sizes"]))


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """Where trials run: this machine (default) or a Ray cluster (the ``ray`` extra)."""
    p.add_argument("--executor", default="local", choices=("local", "ray"),
                   help="local: this machine, one trial at a time (default); ray: one trial per node or GPU of a Ray cluster")
    p.add_argument("--ray-address", default=None,
                   help="with --executor ray: HOST:PORT of the cluster's head, or local to start Ray here")


def executor(args: argparse.Namespace) -> Executor | None:
    """The executor the options ask for (None: the default local one); checked before any trial."""
    if getattr(args, "executor", "local") == "local" and not getattr(args, "ray_address", None):
        return None
    return make_executor(args.executor, args.ray_address)
