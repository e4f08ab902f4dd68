"""What does the workbench's measurement cost? Two ratios, measured in one run.

1. Throughput: a workbench trial (own process, per-batch timing callbacks, outputs forced to
   host) against a bare ``model.predict`` loop on the same model, data and batch size, in this
   process. Goal: at least 0.98.
2. Fixed cost of one isolated trial (everything but its timed phase: start, load, warm-up) with
   the fork server and with a fresh interpreter, against a bare ``import tensorflow`` + model
   build in a fresh interpreter.

Run: ``python bench/bench_overhead.py [--model mobilenet_v2 --image-size 96 --batch 32]``.
Each round measures bare, then the workbench trial, then bare again, and compares the trial
with the mean of the two bare runs around it, so a drift in machine speed (shared VMs drift by
tens of percent over minutes) cancels; the median of the rounds' ratios is the figure.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.config import DataSpec, ModelSpec, TimingSpec, TrialConfig  # noqa: E402
from workbench.engine.launcher import SpawnLauncher, default_launcher, worker_env  # noqa: E402
from workbench.engine.runner import run_trial  # noqa: E402


def bare_throughput(model, x, batch: int, min_s: float) -> float:
    images, t0 = 0, time.perf_counter()
    while True:
        model.predict(x, batch_size=batch, verbose=0)
        images += len(x)
        elapsed = time.perf_counter() - t0
        if elapsed >= min_s:
            return images / elapsed


def bare_fixed_cost(model: str, size: int) -> float:
    code = (
        "import time; t=time.perf_counter(); import keras, tensorflow; "
        f"from workbench.trial.models import build_model; from workbench.config import ModelSpec; "
        f"build_model(keras, ModelSpec({model!r}, image_size={size})); print(time.perf_counter()-t)"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=worker_env(), capture_output=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilenet_v2")
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()

    cfg = TrialConfig(
        model=ModelSpec(args.model, image_size=args.image_size),
        data=DataSpec("synthetic", count=args.images),
        batch_size=args.batch,
        timing=TimingSpec(warmup_batches=2, min_batches=10, min_duration_s=args.seconds, drift_samples=0),
    )
    import keras  # the bare baseline runs here, in the benchmark's own process

    from workbench.trial.models import build_model
    from workbench.trial.sources import synthetic

    model = build_model(keras, cfg.model)
    x = synthetic(cfg.data, (args.image_size, args.image_size), 3).x
    model.predict(x, batch_size=args.batch, verbose=0)  # warm-up: tracing

    fork = default_launcher()
    run_trial(cfg, launcher=fork)  # start the fork server outside the measurements
    bare, wb, fixed_fork, fixed_spawn, fixed_bare = [], [], [], [], []
    ratios = []
    previous = bare_throughput(model, x, args.batch, args.seconds)
    for i in range(args.rounds):
        r = run_trial(cfg, launcher=fork)
        assert r is not None and r.ok, r and r.error
        after = bare_throughput(model, x, args.batch, args.seconds)
        around = (previous + after) / 2
        bare.append(around)
        wb.append(r.throughput_ips)
        ratios.append(r.throughput_ips / around)
        fixed_fork.append(r.wall_s - r.timed_s)
        print(f"round {i + 1}: bare {previous:.1f} / {after:.1f} img/s around workbench {wb[-1]:.1f} img/s: "
              f"ratio {ratios[-1]:.3f}", flush=True)
        previous = after
    for _ in range(2):
        r = run_trial(cfg, launcher=SpawnLauncher())
        assert r is not None and r.ok, r and r.error
        fixed_spawn.append(r.wall_s - r.timed_s)
        fixed_bare.append(bare_fixed_cost(args.model, args.image_size))

    med = statistics.median
    print(f"\nsetting: {args.model} {args.image_size}x{args.image_size}, batch {args.batch}, "
          f"{args.images} synthetic images, {args.seconds:g} s timed, {args.rounds} rounds")
    print(f"throughput ratio workbench / bare predict: {med(ratios):.3f} (median of rounds) "
          f"(workbench {med(wb):.1f} img/s, bare {med(bare):.1f} img/s; goal >= 0.98)")
    print(f"fixed cost of one isolated trial (all but the timed phase): fork server {med(fixed_fork):.2f} s, "
          f"fresh interpreter {med(fixed_spawn):.2f} s")
    print(f"bare 'import tensorflow' + model build in a fresh interpreter: {med(fixed_bare):.2f} s")
    print(f"ratio trial fixed cost / bare import+build: fork {med(fixed_fork) / med(fixed_bare):.2f}, "
          f"spawn {med(fixed_spawn) / med(fixed_bare):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
