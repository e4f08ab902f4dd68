"""The memory anatomy's arithmetic (workbench.analysis.anatomy): bytes of weights, the activation
estimates from layer shapes, the slope between two batches, and the parts from probe figures."""

from __future__ import annotations

import math

import pytest

from workbench.analysis.anatomy import (
    activation_estimates,
    anatomy_parts,
    dtype_bytes,
    per_image_slope,
    weights_bytes,
)

MIB = 2**20


def test_weights_are_parameters_times_their_bytes():
    # A Dense(1000) on 1280 features in float32, and the same kernel in float16 beside its float32 bias.
    assert weights_bytes([[1280 * 1000, "float32"], [1000, "float32"]]) == 1_281_000 * 4
    assert weights_bytes([[1280 * 1000, "float16"], [1000, "<dtype: 'float32'>"]]) == 2_560_000 + 4_000
    assert dtype_bytes("bfloat16") == 2 and dtype_bytes("int8") == 1


def test_an_unknown_dtype_is_refused_by_name():
    with pytest.raises(ValueError, match="complex64"):
        dtype_bytes("complex64")


def test_activation_estimates_bracket_what_an_executor_holds():
    layers = [{"inputs": 3072, "outputs": 8192},   # conv: 32x32x3 in, 16x16x32 out
              {"inputs": 8192, "outputs": 24576},  # expand to 96 channels
              {"inputs": 24576, "outputs": 1000}]  # head
    least, most = activation_estimates(layers)
    assert least == (24576 + 8192) * 4  # the expand layer's input and output alive together
    assert most == (8192 + 24576 + 1000) * 4  # nothing ever freed
    assert activation_estimates([]) == (0, 0)


def test_the_slope_between_two_batches_is_bytes_per_image():
    assert per_image_slope(93 * MIB, 45 * MIB, 256, 64) == pytest.approx(48 * MIB / 192)
    assert math.isnan(per_image_slope(1.0, 1.0, 8, 8))


def _runs():
    layers = [{"inputs": 3072, "outputs": 8192}, {"inputs": 8192, "outputs": 1000}]
    model = {"part": "model", "params": 9_000, "weights": [[9_000, "float32"]], "layers": layers,
             "input_per_image": 3072, "outputs_per_image": 1000}
    runs = []
    for run, jitter in ((1, 0), (2, 2 * MIB)):
        runs += [
            {**model, "run": run, "batch_size": 256, "runtime_bytes": 700 * MIB + jitter,
             "weights_rise_bytes": 40 * MIB, "first_call_rise_bytes": 94 * MIB + jitter},
            {**model, "run": run, "batch_size": 64, "runtime_bytes": 700 * MIB,
             "weights_rise_bytes": 40 * MIB, "first_call_rise_bytes": 46 * MIB},
            {"part": "data", "run": run, "batch_size": 256, "runtime_bytes": 700 * MIB, "held_bytes": 150 * MIB},
            {"part": "outputs", "run": run, "batch_size": 256, "runtime_bytes": 700 * MIB, "held_bytes": 48 * MIB},
        ]
    return runs


def test_parts_from_the_probes_with_their_spread_and_arithmetic():
    parts = anatomy_parts(_runs(), batch_size=256, images=4096, creep=[10 * MIB, 14 * MIB])
    m = parts["measured_bytes"] / MIB
    # Activations: (94 - 46) MiB over 192 images, x 256 in run 1; (96 - 46) / 192 x 256 in run 2.
    assert m["activations"] == pytest.approx((64 + 200 / 3) / 2)
    # The traced function: the first call's rise less its activations (94 - 64; 96 - 66.7).
    assert m["traced function"] == pytest.approx((30 + (96 - 200 / 3)) / 2)
    assert m["runtime"] == 701 and m["weights"] == 40 and m["data held"] == 150 and m["outputs"] == 48
    assert m["creep"] == 12 and parts.loc["creep", "spread_bytes"] == 4 * MIB
    assert parts.loc["runtime", "spread_bytes"] == 2 * MIB
    a = parts["arithmetic_bytes"]
    assert a["weights"] == 36_000
    assert a["activations"] == 256 * (3072 + 8192) * 4  # the first layer's input and output together
    assert a["data held"] == 4096 * 3072 * 4
    assert a["outputs"] == 2 * 4096 * 1000 * 4
    assert math.isnan(a["runtime"]) and math.isnan(a["creep"])


def test_a_single_run_has_no_spread_and_no_creep_is_nan_not_zero():
    parts = anatomy_parts([r for r in _runs() if r["run"] == 1], batch_size=256, images=4096)
    assert math.isnan(parts.loc["weights", "spread_bytes"])
    assert math.isnan(parts.loc["creep", "measured_bytes"])
