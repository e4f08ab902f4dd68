"""The GPU half of the workbench, measured for real (run by bench/gpu_check.sh).

Meant for a GPU machine with JAX and PyTorch (CUDA) and no TensorFlow: Keras 3 runs the same
model on either backend, so the workbench's GPU figures, simulated budgets and out-of-memory
statuses get exercised on a real card. Four steps, each in real trial processes:

1. a sweep of ``mobilenet_v2`` at 224 px, batch sizes 1, 8, 64 and 512, float32 / mixed_float16 /
   mixed_bfloat16, on each backend: the allocator peak per trial beside NVML's device figure
   (no drift phase: on JAX it compiles a second model per trial, and it says nothing of memory);
2. the same model under ``--gpu-budget 2GB`` at large batches: must end ``over_budget``;
3. a batch sized from step 1's growth per image to need 1.3x the card: must end ``oom``;
4. a report per results folder, and ``summary.md`` / ``summary.json`` with the checks: the
   allocator peak grows with the batch, NVML is at or above the allocator, the budget gave
   ``over_budget`` rows, one trial ended ``oom``.

Every step has a deadline (the whole run stays under 8 minutes on an H100); a trial cut off
by one is left out, never half-recorded. Without a GPU (``--tiny``, here) the same steps run on
the CPU at 32 px and every GPU figure and check is reported *not available*, never 0.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from workbench.backends import installed  # noqa: E402
from workbench.config import (  # noqa: E402
    Budget,
    DataSpec,
    ModelSpec,
    SweepConfig,
    TimingSpec,
    format_bytes,
    parse_bytes,
)
from workbench.engine.runner import TrialEvent, run_sweep  # noqa: E402
from workbench.nvml import nvml_devices  # noqa: E402
from workbench.render.report import write_report  # noqa: E402
from workbench.results import environment, load_results  # noqa: E402

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclass(frozen=True)
class Size:
    """How big a run is: image side, dataset size, batch sizes, deadline, drift images."""

    image: int
    images: int
    batches: tuple[int, ...]
    budget_batches: tuple[int, ...]
    deadline_s: float
    drift: int


SIZES = {  # the full check on a GPU, and --tiny: the same steps at 32 px, to prove them on a CPU
    "full": Size(image=224, images=512, batches=(1, 8, 64, 512), budget_batches=(128, 512), deadline_s=450, drift=0),
    "tiny": Size(image=32, images=16, batches=(1, 16), budget_batches=(16,), deadline_s=900, drift=16),
}
# Shares of the sweep step's time: JAX compiles every (batch, precision) anew in each trial process
# (seconds on a GPU), PyTorch runs eagerly, so JAX gets twice PyTorch's slot.
WEIGHTS = {"jax": 2.0, "torch": 1.0}
SWEEP_SHARE, BUDGET_SHARE, OOM_SHARE = 0.55, 0.72, 0.94  # of the deadline, each step's end
GPU_BUDGET = "2GB"
OOM_FACTOR = 1.3  # the OOM batch needs this many times the card, by step 1's growth per image
# The first H200 run's JAX batch 6,753 "needing" 1.3x the card by the slope over 64-512 ran at 100.1 GiB:
# XLA's growth per image halved past 512. --oom-only sizes from the two largest batches measured so far
# (512 and 6,753 there), and 2x leaves room for a further fall of the slope.
OOM_ONLY_FACTOR = 2.0
NA = "not available"


def timing(**wanted: Any) -> TimingSpec:
    """A short timing (one pass once the minimum batches are reached), passing only the fields this
    workbench's TimingSpec has (a newer one may add fields whose defaults time longer)."""
    names = {f.name for f in fields(TimingSpec)}
    extra = {"min_passes": 1, "remeasure_factor": 1.0}  # the newer fields, set to no more than needed
    return TimingSpec(**{k: v for k, v in {**wanted, **extra}.items() if k in names})


