"""Does the same setting read the same throughput twice? Three separate sweeps of one setting.

Issue 13's check: MobileNetV2 at 96 px, batch 32, 256 synthetic images, with the user's default
timing, run as three separate sweeps (each its own results folder, as a user re-running would).
Prints each sweep's throughput (the median of its passes) with its spread, and the max/min ratio
of the three: within 10 % is the goal; a sweep whose spread stayed above the threshold says so
(it marked itself ``unstable``), which is the honest answer on a noisy machine.

Run: ``python bench/bench_repeat.py [--model mobilenet_v2 --image-size 96 --batch 32 --images 256]``
on a quiet machine (other work on the cores is what it would measure).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_overhead import add_setting_options, timing_from  # noqa: E402  (this folder: the same setting)

from workbench.config import DataSpec, ModelSpec, SweepConfig  # noqa: E402
from workbench.engine.runner import run_sweep  # noqa: E402

GOAL = 1.10  # max/min of the three throughputs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_setting_options(ap)
    ap.add_argument("--sweeps", type=int, default=3)
    ap.add_argument("--out", default=None, help="folder for the sweeps' results (default: a temporary one)")
    args = ap.parse_args()

    timing = timing_from(args)  # the user's default timing; drift runs after it, costs only time
    sweep = SweepConfig(model=ModelSpec(args.model, image_size=args.image_size),
                        data=DataSpec("synthetic", count=args.images), batch_sizes=(args.batch,), timing=timing)
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-repeat-"))
    results = []
    for i in range(args.sweeps):
        (r,) = run_sweep(sweep, root / f"sweep{i + 1}")
        assert r.ok, r.error
        results.append(r)
        flag = " UNSTABLE" if r.unstable else ""
        print(f"sweep {i + 1}: {r.throughput_ips:.1f} img/s (median of {r.timed_passes} passes over {r.timed_s:.1f} s, "
              f"spread {r.throughput_cv * 100:.1f} % CV, IQR {r.throughput_iqr_ips:.1f} img/s"
              f"{', re-measured' if r.remeasured else ''}){flag}", flush=True)

    tputs = [r.throughput_ips for r in results]
    ratio = max(tputs) / min(tputs)
    print(f"\nsetting: {args.model} {args.image_size}x{args.image_size}, batch {args.batch}, {args.images} synthetic "
          f"images; timing: at least {timing.min_passes} passes and {timing.min_duration_s:g} s; {args.sweeps} sweeps")
    print(f"throughputs: {', '.join(f'{t:.1f}' for t in tputs)} img/s; max/min {ratio:.3f} "
          f"({'within' if ratio <= GOAL else 'NOT within'} {(GOAL - 1) * 100:.0f} %)")
    unstable = [i + 1 for i, r in enumerate(results) if r.unstable]
    if unstable:
        print(f"marked unstable (spread above {timing.max_cv * 100:g} % after re-measuring): "
              f"sweep(s) {', '.join(map(str, unstable))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
