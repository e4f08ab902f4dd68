"""The backend axis end to end, in real trial processes: one model on TensorFlow, JAX and (where
installed) PyTorch; JAX trials on a machine without TensorFlow; each backend's own
out-of-memory error ending a trial as ``oom``. No GPU here: every GPU figure must be NaN."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.analysis import fit_memory_model
from workbench.backends import installed
from workbench.config import DataSpec, ModelSpec, SweepConfig, TimingSpec
from workbench.engine.launcher import ForkServers
from workbench.engine.runner import run_sweep, run_trial
from workbench.results import Status, load_results

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not installed("jax"), reason="JAX is not installed: "
                                                   "pip install '.[backends]' (make install does)")]

ROOT = Path(__file__).resolve().parents[2]
TIMING = TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0.0, drift_samples=32)
BACKENDS = ("tensorflow", "jax", "torch") if installed("torch") else ("tensorflow", "jax")
# Hides TensorFlow from every process that has this folder on its PYTHONPATH, as on a GPU machine
# with JAX and PyTorch only: `import tensorflow` and find_spec("tensorflow") both fail.
NO_TF = '''import sys
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError("No module named 'tensorflow' (hidden by the test)", name=name)
        return None
sys.meta_path.insert(0, _NoTensorFlow())
'''


@pytest.fixture(scope="module")
def sweep_on_backends(tmp_path_factory):
    out = tmp_path_factory.mktemp("backends") / "runs"
    sweep = SweepConfig(model=ModelSpec("tiny", image_size=32), data=DataSpec("synthetic", count=64),
                        batch_sizes=(8, 16), precisions=("float32", "mixed_bfloat16"), backends=BACKENDS, timing=TIMING)
    launcher = ForkServers()
    try:
        run_sweep(sweep, out, launcher=launcher)
        servers = {b: s.proc.pid for b, s in launcher.servers.items() if s.proc is not None}
        maps = {b: Path(f"/proc/{pid}/maps").read_text() for b, pid in servers.items()}
    finally:
        launcher.close()
    return load_results(out), maps


def test_the_same_model_runs_on_every_backend(sweep_on_backends):
    df, _ = sweep_on_backends
    assert sorted(df["backend"].unique()) == sorted(BACKENDS)
    assert len(df) == 4 * len(BACKENDS) and (df["status"] == "ok").all(), df[["backend", "status", "error"]]
    for backend, part in df.groupby("backend"):
        assert (part["host_peak_method"] == "vmhwm").all()
        assert (part["host_peak_bytes"] > part["host_baseline_bytes"] * 0.5).all()  # measured, not 0
        assert (part["throughput_ips"] > 0).all()
        assert part["backend_version"].notna().all() and part["keras_version"].notna().all()
        # No GPU here: every GPU figure is missing, never 0.
        for column in ("gpu_peak_bytes", "gpu_peak_all_bytes", "gpu_device_peak_bytes", "gpu_reserved_peak_bytes"):
            assert part[column].isna().all(), (backend, column)
        # Drift against float32 on the same backend: 0 for float32 itself, small but real for bfloat16.
        f32, bf16 = part[part["precision"] == "float32"], part[part["precision"] == "mixed_bfloat16"]
        assert (f32["drift_max_abs"] == 0).all() and (f32["top1_agreement"] == 1).all()
        assert ((bf16["drift_max_abs"] > 0) & (bf16["drift_max_abs"] < 0.1)).all(), bf16["drift_max_abs"]
        assert bf16["top1_agreement"].between(0.5, 1).all()
    assert (df.loc[df["backend"] != "tensorflow", "tf_version"].isna()).all()  # TF not even imported there
    fits = fit_memory_model(df)
    assert sorted(fits["backend"].unique()) == sorted(BACKENDS)  # one line per backend


def test_only_the_tensorflow_fork_server_loads_tensorflow(sweep_on_backends):
    _, maps = sweep_on_backends
    assert "libtensorflow" in maps["tensorflow"]
    for backend in BACKENDS[1:]:
        assert "libtensorflow" not in maps[backend], backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backends_out_of_memory_error_ends_the_trial_as_oom(tiny_trial, backend):
    result = run_trial(tiny_trial(backend=backend, fault="raise_oom", budget={"gpu_bytes": 2 * 10**9}))
    assert result.status is Status.OOM  # no GPU: the budget was not enforced, so not over_budget
    assert result.error.startswith("GPU out of memory: ") and "injected" in result.error
    assert result.gpu_budget_enforced is False


def test_jax_trials_run_where_tensorflow_is_not_installed(tmp_path):
    hide = tmp_path / "site"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(NO_TF)
    data = tmp_path / "images.npy"
    np.save(data, np.random.default_rng(0).uniform(0, 255, (24, 40, 40, 3)).astype(np.float32))  # resized to 32
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hide), str(ROOT)]), "WORKBENCH_LAUNCHER": "spawn"}
    check = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True)
    assert check.returncode == 1 and "hidden by the test" in check.stderr

    def sweep(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "workbench", "sweep", "--model", "tiny", "--image-size", "32", "--data", str(data),
             "--batch-sizes", "8", "--warmup-batches", "1", "--min-batches", "2", "--min-duration", "0",
             "--drift-samples", "16", *args], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)

    refused = sweep("--out", str(tmp_path / "tf"))  # the default backend is TensorFlow's
    assert refused.returncode == 2 and not (tmp_path / "tf").exists()
    assert refused.stderr.strip().splitlines()[-1].startswith(
        "workbench sweep: error: the tensorflow backend needs tensorflow, which is not installed here: pip install")
    ran = sweep("--backends", "jax", "--pipelines", "in_memory,stream,stream_to_disk",
                "--precisions", "float32,mixed_bfloat16", "--out", str(tmp_path / "jax"))
    assert ran.returncode == 0, ran.stderr[-3000:]
    df = load_results(tmp_path / "jax")
    assert len(df) == 6 and (df["status"] == "ok").all(), df[["pipeline", "status", "error"]]
    assert (df["backend"] == "jax").all() and (df["images"] == 24).all()
    assert df["tf_version"].isna().all() and (df["launcher"] == "spawn").all()
    assert all(math.isfinite(v) and v > 0 for v in df["throughput_ips"])
