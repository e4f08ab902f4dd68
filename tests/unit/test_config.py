"""Config validation: every bad input is rejected with a message naming the problem and fix."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from workbench.analysis import max_batch_for_budget, recommend
from workbench.config import (
    Budget,
    DataSpec,
    ModelSpec,
    SweepConfig,
    TimingSpec,
    TrialConfig,
    format_bytes,
    parse_bytes,
    parse_image_size,
)
from workbench.engine.search import search_batch
from workbench.errors import ConfigError
from workbench.parsing import check_margin
from workbench.plan import expand
from workbench.results import COLUMNS


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.5GB", 1_500_000_000), ("512MiB", 512 * 2**20), ("2G", 2 * 10**9), ("8GiB", 8 * 2**30),
     ("100", 100), ("64 kb", 64_000), (4096, 4096)],
)
def test_parse_bytes_units(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "1.5XB", "-1GB", "0", "two gigs", True])
def test_parse_bytes_rejects_malformed(text):
    with pytest.raises(ConfigError, match="memory size"):
        parse_bytes(text)


def test_format_bytes_binary_units_and_missing():
    assert format_bytes(1536 * 2**20) == "1.50 GiB"
    assert format_bytes(512) == "512 B"
    assert format_bytes(float("nan")) == "n/a"
    assert format_bytes(None) == "n/a"


def test_image_size_forms():
    assert parse_image_size(96) == (96, 96)
    assert parse_image_size("96x128") == (96, 128)
    assert parse_image_size([64, 48]) == (64, 48)
    for bad in ("96y", "x96", "4", "99999"):
        with pytest.raises(ConfigError, match="image size"):
            parse_image_size(bad)


def test_model_names_and_unknown_model():
    assert ModelSpec("MobileNet_V2").kind == "application"
    assert ModelSpec("tiny").kind == "builtin"
    with pytest.raises(ConfigError, match=r"unknown model 'mobilenet_v9'.*mobilenet_v2"):
        ModelSpec("mobilenet_v9")
    with pytest.raises(ConfigError, match="does not exist"):
        ModelSpec("/no/such/model.keras")
    with pytest.raises(ConfigError, match="at least 32x32"):
        ModelSpec("mobilenet_v2", image_size=16)


def test_model_file_type_checked(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    with pytest.raises(ConfigError, match="unsupported type"):
        ModelSpec(str(path))
    folder = tmp_path / "not_saved_model"
    folder.mkdir()
    with pytest.raises(ConfigError, match="not a SavedModel"):
        ModelSpec(str(folder))


def test_data_parse(tmp_path):
    assert DataSpec.parse("synthetic:64") == DataSpec("synthetic", count=64)
    assert DataSpec.parse("synthetic").count == 256
    assert DataSpec.parse("demo").kind == "demo"
    assert DataSpec.parse(str(tmp_path)).kind == "folder"
    npy = tmp_path / "x.npy"
    npy.write_bytes(b"")
    assert DataSpec.parse(str(npy)).kind == "npy"
    with pytest.raises(ConfigError, match="whole number"):
        DataSpec.parse("synthetic:many")
    with pytest.raises(ConfigError, match="does not exist"):
        DataSpec.parse(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="does not exist"):
        DataSpec.parse(str(tmp_path / "missing.npy"))
    with pytest.raises(ConfigError, match="must be 1 or more"):
        DataSpec("synthetic", count=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"batch_size": 0}, "batch size 0"), ({"batch_size": -3}, "batch size -3"),
     ({"precision": "float8"}, "unknown precision 'float8'"), ({"pipeline": "magic"}, "unknown pipeline")],
)
def test_trial_config_rejects(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrialConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=8), **kwargs)


def test_sweep_axes_validated():
    with pytest.raises(ConfigError, match="unknown precision 'fp16'"):
        SweepConfig(ModelSpec("tiny"), DataSpec("synthetic"), precisions="float32,fp16")
    with pytest.raises(ConfigError, match="0 is not allowed"):
        SweepConfig(ModelSpec("tiny"), DataSpec("synthetic"), batch_sizes="8,0")
    with pytest.raises(ConfigError, match="not a whole number"):
        SweepConfig(ModelSpec("tiny"), DataSpec("synthetic"), batch_sizes="8,big")
    with pytest.raises(ConfigError, match="at least one"):
        SweepConfig(ModelSpec("tiny"), DataSpec("synthetic"), batch_sizes="")


def test_budget_and_timing_validation():
    assert Budget(host_bytes="1.5GB").host_bytes == 1_500_000_000
    with pytest.raises(ConfigError, match="timeout"):
        Budget(timeout_s=0)
    with pytest.raises(ConfigError, match="warm-up"):
        TimingSpec(warmup_batches=0)


def test_expand_is_the_cartesian_product_in_order():
    sweep = SweepConfig(ModelSpec("tiny"), DataSpec("synthetic", count=16), pipelines="in_memory,batch_loop",
                        precisions="float32,mixed_bfloat16", batch_sizes="32,1,8")
    trials = expand(sweep)
    assert len(trials) == 2 * 2 * 3
    assert [t.batch_size for t in trials[:3]] == [1, 8, 32]  # small to large within a series
    assert {(t.precision, t.pipeline) for t in trials} == {
        (p, q) for p in ("float32", "mixed_bfloat16") for q in ("in_memory", "batch_loop")}
    assert len({t.key() for t in trials}) == len(trials)


def test_stream_of_synthetic_data_rejected_at_planning():
    sweep = SweepConfig(ModelSpec("tiny"), DataSpec("synthetic"), pipelines="stream")
    with pytest.raises(ConfigError, match="stream pipeline reads images from disk"):
        expand(sweep)


def test_round_trip_and_stable_key():
    trial = TrialConfig(model=ModelSpec("tiny", image_size="48x64"), data=DataSpec("synthetic", count=8),
                        budget=Budget(host_bytes="2GB", timeout_s=30), batch_size=4)
    again = TrialConfig.from_dict(trial.to_dict())
    assert again == trial
    assert again.key() == trial.key()
    # the timeout does not change what is measured, so it does not change the identity
    longer = TrialConfig.from_dict({**trial.to_dict(), "budget": {**trial.to_dict()["budget"], "timeout_s": 99}})
    assert longer.key() == trial.key()
    assert TrialConfig.from_dict({**trial.to_dict(), "batch_size": 5}).key() != trial.key()
    # the CLI passes floats where the API may pass ints: the same setting, the same identity
    assert TimingSpec(min_duration_s=0).to_dict() == TimingSpec(min_duration_s=0.0).to_dict()
    sweep = SweepConfig(ModelSpec("tiny"), DataSpec("synthetic"), batch_sizes=(1, 2))
    assert SweepConfig.from_dict(sweep.to_dict()) == sweep
    assert not math.isnan(trial.budget.host_bytes)



@pytest.mark.parametrize("value, batch", [(0, 900), (0.1, 800), (0.5, 400)])
def test_every_margin_check_is_the_same_check(value, batch):
    assert check_margin(value) == value
    # a 1 GB budget less the margin, 100 MB fixed, 1 MB an image
    assert max_batch_for_budget(100e6, 1e6, 1e9, value) == batch


@pytest.mark.parametrize("value", [1, 1.5, -0.1, math.nan, "0.1", None])
def test_a_bad_margin_is_refused_alike_by_every_caller(value, tmp_path):
    template = TrialConfig(ModelSpec("tiny"), DataSpec("synthetic", count=8))
    calls = [lambda: check_margin(value), lambda: max_batch_for_budget(1e6, 1e3, 1e9, value),
             lambda: recommend(pd.DataFrame(columns=COLUMNS), margin=value),
             lambda: search_batch(template, tmp_path, host_budget_bytes=10**9, margin=value, probe=lambda cfg: None)]
    for call in calls:
        with pytest.raises(ConfigError, match=re.escape(f"margin {value!r} must be a fraction from 0 to below 1")):
            call()
