"""Options shared by the subcommands that run trials, and their conversion to configs.

Defaults come from the config dataclasses, so the CLI, the panel and the Python API agree.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from workbench.config import Budget, DataSpec, ModelSpec, SweepConfig, TimingSpec, parse_bytes
from workbench.engine.executors import Executor, make_executor

_TIMING = {f.name: f.default for f in fields(TimingSpec)}
_BUDGET = {f.name: f.default for f in fields(Budget)}
_SWEEP = {f.name: f.default for f in fields(SweepConfig)}

DEFAULT_DATA = "synthetic:256"


def add_trial_options(p: argparse.ArgumentParser) -> None:
    """Model, data, budgets and timing: what every trial needs."""
    p.add_argument("--model", required=True,
                   help="keras.applications name (mobilenet_v2, resnet50, ...), demo, tiny, or a .keras/.h5/SavedModel path")
    p.add_argument("--image-size", default=None, help="input size, 96 or 96x128 (default: the model's own)")
    p.add_argument("--allow-unsafe", action="store_true",
                   help="load .keras files with safe_mode off (only for files you trust: Lambda layers)")
    p.add_argument("--data", default=DEFAULT_DATA,
                   help=f"synthetic:COUNT, demo[:COUNT], an image folder or a .npy file (default {DEFAULT_DATA})")
    p.add_argument("--host-budget", default=None, help="host memory budget per trial, e.g. 1.5GB or 2GiB")
    p.add_argument("--gpu-budget", default=None, help="simulated GPU memory budget, e.g. 8GB (needs a GPU)")
    p.add_argument("--timeout", type=float, default=_BUDGET["timeout_s"], help="seconds per trial (default %(default)s)")
    p.add_argument("--warmup-batches", type=int, default=_TIMING["warmup_batches"], help="untimed batches first (default %(default)s)")
    p.add_argument("--min-batches", type=int, default=_TIMING["min_batches"], help="timed batches at least (default %(default)s)")
    p.add_argument("--min-duration", type=float, default=_TIMING["min_duration_s"], help="timed seconds at least (default %(default)s)")
    p.add_argument("--drift-samples", type=int, default=_TIMING["drift_samples"], help="images compared with float32 (0: off; default %(default)s)")
    p.add_argument("--out", required=True, help="results folder (re-running into it resumes)")


def add_sweep_axes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-sizes", default=",".join(map(str, _SWEEP["batch_sizes"])), help="comma-separated (default %(default)s)")
    p.add_argument("--precisions", default=",".join(_SWEEP["precisions"]), help="float32, mixed_float16, mixed_bfloat16 (default %(default)s)")
    p.add_argument("--pipelines", default=",".join(_SWEEP["pipelines"]), help="in_memory, batch_loop, stream (default %(default)s)")


def model_data_budget_timing(args: argparse.Namespace) -> tuple[ModelSpec, DataSpec, Budget, TimingSpec]:
    model = ModelSpec(args.model, image_size=args.image_size, allow_unsafe=args.allow_unsafe)
    data = DataSpec.parse(args.data)
    budget = Budget(
        host_bytes=parse_bytes(args.host_budget) if args.host_budget else None,
        gpu_bytes=parse_bytes(args.gpu_budget) if args.gpu_budget else None,
        timeout_s=args.timeout,
    )
    timing = TimingSpec(warmup_batches=args.warmup_batches, min_batches=args.min_batches,
                        min_duration_s=args.min_duration, drift_samples=args.drift_samples)
    return model, data, budget, timing


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    model, data, budget, timing = model_data_budget_timing(args)
    return SweepConfig(model=model, data=data, pipelines=args.pipelines, precisions=args.precisions,
                       batch_sizes=args.batch_sizes, budget=budget, timing=timing)


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
