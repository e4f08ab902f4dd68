"""Streaming must save at least the dataset's decoded size against in_memory on the same data.

Two real trials on the same ~100 MB float32 .npy file through the tiny CNN: in_memory decodes
it into one array and calls ``model.predict(x)`` (which copies it again); stream reads it batch
by batch. Host peaks are the kernel's high-water marks of each trial process.
"""

from __future__ import annotations

import pytest

from workbench.config import DataSpec, ModelSpec, TimingSpec, TrialConfig
from workbench.engine.runner import run_trial
from workbench.results import Status

from ..helpers import write_npy

pytestmark = pytest.mark.slow
MIB = 2**20
N, SIZE = 8192, 32  # 8192 x 32 x 32 x 3 float32 = 96 MiB


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    path = tmp_path_factory.mktemp("npy") / "images.npy"
    write_npy(path, N, size=SIZE)
    timing = TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0.0, min_passes=1, drift_samples=0)
    out = {}
    for pipeline in ("in_memory", "stream"):
        cfg = TrialConfig(model=ModelSpec("tiny", image_size=SIZE), data=DataSpec(kind="npy", path=str(path)),
                          pipeline=pipeline, batch_size=64, timing=timing)
        out[pipeline] = run_trial(cfg)
    return out


def test_stream_saves_at_least_the_decoded_dataset(trials):
    in_memory, stream = trials["in_memory"], trials["stream"]
    for r in (in_memory, stream):
        assert r.status is Status.OK, f"{r.error}\n{r.stderr_tail}"
        assert r.images == N and r.timed_images >= N and r.host_peak_method == "vmhwm"
    decoded = N * SIZE * SIZE * 3 * 4
    saved = in_memory.host_peak_bytes - stream.host_peak_bytes
    assert saved >= decoded, (
        f"in_memory peak {in_memory.host_peak_bytes / MIB:.0f} MiB, stream {stream.host_peak_bytes / MIB:.0f} MiB: "
        f"saved {saved / MIB:.0f} MiB, the data is {decoded / MIB:.0f} MiB"
    )


def test_stream_holds_only_a_few_batches(trials):
    stream = trials["stream"]
    # prediction added a small fraction of the dataset on top of the loaded model
    assert stream.host_peak_bytes - stream.host_baseline_bytes < 0.5 * N * SIZE * SIZE * 3 * 4
    # while in_memory held the whole array before predicting
    in_memory = trials["in_memory"]
    assert in_memory.host_baseline_bytes - stream.host_baseline_bytes > 0.9 * N * SIZE * SIZE * 3 * 4
