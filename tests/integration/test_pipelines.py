"""The pipelines end to end, in real trial processes: a user's .keras and .h5 model on a
messy folder of images (corrupt files among them), in_memory, batch_loop, stream and stream_to_disk."""

from __future__ import annotations

import math

import pytest

from workbench.config import DataSpec, ModelSpec, SweepConfig, TimingSpec, TrialConfig
from workbench.engine.runner import run_trial
from workbench.errors import ConfigError
from workbench.plan import expand
from workbench.results import Status

from ..helpers import BAD, GOOD, messy_folder, run_probe

pytestmark = pytest.mark.slow

TIMING = TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0.0, min_passes=1, drift_samples=64)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("user")
    run_probe("probe_save_models", workdir)
    return workdir, messy_folder(workdir / "photos")


@pytest.fixture(scope="module")
def keras_results(inputs):
    workdir, photos = inputs
    out = {}
    for pipeline in ("in_memory", "batch_loop", "stream", "stream_to_disk"):
        cfg = TrialConfig(model=ModelSpec(str(workdir / "user.keras")), data=DataSpec.parse(str(photos)),
                          pipeline=pipeline, batch_size=4, timing=TIMING)
        out[pipeline] = run_trial(cfg)
    return out


@pytest.mark.parametrize("pipeline", ["in_memory", "batch_loop", "stream", "stream_to_disk"])
def test_user_keras_file_and_messy_folder_run_through_each_pipeline(keras_results, pipeline):
    r = keras_results[pipeline]
    assert r.status is Status.OK, f"{r.error}\n{r.stderr_tail}"
    assert r.images == len(GOOD) and r.image_height == r.image_width == 24
    assert r.skipped_images == len(BAD)
    assert sorted(s.split(" (")[0] for s in r.skipped_files) == sorted(BAD)
    assert r.timed_images >= len(GOOD) and r.timed_batches >= 2 and r.throughput_ips > 0
    assert r.drift_samples == len(GOOD) and 0 <= r.accuracy <= 1  # labels from the class folders


def test_the_pipelines_see_the_same_images(keras_results):
    # the same pixels reach the model whichever way they travel, so accuracy cannot differ
    accuracies = {name: r.accuracy for name, r in keras_results.items()}
    assert len(set(accuracies.values())) == 1, accuracies


def test_legacy_h5_file_streams_in_mixed_precision_with_drift(inputs):
    workdir, photos = inputs
    cfg = TrialConfig(model=ModelSpec(str(workdir / "user.h5")), data=DataSpec.parse(str(photos)),
                      pipeline="stream", precision="mixed_float16", batch_size=4, timing=TIMING)
    r = run_trial(cfg)
    assert r.status is Status.OK, f"{r.error}\n{r.stderr_tail}"
    assert r.images == len(GOOD) and r.skipped_images == len(BAD)
    assert 0 < r.drift_max_abs < 0.05  # float16 arithmetic moved the outputs, a little
    assert not math.isnan(r.top1_agreement) and 0 <= r.top1_agreement <= 1


def test_streaming_in_memory_data_is_rejected_at_planning():
    sweep = SweepConfig(ModelSpec("tiny"), DataSpec("synthetic", count=8), pipelines=("in_memory", "stream"))
    with pytest.raises(ConfigError, match="stream pipeline reads images from disk"):
        expand(sweep)