class Clock:
    """Deadlines from the start of the run; a step's cancel event fires at its deadline."""

    def __init__(self, total_s: float) -> None:
        self.t0, self.total_s = time.monotonic(), total_s

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def cancel_at(self, share: float) -> threading.Event:
        event = threading.Event()
        timer = threading.Timer(max(self.total_s * share - self.elapsed(), 0.0), event.set)
        timer.daemon = True
        timer.start()
        return event


def printer(clock: Clock) -> Any:
    def progress(event: TrialEvent) -> None:
        if event.kind != "end" or event.result is None:
            return
        r = event.result
        line = (f"[{clock.elapsed():5.0f} s] {r.backend:5} {r.precision:14} batch {r.batch_size:>5}: "
                f"{r.status!s:11} allocator {fmt(r.gpu_peak_bytes)}, NVML {fmt(r.gpu_device_peak_bytes)}, "
                f"host {fmt(r.host_peak_bytes)}, {r.throughput_ips:,.0f} img/s" if math.isfinite(r.throughput_ips)
                else f"[{clock.elapsed():5.0f} s] {r.backend:5} {r.precision:14} batch {r.batch_size:>5}: "
                     f"{r.status!s:11} {(r.error or '')[:160]}")
        print(line, flush=True)
    return progress


def fmt(value: Any) -> str:
    return NA if value is None or not math.isfinite(float(value)) else format_bytes(value)


def sweep(model: ModelSpec, images: int, backend_list: tuple[str, ...], batches: tuple[int, ...],
          precisions: tuple[str, ...], budget: Budget, drift: int) -> SweepConfig:
    return SweepConfig(model=model, data=DataSpec("synthetic", count=images), batch_sizes=batches,
                       precisions=precisions, backends=backend_list, budget=budget,
                       timing=timing(warmup_batches=1, min_batches=4, min_duration_s=0.0, drift_samples=drift))


def run_step(config: SweepConfig, out: Path, clock: Clock, until: float) -> None:
    """One sweep with its deadline; says how many of its trials the deadline left out."""
    cancel = clock.cancel_at(until)
    results = run_sweep(config, out, cancel=cancel, progress=printer(clock))
    planned = len(config.batch_sizes) * len(config.precisions) * len(config.backends)
    if len(results) < planned:
        print(f"  the deadline ({until * clock.total_s:.0f} s) left out {planned - len(results)} of {planned} trials",
              flush=True)


def per_image_bytes(df: pd.DataFrame, backend: str) -> float:
    """Growth of the float32 allocator peak per image of a batch, between the two largest ok batches."""
    ok = df[(df["backend"] == backend) & (df["precision"] == "float32") & (df["status"] == "ok")]
    ok = ok.dropna(subset=["gpu_peak_bytes"]).sort_values("batch_size")
    if len(ok) < 2:
        return math.nan
    a, b = ok.iloc[-2], ok.iloc[-1]
    return (b["gpu_peak_bytes"] - a["gpu_peak_bytes"]) / (b["batch_size"] - a["batch_size"])


def oom_step(out: Path, model: ModelSpec, df: pd.DataFrame, backend_list: tuple[str, ...], clock: Clock,
             image: int, factor: float = 1.3) -> list[str]:
    """One trial per backend at a batch needing ``factor`` x the card; twice that if it still fits."""
    notes = []
    total = (nvml_devices() or [{}])[0].get("memory_total_bytes")
    ram = environment()["ram_total_bytes"]
    cancel = clock.cancel_at(OOM_SHARE)
    for backend in backend_list:
        slope = per_image_bytes(df, backend)
        if not total or not math.isfinite(slope) or slope <= 0:
            notes.append(f"{backend}: {NA} (no GPU figure to size the batch from)")
            continue
        batch = math.ceil(factor * total / slope)
        for _ in range(2):
            host_need = batch * image * image * 3 * 4 * 4  # the array, Keras' copies, the float64 draw
            if host_need > 0.6 * ram or cancel.is_set():
                notes.append(f"{backend}: batch {batch:,} skipped (needs about {format_bytes(host_need)} of host "
                             "memory, or the deadline passed)")
                break
            print(f"[{clock.elapsed():5.0f} s] {backend}: batch {batch:,} should need {format_bytes(slope * batch)} "
                  f"on a {format_bytes(total)} card", flush=True)
            results = run_sweep(sweep(model, batch, (backend,), (batch,), ("float32",), Budget(timeout_s=240), 0),
                                out, cancel=cancel, progress=printer(clock))
            if not results or str(results[-1].status) != "ok":
                break
            batch *= 2  # it fit: the growth per image was overestimated
    return notes


