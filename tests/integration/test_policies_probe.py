"""The dtype-policy probe with real TensorFlow, run as notebook 04 runs it: through
:func:`workbench.engine.probe.run_probe`, one fresh process per measurement.

A small MobileNetV2 (32 px, random weights) keeps it to a few seconds a process; the figures
checked are the ones that do not depend on the machine (variable bytes and dtypes, compute
dtypes, outputs), plus the rises being real positive numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench import demo_assets
from workbench.config import DataSpec, ModelSpec
from workbench.engine.launcher import SpawnLauncher
from workbench.engine.prepare import prepare
from workbench.engine.probe import run_probe, run_probes
from workbench.errors import WorkbenchError

pytestmark = pytest.mark.slow

MODEL, SIZE, BATCH = "mobilenet_v2", 32, 16


def test_weights_halve_only_in_pure_float16() -> None:
    f32, mixed, f16 = run_probes("policies", [{"part": "weights", "policy": p, "model": MODEL, "image_size": SIZE}
                                              for p in ("float32", "mixed_float16", "float16")], launcher=SpawnLauncher())
    params = f32["parameters"]
    assert params > 3_000_000  # MobileNetV2's 3.5 M, whatever the input size
    assert f32["variable_bytes"] == 4 * params and f32["variable_dtypes"] == ["float32"]
    # mixed precision keeps float32 variables: the same bytes, while the layers compute in float16
    assert mixed["variable_bytes"] == 4 * params and mixed["variable_dtypes"] == ["float32"]
    assert set(mixed["compute_dtypes"]) == {"float16"}
    assert f16["variable_bytes"] == 2 * params and f16["variable_dtypes"] == ["float16"]
    assert f32["rise_bytes"] >= f32["variable_bytes"]  # the build leaves at least its variables resident
    assert f32["rise_bytes"] - f16["rise_bytes"] > 0.5 * (f32["variable_bytes"] - f16["variable_bytes"])


def test_load_model_keeps_the_saved_float32_policies(tmp_path: Path) -> None:
    prepare(ModelSpec("demo"), DataSpec.parse("demo"))  # the trained demo model, for outputs that can drift
    model = tmp_path / "f32.keras"
    act = run_probe("policies", {"part": "activations", "policy": "float32", "model": MODEL, "image_size": SIZE,
                                 "batch_size": BATCH, "save_model": str(model)}, launcher=SpawnLauncher())
    assert act["rise_bytes"] > 0 and act["output_dtype"] == "float32" and act["input_bytes"] == BATCH * SIZE**2 * 3 * 4
    assert act["largest_layer_values"] == 17 * 17 * 96  # block_1_pad: 16x16x96 padded by one row and column
    paths = demo_assets.paths()
    r = run_probe("policies", {"part": "load_model", "policy": "mixed_float16", "model_path": str(model),
                               "image_size": SIZE, "batch_size": BATCH, "drift_model_path": str(paths["model"]),
                               "drift_images_path": str(paths["images"]), "drift_images": 200}, launcher=SpawnLauncher())
    assert r["global_policy"] == "mixed_float16"
    # the seed's recipe: the global policy is mixed, yet every loaded layer computes in float32
    layers = sum(act["compute_dtypes"].values())
    assert r["loaded"]["compute_dtypes"] == {"float32": layers} and r["loaded"]["variable_dtypes"] == ["float32"]
    assert r["loaded"]["rise_bytes"] > 0
    assert r["cloned"]["compute_dtypes"] == {"float32": layers}  # clone_model keeps the stored policies too
    assert r["rebuilt"]["compute_dtypes"] == {"float16": layers - 1, "float32": 1}  # all but the output layer
    assert r["rebuilt"]["output_compute_dtypes"] == {"predictions": "float32"}  # and the one left is the output
    drift = r["drift"]
    assert drift["loaded"]["max_abs_diff"] == 0.0 and drift["cloned"]["max_abs_diff"] == 0.0
    assert set(drift["rebuilt"]["compute_dtypes"]) == {"float16", "float32"}
    assert 0.0 < drift["rebuilt"]["max_abs_diff"] < 0.05 and drift["rebuilt"]["top1_agreement"] >= 0.97


def test_a_failing_probe_is_one_error_with_its_output() -> None:
    with pytest.raises(WorkbenchError, match="unknown part 'nothing'"):
        run_probe("policies", {"part": "nothing"}, launcher=SpawnLauncher())
    with pytest.raises(WorkbenchError, match="unknown probe"):  # names come from a fixed table, never imported
        run_probe("policies; rm", {"part": "weights"})
