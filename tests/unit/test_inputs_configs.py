"""Parent-side input handling without TensorFlow: dtype-policy rewriting of saved configs,
safe-mode scanning of .keras/.h5 files, planning checks, preparation and the demo cache."""

from __future__ import annotations

import json
import sys
import zipfile

import h5py
import pytest

from workbench import demo_assets
from workbench.config import DataSpec, ModelSpec
from workbench.engine.preflight import check_model_spec, read_model_config, unsafe_layers
from workbench.engine.prepare import check_data_spec, prepare
from workbench.errors import ConfigError
from workbench.trial.precision import output_layer_names, set_layer_policies


def _layer(cls: str, name: str, dtype="float32", **config) -> dict:
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}
    return {"class_name": cls, "config": {"name": name, "dtype": policy, **config}, "name": name}


def _functional() -> dict:
    nested = {"class_name": "Sequential", "config": {"name": "block", "dtype": "float32", "layers": [
        _layer("Conv2D", "inner_conv"), _layer("BatchNormalization", "inner_bn")]}}
    return {
        "name": "m",
        "layers": [
            {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [None, 8, 8, 3], "dtype": "float32"}},
            _layer("Conv2D", "conv"), nested, _layer("Embedding", "ids", dtype="int32"),
            _layer("Dense", "head"),
        ],
        "input_layers": [["in", 0, 0]],
        "output_layers": [["head", 0, 0]],
    }


def _policies(config: dict) -> dict[str, object]:
    out = {}
    for layer in config["layers"]:
        cfg = layer["config"]
        out[cfg["name"]] = cfg.get("dtype")
        for inner in cfg.get("layers", []):
            out[inner["config"]["name"]] = inner["config"]["dtype"]
    return out


def test_set_layer_policies_rewrites_float32_layers_but_not_inputs_outputs_or_ints():
    config = _functional()
    changed = set_layer_policies(config, "mixed_float16", keep_float32=output_layer_names(config))
    p = _policies(config)
    assert changed == 3  # conv and the two nested layers
    assert p["conv"] == p["inner_conv"] == p["inner_bn"] == "mixed_float16"
    assert p["in"] == "float32"  # an input keeps its input dtype
    assert p["head"]["config"]["name"] == "float32"  # outputs stay float32
    assert p["ids"]["config"]["name"] == "int32"  # a deliberate non-float policy is left alone


def test_output_layer_names_of_functional_single_output_and_sequential():
    assert output_layer_names(_functional()) == {"head"}
    assert output_layer_names({"output_layers": ["head", 0, 0]}) == {"head"}
    assert output_layer_names({"layers": [_layer("Conv2D", "a"), _layer("Dense", "last")]}) == {"last"}


KERAS3_LAMBDA = {"class_name": "Lambda", "config": {"name": "double", "function": {
    "class_name": "__lambda__", "config": {"code": "4wEAAAA", "defaults": None, "closure": None}}}}
KERAS2_LAMBDA = {"class_name": "Lambda", "config": {"name": "old_double", "function": ["4wEAAAA", None, None],
                                                    "function_type": "lambda"}}


def test_unsafe_layers_finds_keras3_and_keras2_lambdas_anywhere():
    config = _functional()
    config["layers"].append(KERAS3_LAMBDA)
    config["layers"][2]["config"]["layers"].append(KERAS2_LAMBDA)
    assert unsafe_layers(config) == ["double", "old_double"]
    assert unsafe_layers(_functional()) == []


def _keras_file(path, config: dict):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Functional", "config": config}))
    return path


def test_keras_file_with_a_lambda_is_refused_before_any_trial(tmp_path):
    config = _functional()
    config["layers"].append(KERAS3_LAMBDA)
    path = _keras_file(tmp_path / "lam.keras", config)
    with pytest.raises(ConfigError, match="Lambda layer.*double.*--allow-unsafe"):
        check_model_spec(ModelSpec(str(path)))
    check_model_spec(ModelSpec(str(path), allow_unsafe=True))
    check_model_spec(ModelSpec(str(_keras_file(tmp_path / "ok.keras", _functional()))))


def test_h5_file_config_is_read_and_weights_only_files_refused(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as fh:
        fh.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": [KERAS2_LAMBDA]}})
    assert unsafe_layers(read_model_config(tmp_path / "m.h5")) == ["old_double"]
    with h5py.File(tmp_path / "w.h5", "w") as fh:
        fh.create_dataset("kernel", data=[1.0, 2.0])
    with pytest.raises(ConfigError, match="weights only"):
        check_model_spec(ModelSpec(str(tmp_path / "w.h5")))


def test_prepare_needs_nothing_for_synthetic_data_and_checks_npy_headers(tmp_path):
    assert prepare(ModelSpec("tiny"), DataSpec("synthetic", count=4)) is None
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ConfigError, match="bad.npy"):
        check_data_spec(DataSpec(kind="npy", path=str(bad)))
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="no .jpg"):
        check_data_spec(DataSpec(kind="folder", path=str(tmp_path / "photos")))


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "c"))
    assert demo_assets.cache_dir() == tmp_path / "c" / f"demo-v{demo_assets.VERSION}"
    monkeypatch.delenv("WORKBENCH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert demo_assets.cache_dir().parent == tmp_path / "xdg" / "workbench"


def test_demo_data_builds_without_tensorflow(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    assert not demo_assets.data_ready() and not demo_assets.model_ready()
    x, y = demo_assets.load_data()
    assert x.shape == (1797, 32, 32, 3) and x.dtype.name == "uint8" and y.shape == (1797,)
    assert demo_assets.data_ready() and "tensorflow" not in sys.modules
