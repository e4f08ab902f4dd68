"""The memory anatomy probe in real processes (workbench.engine.anatomy -> trial.probes.anatomy).

Real TensorFlow on the tiny CNN at 32x32 px, one fresh process per part: building the model
raises memory by at least its parameters' bytes, its first call rises more at batch 256 than at
64 (activations grow with the batch), 4,096 decoded images are held at least once and Keras'
copies on top, and 4,096 x 1000 float32 outputs are held about twice (kept, then concatenated).
"""

from __future__ import annotations

import pytest

from workbench.analysis.anatomy import anatomy_parts, weights_bytes
from workbench.config import ModelSpec
from workbench.engine.anatomy import measure_part, measure_parts
from workbench.errors import WorkbenchError

pytestmark = pytest.mark.slow
MIB = 2**20
IMAGES, SIZE = 4096, 32
SPEC = ModelSpec("tiny", image_size=SIZE)


@pytest.fixture(scope="module")
def runs():
    return measure_parts(SPEC, images=IMAGES, batch_size=256, outputs=1000, repeat=1)


def test_each_part_rises_by_at_least_its_arithmetic(runs):
    big = next(r for r in runs if r["part"] == "model" and r["batch_size"] == 256)
    small = next(r for r in runs if r["part"] == "model" and r["batch_size"] == 64)
    assert big["params"] == sum(count for count, _ in big["weights"]) > 1000
    assert big["weights_rise_bytes"] >= weights_bytes(big["weights"]) == big["params"] * 4
    # The first conv's output alone is 32x32x8 float32 = 32 kB an image: 192 more images, > 6 MiB more.
    assert big["first_call_rise_bytes"] - small["first_call_rise_bytes"] > 192 * 32 * 1024 * 0.5
    assert big["outputs_per_image"] == 10 and big["input_per_image"] == SIZE * SIZE * 3
    data = next(r for r in runs if r["part"] == "data")
    array = IMAGES * SIZE * SIZE * 3 * 4
    assert data["nbytes"] == array and data["array_bytes"] >= 0.95 * array
    assert data["held_bytes"] >= 1.5 * array  # the array and at least part of Keras' copy
    outputs = next(r for r in runs if r["part"] == "outputs")
    assert outputs["result_bytes"] == IMAGES * 1000 * 4
    assert outputs["held_bytes"] >= 1.8 * outputs["result_bytes"]
    assert all(r["runtime_bytes"] > 200 * MIB for r in runs)  # TensorFlow's libraries are in every process


def test_the_parts_table_reads_the_real_probes(runs):
    parts = anatomy_parts(runs, batch_size=256, images=IMAGES)
    assert parts.loc["activations", "measured_bytes"] > 0
    assert parts.loc["data held", "arithmetic_bytes"] == IMAGES * SIZE * SIZE * 3 * 4
    assert parts.loc["outputs", "arithmetic_bytes"] == 2 * IMAGES * 10 * 4  # the tiny CNN's own 10 outputs


def test_a_failed_probe_is_one_line_naming_the_part():
    with pytest.raises(WorkbenchError, match=r"the anatomy probe failed \(exit code 1\)"):
        measure_part("outputs", SPEC, images=8, batch_size=4, python="/bin/false")
    with pytest.raises(WorkbenchError, match="unknown anatomy part"):
        measure_part("gradients", SPEC, images=8, batch_size=4)
