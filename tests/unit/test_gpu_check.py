"""bench/gpu_check.py's verdicts, on planted results: what a GPU run must show passes, what it
must not fails, and without a GPU every check is "not available" (never a pass on zeros).

The GPU rows are planted figures (no GPU exists here); the real run is bench/gpu_check.sh."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
MIB = 2**20


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def rows(backend: str, peaks: dict[int, float], nvml: float, status: str = "ok", enforced: bool = False) -> list[dict]:
    return [{"backend": backend, "precision": "float32", "batch_size": b, "status": status, "gpu_peak_bytes": p,
             "gpu_device_peak_bytes": nvml, "gpu_budget_enforced": enforced} for b, p in peaks.items()]


def test_a_gpu_run_that_shows_everything_passes(gpu_check):
    sweep = pd.DataFrame(rows("jax", {1: 100 * MIB, 64: 900 * MIB, 512: 6000 * MIB}, 60_000 * MIB)
                         + rows("torch", {1: 80 * MIB, 64: 1200 * MIB, 512: 8000 * MIB}, 9000 * MIB))
    budget = pd.DataFrame(rows("jax", {128: 1500 * MIB}, 2000 * MIB, enforced=True)
                          + rows("jax", {512: math.nan}, math.nan, "over_budget", enforced=True)
                          + rows("torch", {512: math.nan}, math.nan, "over_budget", enforced=True))
    oom = pd.DataFrame(rows("jax", {9000: math.nan}, math.nan, "oom") + rows("torch", {9000: math.nan}, math.nan, "oom"))
    verdicts = {c: v for c, v, _ in gpu_check.check_rows(sweep, budget, oom)}
    assert set(verdicts.values()) == {"pass"}, verdicts
    assert gpu_check.per_image_bytes(sweep, "torch") == pytest.approx((8000 - 1200) * MIB / 448)


def test_what_a_gpu_run_must_not_show_fails(gpu_check):
    sweep = pd.DataFrame(rows("jax", {1: 900 * MIB, 64: 500 * MIB}, 400 * MIB))  # shrinking; NVML below it
    budget = pd.DataFrame(rows("jax", {512: 1900 * MIB}, 2000 * MIB, enforced=True))  # the budget never bit
    oom = pd.DataFrame(rows("jax", {9000: 70_000 * MIB}, 75_000 * MIB))  # the huge batch fit
    verdicts = [v for _, v, _ in gpu_check.check_rows(sweep, budget, oom)]
    assert verdicts == ["FAIL"] * 4


def test_without_a_gpu_every_check_is_not_available(gpu_check):
    sweep = pd.DataFrame(rows("jax", {1: math.nan, 16: math.nan}, math.nan))
    budget = pd.DataFrame(rows("jax", {16: math.nan}, math.nan, enforced=False))
    checks = gpu_check.check_rows(sweep, budget, gpu_check.load(ROOT / "no-such-folder"))
    assert [v for _, v, _ in checks] == ["not available"] * 4
    assert math.isnan(gpu_check.per_image_bytes(sweep, "jax"))


def test_the_timing_passes_only_fields_this_workbench_has(gpu_check):
    timing = gpu_check.timing(warmup_batches=1, min_batches=4, min_duration_s=0.0, drift_samples=0)
    assert (timing.warmup_batches, timing.min_batches, timing.min_duration_s, timing.drift_samples) == (1, 4, 0.0, 0)