def check_rows(sweep_df: pd.DataFrame, budget_df: pd.DataFrame, oom_df: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(check, verdict: pass / FAIL / not available, detail) for each thing the GPU run must show."""
    out = []
    ok = sweep_df[sweep_df["status"] == "ok"]
    measured = ok.dropna(subset=["gpu_peak_bytes"])
    if measured.empty:
        out.append(("allocator peak grows with batch size", NA, "no GPU figure (no GPU)"))
    else:
        flat = [f"{b} {p}" for (b, p), part in measured.groupby(["backend", "precision"])
                if len(part) > 1 and not part.sort_values("batch_size")["gpu_peak_bytes"].is_monotonic_increasing]
        out.append(("allocator peak grows with batch size", "FAIL" if flat else "pass",
                    f"not in {', '.join(flat)}" if flat else f"{len(measured)} trials"))
    both = ok.dropna(subset=["gpu_peak_bytes", "gpu_device_peak_bytes"])
    if both.empty:
        out.append(("NVML at or above the allocator", NA, "no NVML or allocator figure (no GPU)"))
    else:
        below = both[both["gpu_device_peak_bytes"] < both["gpu_peak_bytes"]]
        out.append(("NVML at or above the allocator", "FAIL" if len(below) else "pass",
                    f"{len(below)} of {len(both)} trials below" if len(below) else f"{len(both)} trials"))
    enforced = budget_df[budget_df["gpu_budget_enforced"].astype(bool)] if len(budget_df) else budget_df
    if enforced.empty:
        out.append((f"{GPU_BUDGET} budget gives over_budget rows", NA, "the budget was not enforced (no GPU)"))
    else:
        per = {str(b): int((part["status"] == "over_budget").sum()) for b, part in enforced.groupby("backend")}
        out.append((f"{GPU_BUDGET} budget gives over_budget rows", "pass" if all(per.values()) else "FAIL",
                    ", ".join(f"{b}: {n}" for b, n in per.items())))
    out.append(oom_check(oom_df))
    return out


def oom_check(oom_df: pd.DataFrame) -> tuple[str, str, str]:
    if oom_df.empty:
        return ("a trial ended oom", NA, "no OOM trial ran (no GPU)")
    per = {str(b): int((part["status"] == "oom").sum()) for b, part in oom_df.groupby("backend")}
    return ("a trial ended oom", "pass" if any(per.values()) else "FAIL", ", ".join(f"{b}: {n}" for b, n in per.items()))


def table(df: pd.DataFrame) -> list[str]:
    cols = ["backend", "precision", "batch_size", "status", "gpu_peak_bytes", "gpu_reserved_peak_bytes",
            "gpu_device_peak_bytes", "gpu_preallocated", "host_peak_bytes", "throughput_ips"]
    lines = ["| backend | precision | batch | status | allocator peak | reserved peak | NVML device | "
             "pre-allocated | host peak | img/s |", "|" + " --- |" * 10]
    for _, r in df.sort_values(["backend", "precision", "batch_size"])[cols].iterrows():
        tput = f"{r['throughput_ips']:,.0f}" if math.isfinite(r["throughput_ips"]) else NA
        pre = NA if r["gpu_preallocated"] is None or pd.isna(r["gpu_preallocated"]) else str(bool(r["gpu_preallocated"]))
        lines.append(f"| {r['backend']} | {r['precision']} | {int(r['batch_size'])} | {r['status']} | "
                     f"{fmt(r['gpu_peak_bytes'])} | {fmt(r['gpu_reserved_peak_bytes'])} | "
                     f"{fmt(r['gpu_device_peak_bytes'])} | {pre} | {fmt(r['host_peak_bytes'])} | {tput} |")
    return lines


def load(folder: Path) -> pd.DataFrame:
    return load_results(folder) if (folder / "results.jsonl").exists() else pd.DataFrame(
        columns=["backend", "precision", "batch_size", "status", "gpu_budget_enforced"])


def oom_only(args: argparse.Namespace, out: Path, model: ModelSpec, backend_list: tuple[str, ...], clock: Clock,
             size: Size, env: dict[str, Any]) -> int:
    """Step 3 alone, sized from earlier results (a short rerun of the one check that failed)."""
    folders = [Path(f.strip()) for f in args.oom_only.split(",") if f.strip()]
    missing = [str(f) for f in folders if not (f / "results.jsonl").exists()]
    if missing:
        print(f"--oom-only: no results.jsonl in {', '.join(missing)}: give folders an earlier run wrote", file=sys.stderr)
        return 2
    measured = pd.concat([load_results(f) for f in folders], ignore_index=True)
    factor = args.oom_factor or OOM_ONLY_FACTOR
    print(f"== 3 only. a batch that needs {factor}x the card, sized from {', '.join(map(str, folders))}", flush=True)
    notes = oom_step(out / "oom", model, measured, backend_list, clock, size.image, factor)
    for note in notes:
        print(f"  {note}", flush=True)
    oom_df = load(out / "oom")
    check = oom_check(oom_df)
    summary = {"environment": {k: env.get(k) for k in ("hostname", "gpu_name", "gpu_driver", "python", "keras",
                                                       "jax", "torch", "tensorflow", "numpy")},
               "elapsed_s": round(clock.elapsed(), 1), "size": "oom-only", "sized_from": [str(f) for f in folders],
               "factor": factor, "checks": [dict(zip(("check", "verdict", "detail"), check, strict=True))],
               "oom_notes": notes, "trials": {"oom": len(oom_df)}}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    lines = [f"# GPU check, the oom step alone ({summary['elapsed_s']} s, {factor}x the card)", "",
             *(f"- {k}: {v if v is not None else NA}" for k, v in summary["environment"].items()), "",
             "| check | verdict | detail |", "| --- | --- | --- |", f"| {check[0]} | {check[1]} | {check[2]} |", "",
             "## out of memory", "", *(table(oom_df) if len(oom_df) else ["(no trials)"]), ""]
    (out / "summary.md").write_text("\n".join(lines))
    (out / "oom" / ".workbench.lock").unlink(missing_ok=True)
    print(f"{check[1]:>13}: {check[0]} ({check[2]})", flush=True)
    print(f"done in {clock.elapsed():.0f} s: {out}/summary.md", flush=True)
    return 1 if check[1] == "FAIL" else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "runs" / "gpu_check"))
    p.add_argument("--tiny", action="store_true", help="32 px and two batch sizes: proves the steps on a CPU")
    p.add_argument("--backends", default="jax,torch", help="those installed are run (default %(default)s)")
    p.add_argument("--oom-only", metavar="FOLDERS", default=None,
                   help="only step 3, its batch sized from these earlier results folders (comma-separated, e.g. "
                        "docs/gpu/sweep,docs/gpu/oom): a short rerun of the oom check")
    p.add_argument("--oom-factor", type=float, default=None,
                   help=f"times the card the oom batch should need (default {OOM_FACTOR}; {OOM_ONLY_FACTOR} with --oom-only)")
    p.add_argument("--deadline-s", type=float, default=None,
                   help="the whole run, reports included (default 450 s; 900 s with --tiny on a CPU)")
    args = p.parse_args(argv)
    size = SIZES["tiny" if args.tiny else "full"]
    out, clock = Path(args.out), Clock(args.deadline_s or size.deadline_s)
    wanted = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    backend_list = tuple(b for b in wanted if installed(b))
    env = environment()
    print(f"GPU: {env['gpu_name'] or 'none found'} (driver {env['gpu_driver'] or NA}); keras {env['keras']}, "
          f"jax {env.get('jax') or 'not installed'}, torch {env.get('torch') or 'not installed'}, "
          f"tensorflow {env['tensorflow'] or 'not installed'}", flush=True)
    for skipped in sorted(set(wanted) - set(backend_list)):
        print(f"{skipped}: not installed here, skipped", flush=True)
    if not backend_list:
        print("no backend to run", file=sys.stderr)
        return 2
    model = ModelSpec("mobilenet_v2", image_size=(size.image, size.image))
    for folder in ("sweep", "budget", "oom"):  # this script's own folders: a check starts from nothing
        if (out / folder).exists():
            print(f"replacing the previous run's {out / folder}", flush=True)
            shutil.rmtree(out / folder)

    if args.oom_only:
        return oom_only(args, out, model, backend_list, clock, size, env)
    print(f"== 1. sweep: mobilenet_v2 {size.image} px, batches {size.batches}, {', '.join(PRECISIONS)}", flush=True)
    weights = [WEIGHTS.get(b, 1.0) for b in backend_list]
    for i, backend in enumerate(backend_list):  # each backend its own slot, so one cannot starve the other
        until = SWEEP_SHARE * sum(weights[:i + 1]) / sum(weights)
        run_step(sweep(model, size.images, (backend,), size.batches, PRECISIONS, Budget(timeout_s=240),
                       size.drift),
                 out / "sweep", clock, until)
    sweep_df = load(out / "sweep")

    print(f"== 2. simulated {GPU_BUDGET} GPU: batches {size.budget_batches}, float32", flush=True)
    run_step(sweep(model, size.images, backend_list, size.budget_batches, ("float32",),
                   Budget(gpu_bytes=parse_bytes(GPU_BUDGET), timeout_s=240), 0), out / "budget", clock, BUDGET_SHARE)
    budget_df = load(out / "budget")

    print("== 3. a batch that needs more than the card", flush=True)
    notes = oom_step(out / "oom", model, sweep_df, backend_list, clock, size.image, args.oom_factor or OOM_FACTOR)
    for note in notes:
        print(f"  {note}", flush=True)
    oom_df = load(out / "oom")

    print("== 4. reports and checks", flush=True)
    for folder in ("sweep", "budget"):
        if (out / folder / "results.jsonl").exists():
            write_report(out / folder, title=f"GPU check: {folder} ({env['gpu_name'] or 'no GPU'})")
    checks = check_rows(sweep_df, budget_df, oom_df)
    summary: dict[str, Any] = {"environment": {k: env.get(k) for k in ("hostname", "gpu_name", "gpu_driver", "python", "keras",
                                                        "jax", "torch", "tensorflow", "numpy")},
               "elapsed_s": round(clock.elapsed(), 1), "size": "tiny" if args.tiny else "full",
               "checks": [{"check": c, "verdict": v, "detail": d} for c, v, d in checks], "oom_notes": notes,
               "trials": {name: len(df) for name, df in (("sweep", sweep_df), ("budget", budget_df), ("oom", oom_df))}}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    lines = [f"# GPU check ({summary['size']}, {summary['elapsed_s']} s)", "",
             *(f"- {k}: {v if v is not None else NA}" for k, v in summary["environment"].items()), "",
             "| check | verdict | detail |", "| --- | --- | --- |",
             *(f"| {c} | {v} | {d} |" for c, v, d in checks), ""]
    for name, df in (("sweep", sweep_df), ("simulated budget", budget_df), ("out of memory", oom_df)):
        lines += [f"## {name}", "", *(table(df) if len(df) else ["(no trials)"]), ""]
    (out / "summary.md").write_text("\n".join(lines))
    for folder in ("sweep", "budget", "oom"):  # the folders' lock files: empty, and not results
        (out / folder / ".workbench.lock").unlink(missing_ok=True)
    for c, v, d in checks:
        print(f"{v:>13}: {c} ({d})", flush=True)
    print(f"done in {clock.elapsed():.0f} s: {out}/summary.md, {out}/sweep/report.html", flush=True)
    return 1 if any(v == "FAIL" for _, v, _ in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
