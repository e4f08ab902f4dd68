"""What does the workbench's measurement cost? Two ratios, measured in one run.

1. Throughput: a workbench trial (own process, per-batch timing callbacks, outputs forced to
   host) against a bare ``model.predict`` loop on the same model, data and batch size, in this
   process, **with the user's default timing** (``TimingSpec()``: at least 5 whole passes and
   3 s, the median of the passes, a noisy trial re-measured) unless ``--seconds`` /
   ``--min-passes`` say otherwise. The bare loop times whole passes by the same rule and reports
   the same statistic (the median of its passes; its best pass is printed too). Goal: at least
   0.95 with the defaults (issue 13).
2. Fixed cost of one isolated trial (everything but its timed phase: start, load, warm-up) with
   the fork server and with a fresh interpreter, against a bare ``import tensorflow`` + model
   build in a fresh interpreter (``--no-fixed-cost`` skips it).

Run: ``python bench/bench_overhead.py [--model mobilenet_v2 --image-size 96 --batch 32 --images 256]``.
Pairs are interleaved, the order alternating (bare then workbench, then workbench then bare), so
a drift in machine speed (shared VMs drift by tens of percent over minutes) touches both sides;
the figure is the median of the pairs' ratios (three pairs by default). Run on a quiet machine:
timing while other work runs measures the other work.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.config import DataSpec, ModelSpec, TimingSpec, TrialConfig  # noqa: E402
from workbench.engine.launcher import SpawnLauncher, default_launcher, worker_env  # noqa: E402
from workbench.engine.runner import run_trial  # noqa: E402
from workbench.spread import median  # noqa: E402


def bare_passes(model, x, cfg: TrialConfig) -> list[float]:
    """Images/s of each whole ``model.predict`` pass, timed until the trial's own rule says enough
    (the same minimum and re-measure as the worker's timed phase)."""
    from workbench.trial.probes.timing import keep_measuring
    from workbench.trial.worker import enough_passes

    batches_per_pass = -(-len(x) // cfg.batch_size)
    per_pass: list[float] = []
    minimum_s = 0.0
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter()
        model.predict(x, batch_size=cfg.batch_size, verbose=0)
        per_pass.append(len(x) / (time.perf_counter() - t))
        elapsed = time.perf_counter() - t0
        if not minimum_s:
            if not enough_passes(cfg, batches_per_pass * len(per_pass), len(per_pass), elapsed):
                continue
            minimum_s = elapsed
        if not keep_measuring(cfg.timing, per_pass, elapsed, minimum_s):
            return per_pass


def bare_fixed_cost(model: str, size: int) -> float:
    code = (
        "import time; t=time.perf_counter(); import keras, tensorflow; "
        f"from workbench.trial.models import build_model; from workbench.config import ModelSpec; "
        f"build_model(keras, ModelSpec({model!r}, image_size={size})); print(time.perf_counter()-t)"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=worker_env(), capture_output=True)
    return time.perf_counter() - t0


def add_setting_options(ap: argparse.ArgumentParser) -> None:
    """The setting timed (MobileNetV2 96 px, batch 32, 256 images by default) and the timing
    options; bench_repeat.py times the same setting."""
    ap.add_argument("--model", default="mobilenet_v2")
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=None, help="timed seconds at least (default: TimingSpec's)")
    ap.add_argument("--min-passes", type=int, default=None, help="timed passes at least (default: TimingSpec's)")


def timing_from(args: argparse.Namespace) -> TimingSpec:
    """The user's default timing, with only what the options change (drift off: it runs after
    the timed phase and costs time, not throughput)."""
    timing = TimingSpec(drift_samples=0)
    if args.seconds is not None:
        timing = replace(timing, min_duration_s=args.seconds)
    if args.min_passes is not None:
        timing = replace(timing, min_passes=args.min_passes)
    return timing


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_setting_options(ap)
    ap.add_argument("--pairs", type=int, default=3, help="interleaved bare/workbench pairs (default 3)")
    ap.add_argument("--no-fixed-cost", action="store_true", help="skip the fixed-cost part")
    args = ap.parse_args()

    cfg = TrialConfig(model=ModelSpec(args.model, image_size=args.image_size),
                      data=DataSpec("synthetic", count=args.images), batch_size=args.batch, timing=timing_from(args))
    import keras  # the bare baseline runs here, in the benchmark's own process

    from workbench.trial.models import build_model
    from workbench.trial.sources import synthetic

    model = build_model(keras, cfg.model)
    x = synthetic(cfg.data, (args.image_size, args.image_size), 3).x
    model.predict(x, batch_size=args.batch, verbose=0)  # warm-up: tracing

    fork = default_launcher()
    run_trial(cfg, launcher=fork)  # start the fork server outside the measurements
    ratios, best_ratios, wb, bare, fixed_fork = [], [], [], [], []
    for i in range(args.pairs):
        order = ("bare", "workbench") if i % 2 == 0 else ("workbench", "bare")
        for side in order:
            if side == "bare":
                passes = bare_passes(model, x, cfg)
            else:
                r = run_trial(cfg, launcher=fork)
                assert r is not None and r.ok, r and r.error
        bare.append(median(passes))
        wb.append(r.throughput_ips)
        ratios.append(r.throughput_ips / bare[-1])
        best_ratios.append(r.throughput_ips / max(passes))
        fixed_fork.append(r.wall_s - r.timed_s)
        flag = " (unstable)" if r.unstable else ""
        print(f"pair {i + 1} ({' then '.join(order)}): workbench {wb[-1]:.1f} img/s, spread {r.throughput_cv * 100:.1f} %, "
              f"{r.timed_passes} passes{flag}; bare {bare[-1]:.1f} img/s (median of {len(passes)} passes, "
              f"best {max(passes):.1f}): ratio {ratios[-1]:.3f}", flush=True)

    med = statistics.median
    timing = cfg.timing
    print(f"\nsetting: {args.model} {args.image_size}x{args.image_size}, batch {args.batch}, {args.images} synthetic "
          f"images; timing: at least {timing.min_passes} passes and {timing.min_duration_s:g} s, re-measured up to "
          f"{timing.remeasure_factor:g}x above {timing.max_cv * 100:g} % spread; {args.pairs} interleaved pairs")
    print(f"throughput ratio workbench / bare predict: {med(ratios):.3f} (median of {args.pairs} pairs: "
          f"{', '.join(f'{r:.3f}' for r in ratios)}; workbench {med(wb):.1f} img/s, bare {med(bare):.1f} img/s; "
          f"goal >= 0.95)")
    print(f"against the bare loop's best pass: {med(best_ratios):.3f}")
    if args.no_fixed_cost:
        return 0
    fixed_spawn, fixed_bare = [], []
    for _ in range(2):
        r = run_trial(cfg, launcher=SpawnLauncher())
        assert r is not None and r.ok, r and r.error
        fixed_spawn.append(r.wall_s - r.timed_s)
        fixed_bare.append(bare_fixed_cost(args.model, args.image_size))
    print(f"fixed cost of one isolated trial (all but the timed phase): fork server {med(fixed_fork):.2f} s, "
          f"fresh interpreter {med(fixed_spawn):.2f} s")
    print(f"bare 'import tensorflow' + model build in a fresh interpreter: {med(fixed_bare):.2f} s")
    print(f"ratio trial fixed cost / bare import+build: fork {med(fixed_fork) / med(fixed_bare):.2f}, "
          f"spawn {med(fixed_spawn) / med(fixed_bare):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
