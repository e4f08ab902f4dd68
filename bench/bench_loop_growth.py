"""Why does ``batch_loop``'s host memory grow faster than a line fitted at small N? Resident
memory after every ``--every`` calls of one batch's prediction, for several ways to call it.

Each variant runs in its own fresh Python process (TensorFlow is imported only there) that
builds the model the way a trial does (:func:`workbench.trial.models.build_model`), holds
``--pool`` batches of random float32 images (reused in turn, so the input stays constant), and
calls the model ``--calls`` times on one batch, as ``batch_loop`` does. After every ``--every``
calls it records the resident size (VmRSS) and glibc's heap figures (``mallinfo2``: bytes in
use, bytes free inside the heap, bytes in separate mmapped blocks). Variants:

* ``predict``: ``model.predict(batch, batch_size=len(batch))``, outputs kept in a list (the
  pipeline as it is);
* ``predict-drop``: the same, outputs dropped (what the calls themselves leave behind);
* ``on_batch``: ``model.predict_on_batch(batch)``, outputs kept;
* ``call``: ``model(batch, training=False)``, outputs kept;
* ``predict-arena2``: ``predict`` under ``MALLOC_ARENA_MAX=2`` (fewer glibc arenas);
* ``predict-trim``: ``predict`` plus ``malloc_trim(0)`` at every record (free heap pages
  handed back to the kernel).

The summary gives, per variant, the growth of RSS per call over the first and the second half
of the calls, the outputs' own share (batch x bytes per output row), and how much free memory
the heap held. One call of batch 64 is 64 images, so 1,000 calls are a 64,000-image job.

Run: ``python bench/bench_loop_growth.py`` (MobileNetV2 at 32 px, batch 64, 400 calls, six
variants: about 5 minutes on 2 shared cores); ``--calls 1000 --every 50`` for a 64,000-image job
(the figures in docs/inputs.md, about 10 minutes); ``--calls 100 --variants predict,on_batch``
for a quick look. Memory figures do not depend on other load.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20
VARIANTS = ("predict", "predict-drop", "on_batch", "call", "predict-arena2", "predict-trim")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _heap(libc: Any) -> dict[str, int]:
    """glibc's heap figures (all arenas): in use, free inside the heap, mmapped blocks."""
    try:
        info = libc.mallinfo2()
    except AttributeError:  # glibc before 2.33
        return {}
    return {"in_use": info.uordblks, "free": info.fordblks, "mmapped": info.hblkhd, "heap": info.arena}


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    """Reset the kernel's high-water mark (VmHWM) to the current RSS, as a trial does."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def child(args: argparse.Namespace) -> None:
    """One variant in this process: print one JSON line per record."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.path.insert(0, str(ROOT))
    import keras
    import numpy as np

    from workbench.specs import ModelSpec
    from workbench.trial.models import build_model
    from workbench.trial.pipelines import to_host

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _Mallinfo2
    model = build_model(keras, ModelSpec(args.model, image_size=args.size if args.model != "tiny" else None))
    shape = model.input_shape[1:]
    pool = np.random.default_rng(0).random((args.pool * args.batch, *shape), dtype=np.float32)
    batches = [pool[i * args.batch:(i + 1) * args.batch] for i in range(args.pool)]
    variant = args.child
    if variant.startswith("predict"):
        def one(x: Any) -> Any:
            return to_host(model.predict(x, batch_size=len(x), verbose=0))
    elif variant == "on_batch":
        def one(x: Any) -> Any:
            return to_host(model.predict_on_batch(x))
    else:
        def one(x: Any) -> Any:
            return to_host(model(x, training=False))
    keep = variant != "predict-drop"
    _reset_peak()  # a trial resets its peak after loading, before the warm-up
    for b in batches[:2]:  # warm-up: tracing, as a trial's warm-up does
        one(b)
    outputs: list[Any] = []

    def record(calls: int) -> None:
        if variant == "predict-trim":
            libc.malloc_trim(0)
        row = {"calls": calls, "rss": _status("VmRSS"), "hwm": _status("VmHWM"), "outputs": sum(o.nbytes for o in outputs), **_heap(libc)}
        print(json.dumps(row), flush=True)

    record(0)
    for i in range(args.calls):
        y = one(batches[i % args.pool])
        if keep:
            outputs.append(y)
        if (i + 1) % args.every == 0:
            record(i + 1)


def run_variant(args: argparse.Namespace, variant: str) -> list[dict[str, int]]:
    env = dict(os.environ)
    if variant == "predict-arena2":
        env["MALLOC_ARENA_MAX"] = "2"
    cmd = [sys.executable, __file__, "--child", variant, "--model", args.model, "--size", str(args.size),
           "--batch", str(args.batch), "--calls", str(args.calls), "--every", str(args.every),
           "--pool", str(args.pool)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        sys.stderr.write(out.stderr[-2000:])
        raise SystemExit(f"{variant}: the child failed (exit {out.returncode})")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def summary(variant: str, rows: list[dict[str, int]]) -> str:
    """Growth per call over each half, the outputs' share, and the heap's free pool."""
    first, mid, last = rows[0], rows[len(rows) // 2], rows[-1]

    def per_call(a: dict[str, int], b: dict[str, int], key: str = "rss") -> float:
        return (b[key] - a[key]) / max(b["calls"] - a["calls"], 1) / 1000

    free = [r.get("free", 0) / MIB for r in rows]
    return (f"{variant:15s} {per_call(first, mid):8.1f} {per_call(mid, last):8.1f} "
            f"{per_call(first, last, 'outputs'):8.1f} {(last['rss'] - first['rss']) / MIB:8.1f} "
            f"{free[0]:7.1f} {free[-1]:7.1f} {last.get('mmapped', 0) / MIB:8.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model", default="mobilenet_v2")
    ap.add_argument("--size", type=int, default=32, help="image side in pixels (default %(default)s)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--calls", type=int, default=400, help="calls of one batch (default %(default)s)")
    ap.add_argument("--every", type=int, default=25, help="calls between records (default %(default)s)")
    ap.add_argument("--pool", type=int, default=8, help="distinct input batches, reused in turn")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--json", default=None, help="also write every record to this file")
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    print(f"{args.model} at {args.size} px, batch {args.batch}, {args.calls} calls "
          f"({args.calls * args.batch:,} images), a record every {args.every} calls")
    print(f"{'variant':15s} {'kB/call':>8s} {'kB/call':>8s} {'outputs':>8s} {'RSS grew':>8s} "
          f"{'free':>7s} {'free':>7s} {'mmapped':>8s}")
    print(f"{'':15s} {'1st half':>8s} {'2nd half':>8s} {'kB/call':>8s} {'MiB':>8s} "
          f"{'at 0':>7s} {'at end':>7s} {'MiB end':>8s}")
    records: dict[str, list[dict[str, int]]] = {}
    for variant in variants:
        t0 = time.monotonic()
        records[variant] = run_variant(args, variant)
        print(summary(variant, records[variant]) + f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
