"""Model sources with real TensorFlow: .keras, legacy .h5, SavedModel, keras.applications by
name, the trained demo model; safe mode; precision rebuilds; input-size overrides.

The TensorFlow side runs once, in a fresh process (``probe_models``); the parent-side checks
(safe mode before any trial, the demo cache) run here without TensorFlow.
"""

from __future__ import annotations

import json
import sys

import pytest

from workbench import demo_assets
from workbench.config import DataSpec, ModelSpec, SweepConfig, TrialConfig
from workbench.engine.preflight import check_model_spec
from workbench.engine.prepare import prepare
from workbench.engine.runner import run_sweep
from workbench.errors import ConfigError
from workbench.plan import check_applicable

from ..helpers import run_probe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_record() -> dict:
    """Prepare the demo model, starting from a corrupt cache: prepare must notice and rebuild."""
    paths = demo_assets.paths()
    paths["model"].parent.mkdir(parents=True, exist_ok=True)
    # corrupt it even when an earlier test of the session trained it already
    paths["model"].write_bytes(b"not a zip")
    if not paths["model_meta"].exists():
        paths["model_meta"].write_text(json.dumps({"version": demo_assets.VERSION, "sha256": {"model": "0" * 64}}))
    assert not demo_assets.model_ready()
    record = prepare(ModelSpec("demo"), DataSpec.parse("demo"))
    assert record is not None and demo_assets.model_ready()
    return record


@pytest.fixture(scope="module")
def report(tmp_path_factory, demo_record) -> tuple[dict, object]:
    workdir = tmp_path_factory.mktemp("models")
    return run_probe("probe_models", workdir), workdir


def test_demo_model_is_trained_quickly_and_accurately(demo_record):
    assert demo_record["heldout_accuracy"] >= 0.95, demo_record
    assert demo_record["train_s"] < 60  # "well under a minute on 2 cores", even on a busy machine
    assert demo_assets.paths()["model"].read_bytes()[:2] == b"PK"  # the corrupt file was replaced


@pytest.mark.parametrize("fname", ["user.keras", "user.h5"])
def test_model_files_load_and_rebuild_under_each_precision(report, fname):
    r, _ = report
    f32 = r[f"{fname}:float32"]
    assert f32["inner_policies"] == ["float32"] and f32["max_diff"] == 0.0 and f32["input"] == [[24, 24], 3]
    for policy in ("mixed_float16", "mixed_bfloat16"):
        entry = r[f"{fname}:{policy}"]
        assert entry["inner_policies"] == [policy], entry  # really rebuilt in mixed precision
        assert entry["output_policy"] == "float32" and entry["output_dtype"] == "float32"
        assert entry["same_weights"]
        assert 0 < entry["max_diff"] < 0.05  # lower precision changes the outputs, a little


def test_saved_model_folder_loads_as_float32_only(report):
    r, _ = report
    assert r["saved"]["input"] == [[24, 24], 3]
    assert r["saved"]["max_diff"] < 1e-5
    assert r["saved_mixed_error"]["type"] == "ConfigError" and "float32" in r["saved_mixed_error"]["message"]


def test_saved_model_with_mixed_precision_is_rejected_at_planning(report):
    _, workdir = report
    trial = TrialConfig(model=ModelSpec(str(workdir / "saved")), data=DataSpec("synthetic", count=8),
                        precision="mixed_float16")
    with pytest.raises(ConfigError, match="SavedModel"):
        check_applicable(trial)


@pytest.mark.parametrize("fname", ["lambda.keras", "lambda.h5"])
def test_safe_mode_refuses_lambda_layers_with_a_way_to_opt_in(report, fname):
    r, workdir = report
    err = r[f"{fname}:safe_error"]
    assert err["type"] == "ConfigError" and "allow-unsafe" in err["message"], err
    with pytest.raises(ConfigError, match="allow-unsafe"):  # and the parent says so first
        check_model_spec(ModelSpec(str(workdir / fname)))
    check_model_spec(ModelSpec(str(workdir / fname), allow_unsafe=True))


def test_opting_in_loads_the_lambda_model(report):
    r, _ = report
    assert r["lambda_unsafe_diff"] == 0.0


def test_a_sweep_with_an_unsafe_file_fails_before_any_trial(report, tmp_path):
    _, workdir = report
    sweep = SweepConfig(ModelSpec(str(workdir / "lambda.keras")), DataSpec("synthetic", count=8))
    with pytest.raises(ConfigError, match="Lambda"):
        run_sweep(sweep, tmp_path / "out")
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_input_size_override_where_the_model_allows(report):
    r, _ = report
    assert r["resized"]["input"] == [[40, 40], 3]
    assert r["resized"]["inner_policies"] == ["mixed_bfloat16"]
    assert r["resized"]["out_shape"] == [2, 5]
    err = r["flat_resize_error"]
    assert err["type"] == "ConfigError" and "40x40" in err["message"] and "24" in err["message"], err


def test_application_by_name_builds_under_the_policy(report):
    r, _ = report
    assert r["application:float32"]["input"] == [[32, 32], 3]
    assert r["application:float32"]["params"] > 100_000
    assert r["application:float32"]["conv_policies"] == ["float32"]
    assert r["application:mixed_bfloat16"]["conv_policies"] == ["mixed_bfloat16"]


def test_demo_model_loads_from_the_cache_in_every_precision(report):
    r, _ = report
    assert r["demo:float32"]["input"] == [[32, 32], 3]
    assert r["demo:float32"]["accuracy"] >= 0.95
    assert r["demo:mixed_float16"]["inner_policies"] == ["mixed_float16"]
    assert abs(r["demo:mixed_float16"]["accuracy"] - r["demo:float32"]["accuracy"]) < 0.02


def test_a_corrupt_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ConfigError, match="not a .keras zip"):
        check_model_spec(ModelSpec(str(bad)))


def test_the_test_process_never_imported_tensorflow():
    assert "tensorflow" not in sys.modules
