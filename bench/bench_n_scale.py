"""How far does the memory model's dataset-size term reach? Prediction error at 4x and 16x the
largest dataset size measured, for each pipeline that accumulates, with real trials.

One ``.npy`` of random 8-bit images is made (``--size`` pixels a side, as many as the largest
size asked for); a sweep measures each pipeline at ``--measure`` sizes (and ``--batches``),
another at 4x and 16x the largest of them; the memory model fitted on the first predicts the
second. The error is given on the growth above each real trial's baseline (the part of the
peak that prediction adds), and on the whole peak. Default: MobileNetV2 at 32 px, whose 1000
class scores (4,000 bytes an image) are what ``model.predict`` keeps until the end.

Run: ``python bench/bench_n_scale.py`` (measures 1,000-4,000 images, predicts 16,000 and
64,000: about 10 minutes here, and about 3 GiB for in_memory at 64,000). A quick check that
it works: ``python bench/bench_n_scale.py --measure 100,200 --batches 16``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import workbench as wb  # noqa: E402
from workbench.analysis import budget_peak, fit_memory_model  # noqa: E402
from workbench.config import PIPELINES, TimingSpec, parse_int_list  # noqa: E402

MIB = 2**20
ACCUMULATING = ("stream", "batch_loop", "in_memory")
FLAT = tuple(p for p in ("stream_to_disk",) if p in PIPELINES)  # writes outputs as they come, where built


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilenet_v2")
    ap.add_argument("--size", type=int, default=32, help="image side in pixels (default %(default)s)")
    ap.add_argument("--measure", default="1000,2000,4000", help="dataset sizes measured (default %(default)s)")
    ap.add_argument("--batches", default="32,64", help="batch sizes measured; the first is predicted (default %(default)s)")
    ap.add_argument("--pipelines", default=",".join(ACCUMULATING + FLAT))
    ap.add_argument("--out", default=None, help="results folder (default: a temporary one)")
    args = ap.parse_args()

    measure = sorted(parse_int_list(args.measure, "measure"))
    batches = parse_int_list(args.batches, "batches")
    targets = (4 * measure[-1], 16 * measure[-1])
    pipelines = tuple(p.strip() for p in args.pipelines.split(","))
    root = Path(args.out or tempfile.mkdtemp(prefix="bench-n-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    data_path = root / "images.npy"
    rng = np.random.default_rng(0)
    np.save(data_path, rng.integers(0, 256, size=(targets[-1], args.size, args.size, 3), dtype=np.uint8))

    model = wb.ModelSpec(args.model, image_size=args.size)
    data = wb.DataSpec("npy", path=str(data_path))
    timing = TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=0.0, min_passes=1, drift_samples=0)
    batch = batches[-1]
    sample = wb.SweepConfig(model=model, data=data, pipelines=pipelines, batch_sizes=batches, images=measure,
                            timing=timing)
    job = wb.SweepConfig(model=model, data=data, pipelines=pipelines, batch_sizes=(batch,), images=targets,
                         timing=timing)
    print(f"{args.model} at {args.size} px, batch {batch}: measured at {', '.join(f'{n:,}' for n in measure)} "
          f"images (batches {', '.join(map(str, batches))}), predicted at {targets[0]:,} (4x) and {targets[1]:,} (16x)")
    t0 = time.monotonic()
    wb.run_sweep(sample, root / "sample")
    wb.run_sweep(job, root / "job")
    measured_df, job_df = wb.load_results(root / "sample"), wb.load_results(root / "job")
    fits = fit_memory_model(measured_df).set_index("pipeline")

    print(f"\n{'pipeline':10s} {'per image of N':>14s} {'images':>8s} {'predicted':>10s} {'measured':>10s} "
          f"{'growth':>8s} {'error/growth':>12s} {'error/peak':>10s}")
    for pipeline in pipelines:
        per_n = fits.loc[pipeline, "per_dataset_image_bytes"] if pipeline in fits.index else float("nan")
        for n in targets:
            rows = job_df[(job_df["pipeline"] == pipeline) & (job_df["images"] == n)]
            if rows.empty or rows.iloc[0]["status"] != "ok":
                status = "missing" if rows.empty else f"{rows.iloc[0]['status']}: {rows.iloc[0]['error']}"
                print(f"{pipeline:10s} {n:>23,} trial {status}")
                continue
            real = rows.iloc[0]
            predicted = wb.predict_peak(measured_df, pipeline=pipeline, precision="float32", batch_size=batch,
                                        images=n)
            peak = budget_peak(real)
            growth = peak - real["host_baseline_bytes"]
            print(f"{pipeline:10s} {per_n / 1000:11.1f} kB {n:>8,} {predicted / MIB:7.0f} MiB {peak / MIB:7.0f} MiB "
                  f"{growth / MIB:5.0f} MiB {(predicted - peak) / growth * 100:+11.1f} % "
                  f"{(predicted - peak) / peak * 100:+9.1f} %")
    for pipeline in (p for p in pipelines if p in FLAT):
        first = measured_df[(measured_df["pipeline"] == pipeline) & (measured_df["images"] == measure[0])
                            & (measured_df["batch_size"] == batch)]
        last = job_df[(job_df["pipeline"] == pipeline) & (job_df["images"] == targets[-1])]
        if len(first) and len(last):
            above = [budget_peak(r.iloc[0]) - r.iloc[0]["host_baseline_bytes"] for r in (first, last)]
            print(f"{pipeline}: peak above baseline {above[0] / MIB:.1f} MiB at {measure[0]:,} images, "
                  f"{above[1] / MIB:.1f} MiB at {targets[-1]:,}: grew {(above[1] - above[0]) / MIB:+.1f} MiB")
    print(f"\n{time.monotonic() - t0:.0f} s; results in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
