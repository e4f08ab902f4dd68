"""How many isolated trials does the batch search need? The model-guided search against plain
doubling-then-bisecting, on the same model, data and budget, with real trials.

The budget, unless given, is set from one calibration trial at batch 1 so that the answer is
inside the range searched: the batch-1 peak plus ``--room`` MiB, divided by (1 - margin).
Each search writes its probes into its own folder; the two answers can differ by a few
batches where run-to-run noise makes neighbouring batches indistinguishable.

Run: ``python bench/bench_search.py [--model tiny --image-size 64 --max-batch 1024 --room 150]``.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.config import DataSpec, ModelSpec, TimingSpec, TrialConfig, format_bytes, parse_bytes  # noqa: E402
from workbench.engine.runner import run_trial  # noqa: E402
from workbench.engine.search import ProbeEvent, search_batch  # noqa: E402

MIB = 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--max-batch", type=int, default=1024)
    ap.add_argument("--pipeline", default="in_memory")
    ap.add_argument("--precision", default="float32")
    ap.add_argument("--host-budget", default=None, help="e.g. 900MiB (default: from a batch-1 trial and --room)")
    ap.add_argument("--room", type=float, default=150.0, help="MiB above the batch-1 peak the budget allows")
    ap.add_argument("--margin", type=float, default=0.1)
    args = ap.parse_args()

    template = TrialConfig(
        model=ModelSpec(args.model, image_size=args.image_size),
        data=DataSpec("synthetic", count=args.max_batch),
        pipeline=args.pipeline, precision=args.precision, batch_size=1,
        timing=TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0.0, min_passes=1, drift_samples=0),
    )
    if args.host_budget:
        budget = parse_bytes(args.host_budget)
    else:
        first = run_trial(template)
        if first is None or not first.ok:
            print(f"calibration trial failed: {first.error if first else 'cancelled'}")
            return 1
        budget = int((first.host_peak_bytes + args.room * MIB) / (1 - args.margin))
        print(f"calibration: batch 1 peaks at {format_bytes(first.host_peak_bytes)}")
    print(f"{template.describe().rsplit(' | ', 1)[0]}: host budget {format_bytes(budget)}, margin "
          f"{args.margin:.0%}, batches 1..{args.max_batch} (goal: at most {int(math.log2(args.max_batch)) + 2} probes)\n")

    rows = []
    for strategy in ("model", "doubling"):
        def progress(event: ProbeEvent, strategy: str = strategy) -> None:
            if event.kind == "end" and event.result is not None:
                print(f"  {strategy:>8} probe {event.index + 1:>2}: batch {event.batch_size:>5}  "
                      f"{event.result.status!s:<11} {format_bytes(event.result.host_peak_bytes):>11}  "
                      f"{'fits' if event.fits else 'over'}", flush=True)

        with tempfile.TemporaryDirectory(prefix=f"bench-search-{strategy}-") as out:
            t0 = time.perf_counter()
            result = search_batch(template, out, host_budget_bytes=budget, margin=args.margin,
                                  max_batch=args.max_batch, progress=progress, strategy=strategy)
            rows.append((strategy, result.batch_size, result.n_probes, result.limited_by, time.perf_counter() - t0))
        print()

    print(f"{'strategy':>10} {'answer':>7} {'probes':>7}  stopped by")
    for strategy, answer, probes, limited_by, _ in rows:
        print(f"{strategy:>10} {answer:>7} {probes:>7}  {limited_by}")
    (_, _, model_probes, _, model_s), (_, _, doubling_probes, _, doubling_s) = rows
    print(f"\nprobes, model-guided / doubling-then-bisecting: {model_probes / doubling_probes:.2f}")
    print(f"wall time, model-guided / doubling-then-bisecting: {model_s / doubling_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
