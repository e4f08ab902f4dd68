"""What does running a sweep on Ray cost per trial, and what does it buy with N slots?

Starts a real 2-node Ray cluster on this machine (one slot per node, as in
tests/integration/test_ray.py), runs a sweep of small trials (the tiny CNN) on it, and prints:

1. Dispatch overhead per trial: from the moment the driver hands a trial to a slot until its
   result is in ``results.jsonl``, less the trial's own wall time (its process, as the slot saw
   it). Goal: under 1 s.
2. Sweep overhead per trial: slot-seconds not spent in trials, ``(slots x sweep wall - sum of
   trial walls) / trials``: the above plus connecting, starting the slots and the idle tail.
3. On paper: the expected speed-up of a sweep of ``--paper-trials`` trials of ``--paper-trial-s``
   seconds each on N slots against one machine, from the measured start-up and overhead:
   ``n t / (start + ceil(n / N) (t + o))``.

Run: ``python bench/bench_ray.py [--trials 16]`` (needs the ray extra). Others' work on the
same cores inflates the figures; run it on an idle machine for numbers to quote.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Read by Ray when imported: a one-machine cluster on loopback, no token file, no usage report.
os.environ.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")

from workbench.config import DataSpec, ModelSpec, SweepConfig, TimingSpec  # noqa: E402
from workbench.engine.ray_executor import MARKER, RayExecutor  # noqa: E402
from workbench.engine.runner import TrialEvent, run_sweep  # noqa: E402

SLOTS = 2


def start_cluster(tmp: str):
    """Two Ray nodes here, one CPU and one ``workbench`` slot each; Ray's files under ``tmp``."""
    from ray.cluster_utils import Cluster

    os.makedirs(f"{tmp}/ray")
    os.environ["RAY_TMPDIR"] = tmp  # Ray's cluster address file goes here, not /tmp/ray
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {MARKER: 1}, "include_dashboard": False, "temp_dir": f"{tmp}/ray"})
    for _ in range(SLOTS - 1):
        cluster.add_node(num_cpus=1, resources={MARKER: 1})
    cluster.wait_for_nodes()
    return cluster


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=16, help="trials in the measured sweep (default %(default)s)")
    ap.add_argument("--images", type=int, default=256, help="synthetic images per trial (default %(default)s)")
    ap.add_argument("--paper-trials", type=int, default=864, help="sweep size for the speed-up table (default %(default)s)")
    ap.add_argument("--paper-trial-s", type=float, default=30.0, help="seconds per trial for the table (default %(default)s)")
    args = ap.parse_args()

    sweep = SweepConfig(ModelSpec("tiny", image_size=32), DataSpec("synthetic", count=args.images),
                        batch_sizes=tuple(range(1, args.trials + 1)),
                        timing=TimingSpec(warmup_batches=1, min_batches=4, min_duration_s=0.0, min_passes=1, drift_samples=0))
    tmp = tempfile.mkdtemp(prefix="rb", dir="/tmp")  # short: Ray's socket paths are limited to 107 bytes
    out = Path(tmp) / "out"
    handed: dict[int, float] = {}
    stored: dict[int, float] = {}

    def progress(event: TrialEvent) -> None:
        (handed if event.kind == "start" else stored)[event.index] = time.perf_counter()

    cluster = start_cluster(tmp)
    try:
        t0 = time.perf_counter()
        results = run_sweep(sweep, out, executor=RayExecutor(cluster.address), progress=progress)
        wall = time.perf_counter() - t0
    finally:
        cluster.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)

    bad = [f"batch {r.batch_size}: {r.status} {r.error}" for r in results if not r.ok]
    if bad:
        print("failed trials:\n  " + "\n  ".join(bad))
        return 1
    walls = [r.wall_s for r in results]
    dispatch = [stored[i] - handed[i] - r.wall_s for i, r in enumerate(results)]
    start = min(handed.values()) - t0  # connect, start the slots
    sweep_overhead = (SLOTS * wall - sum(walls)) / len(results)
    nodes = len({r.node for r in results})
    print(f"{len(results)} trials on {nodes} nodes ({SLOTS} slots) in {wall:.1f} s; start-up (connect, slots) {start:.1f} s")
    print(f"trial wall: median {statistics.median(walls):.2f} s, first per slot includes the fork server's TensorFlow import")
    print(f"dispatch overhead per trial: median {statistics.median(dispatch) * 1000:.0f} ms, "
          f"max {max(dispatch) * 1000:.0f} ms (goal under 1 s)")
    print(f"sweep overhead per trial (slot time not in trials): {sweep_overhead:.2f} s")

    o, t, n = statistics.median(dispatch), args.paper_trial_s, args.paper_trials
    local = n * t
    print(f"\non paper: {n} trials of {t:g} s, start-up {start:.1f} s, overhead {o * 1000:.0f} ms a trial")
    print(f"{'slots':>6} {'wall':>10} {'speed-up':>9}")
    for slots in (1, 2, 4, 8, 16, 32):
        ray_wall = start + math.ceil(n / slots) * (t + o)
        print(f"{slots:>6} {ray_wall / 3600:>9.2f}h {local / ray_wall:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
