"""stream_to_disk keeps host memory flat in the number of images; its outputs are real.

Real trial processes. The growth test is the issue's setting: MobileNetV2 at 32x32 px (1000-class
outputs, 4 KB an image), batch 64, a float32 .npy of 16,000 images, 1,000 against 16,000
images. Peaks are the kernel's high-water marks above each trial's own loaded level.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from workbench.config import DataSpec, ModelSpec, TimingSpec, TrialConfig
from workbench.engine.launcher import worker_env
from workbench.engine.runner import run_trial
from workbench.results import Status

from ..helpers import run_probe, write_npy

pytestmark = pytest.mark.slow
MIB = 2**20
ONE_PASS = TimingSpec(warmup_batches=2, min_batches=1, min_duration_s=0.0, min_passes=1, drift_samples=0)


@pytest.fixture(scope="module")
def growth(tmp_path_factory):
    path = tmp_path_factory.mktemp("n") / "images.npy"
    write_npy(path, 16_000, size=32)  # 188 MiB of float32
    out = {}
    for pipeline in ("stream_to_disk", "stream"):
        for n in (1_000, 16_000):
            cfg = TrialConfig(model=ModelSpec("mobilenet_v2", image_size=32),
                              data=DataSpec(kind="npy", path=str(path), count=n),
                              pipeline=pipeline, batch_size=64, timing=ONE_PASS)
            r = run_trial(cfg)
            assert r.status is Status.OK, f"{pipeline} {n}: {r.error}\n{r.stderr_tail}"
            assert r.images == n and r.host_peak_method == "vmhwm"
            out[pipeline, n] = r.host_peak_bytes - r.host_baseline_bytes
    return out


def test_stream_to_disk_stays_flat_in_the_number_of_images(growth):
    flat = growth["stream_to_disk", 16_000] - growth["stream_to_disk", 1_000]
    stream = growth["stream", 16_000] - growth["stream", 1_000]
    figures = (f"peak above baseline, 1,000 -> 16,000 images: stream_to_disk "
               f"{growth['stream_to_disk', 1_000] / MIB:.1f} -> {growth['stream_to_disk', 16_000] / MIB:.1f} MiB, "
               f"stream {growth['stream', 1_000] / MIB:.1f} -> {growth['stream', 16_000] / MIB:.1f} MiB")
    assert flat <= 10 * MIB, figures
    # stream keeps every batch's outputs (15,000 x 4 KB = 57 MiB) and concatenates them
    assert stream >= flat + 40 * MIB, figures


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A user's saved model and 300 images, with model.predict's outputs as the reference."""
    workdir = tmp_path_factory.mktemp("user")
    run_probe("probe_save_models", workdir)
    write_npy(workdir / "x.npy", 300, size=24)
    run_probe("probe_predict_reference", workdir)
    return workdir


def _cfg(user, **kw) -> TrialConfig:
    kw.setdefault("timing", TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0.0, min_passes=1, drift_samples=32))
    return TrialConfig(model=ModelSpec(str(user / "user.keras")), data=DataSpec(kind="npy", path=str(user / "x.npy")),
                       pipeline="stream_to_disk", batch_size=64, **kw)


def test_kept_outputs_are_model_predict_in_order(user, tmp_path):
    kept = tmp_path / "outputs.npy"
    r = run_trial(_cfg(user, keep_outputs=str(kept)))
    assert r.status is Status.OK, f"{r.error}\n{r.stderr_tail}"
    assert r.timed_batches >= 2 and r.latency_p50_s > 0 and r.drift_max_abs == 0.0
    outputs, reference = np.load(kept), np.load(user / "reference.npy")
    assert outputs.shape == reference.shape == (300, 5)  # 4 full batches and a partial one of 44
    assert np.allclose(outputs, reference, atol=1e-6)


def test_the_output_file_is_gone_after_the_trial(user, tmp_path):
    # the worker itself, in a folder we keep: it writes its outputs there and must delete them
    (tmp_path / "config.json").write_text(json.dumps(_cfg(user).to_dict()))
    proc = subprocess.run([sys.executable, "-m", "workbench.trial.worker", "config.json", "result.json"],
                          cwd=tmp_path, env=worker_env(), capture_output=True, text=True, timeout=300)
    result = json.loads((tmp_path / "result.json").read_text())
    assert proc.returncode == 0 and result["status"] == "ok", proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "result.json"]
    # and the creep figures are there: a series per pass, and missing (None), never 0, when short
    assert len(result["host_rss_per_pass_bytes"]) >= 1
    if len(result["host_rss_per_pass_bytes"]) < 5:
        assert result["host_creeping"] is None
