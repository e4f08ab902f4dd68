"""The ``calls`` probe, started through the engine's launcher like a trial: ``predict``,
``predict_on_batch`` and a compiled ``model(x, training=False)`` on the same array are not the
same call. Real TensorFlow, the built-in tiny model, 400 images of 64x64 px (18.75 MiB decoded)
at batch 64, so the last batch holds 16 images.
"""

from __future__ import annotations

import pytest

from workbench.config import DataSpec, ModelSpec
from workbench.engine.launcher import SpawnLauncher
from workbench.engine.probe import run_probe
from workbench.errors import WorkbenchError

from ..helpers import write_npy

pytestmark = pytest.mark.slow
PASSES = 4


def _spec(path, call: str) -> dict:
    return {"call": call, "model": ModelSpec("tiny", image_size=64).to_dict(),
            "data": DataSpec(kind="npy", path=str(path), count=400).to_dict(), "batch_size": 64, "passes": PASSES}


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    path = tmp_path_factory.mktemp("calls") / "images.npy"
    write_npy(path, 500, size=64)
    return path, {call: run_probe("calls", _spec(path, call)) for call in ("predict", "predict_on_batch", "compiled")}


def test_each_call_reports_its_passes(calls):
    _, results = calls
    for call, r in results.items():
        assert r["status"] == "ok" and r["call"] == call
        assert r["images"] == 400 and r["decoded_bytes"] == 400 * 64 * 64 * 3 * 4
        assert len(r["host_rss_per_pass_bytes"]) == len(r["pass_s"]) == PASSES
        assert [len(b) for b in r["batch_s"]] == [7] * PASSES  # six batches of 64, one of 16
        assert len(r["throughput_per_pass_ips"]) == PASSES - 1  # the first pass traces: not timed
        assert r["throughput_ips"] > 0 and r["host_baseline_bytes"] > 100 * 2**20
        assert r["steady_peak_bytes"] >= r["host_rss_per_pass_bytes"][-1]


def test_the_partial_last_batch_traces_again_unless_the_batch_dimension_is_open(calls):
    _, results = calls
    traces = {call: (r["traces_after_first_pass"], r["traces"]) for call, r in results.items()}
    # predict's and predict_on_batch's step: once for 64 images, again for 16, then never again;
    # the compiled call was given (None, 64, 64, 3): one trace serves both.
    assert traces == {"predict": (2, 2), "predict_on_batch": (2, 2), "compiled": (1, 1)}, traces


def test_predict_holds_a_copy_of_the_array_the_loops_do_not(calls):
    _, results = calls
    above = {call: r["steady_peak_bytes"] - r["host_baseline_bytes"] for call, r in results.items()}
    decoded = results["predict"]["decoded_bytes"]
    # predict wraps the whole array in a tf.data pipeline of its own; the loops slice it
    for loop in ("predict_on_batch", "compiled"):
        assert above["predict"] - above[loop] >= decoded, (above, decoded)


def test_a_spawned_process_gives_the_same_trace_counts(calls):
    path, _ = calls
    r = run_probe("calls", _spec(path, "predict_on_batch"), launcher=SpawnLauncher())
    assert (r["traces_after_first_pass"], r["traces"]) == (2, 2)


def test_a_failing_probe_is_one_line_naming_the_problem(calls):
    path, _ = calls
    with pytest.raises(WorkbenchError, match=r"calls probe failed \(exit code 1\): ValueError: unknown call 'eager'"):
        run_probe("calls", _spec(path, "eager"))
    with pytest.raises(WorkbenchError, match="unknown probe 'nope': choose from calls"):
        run_probe("nope", {})
