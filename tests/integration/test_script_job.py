"""``workbench script``: the written job runs on its own (its own python, no workbench needed),
its outputs are ``model.predict``'s, and its peak memory is the one the workbench measured.

Everything lives in a folder whose name holds quotes and a newline, so a path that would break
out of a string literal in the script is exercised end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, SweepConfig, TimingSpec
from workbench.engine.runner import run_sweep
from workbench.results import Status

from ..helpers import run_probe, write_npy

pytestmark = pytest.mark.slow
MIB = 2**20
N = 2000
# Runs the job as a user would, and reports the job process's own peak resident memory.
# Bytes, not text: text mode would turn the progress line's carriage returns into newlines.
WRAP = ("import json, resource, subprocess, sys\n"
        "p = subprocess.run([sys.executable, sys.argv[1]], capture_output=True)\n"
        "print(json.dumps({'rc': p.returncode, 'out': p.stdout.decode(), 'err': p.stderr.decode(),\n"
        "                  'peak_bytes': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}))")


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("job") / "my \"best\" model's\nfolder"
    workdir.mkdir()
    run_probe("probe_save_models", workdir)
    write_npy(workdir / "x.npy", N, size=24)
    run_probe("probe_predict_reference", workdir)
    return workdir


def _write(user, pipeline: str, precision: str = "float32", results: str | None = None, tag: str = "") -> tuple:
    job, out = user / f"job_{pipeline}{tag}.py", user / f"out_{pipeline}{tag}.npy"
    argv = ["script", "--model", str(user / "user.keras"), "--data", str(user / "x.npy"), "--pipeline", pipeline,
            "--precision", precision, "--batch-size", "64", "--output", str(out), "-o", str(job)]
    assert main(argv + (["--results", results] if results else [])) == 0
    return job, out


def _run(job) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the job needs no workbench
    proc = subprocess.run([sys.executable, "-c", WRAP, str(job)], capture_output=True, text=True, env=env,
                          cwd=job.parent.parent, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def measured(user):
    run = user / "run"
    sweep = SweepConfig(model=ModelSpec(str(user / "user.keras")), data=DataSpec(kind="npy", path=str(user / "x.npy")),
                        pipelines=("stream_to_disk",), batch_sizes=(64,),
                        timing=TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0.0, min_passes=1, drift_samples=0))
    (result,) = run_sweep(sweep, run)
    assert result.status is Status.OK, f"{result.error}\n{result.stderr_tail}"
    return run, result


def test_the_job_writes_model_predict_outputs_and_peaks_where_the_workbench_measured(user, measured):
    run, trial = measured
    job, out = _write(user, "stream_to_disk", results=str(run))
    header = [line for line in job.read_text().splitlines()[:8] if line.startswith("#")]
    assert any(f"at {N:,} images" in line for line in header), header  # the measured peak, for this N
    done = _run(job)
    assert done["rc"] == 0, done["err"][-2000:]
    assert done["out"].rstrip().endswith(f"predicted {N} images -> {out}")
    assert done["out"].replace(str(out), "").count("\n") == 1  # one progress line, rewritten in place
    outputs, reference = np.load(out), np.load(user / "reference.npy")
    assert outputs.shape == reference.shape == (N, 5)
    assert np.allclose(outputs, reference, atol=1e-6)
    # the whole job process against the whole trial process (load phase included)
    workbench_peak = max(trial.host_load_peak_bytes, trial.host_peak_all_bytes)
    assert abs(done["peak_bytes"] - workbench_peak) <= 0.15 * workbench_peak, (
        f"job peak {done['peak_bytes'] / MIB:.0f} MiB, workbench trial peak {workbench_peak / MIB:.0f} MiB")


def test_in_memory_job_matches_too(user):
    job, out = _write(user, "in_memory")
    done = _run(job)
    assert done["rc"] == 0, done["err"][-2000:]
    assert np.allclose(np.load(out), np.load(user / "reference.npy"), atol=1e-6)


def test_a_lower_precision_really_applies_to_the_loaded_model(user):
    # set_global_policy + load_model alone would run float32 and match the reference exactly
    job, out = _write(user, "stream_to_disk", precision="mixed_bfloat16", tag="_bf16")
    done = _run(job)
    assert done["rc"] == 0, done["err"][-2000:]
    drift = np.abs(np.load(out).astype(np.float64) - np.load(user / "reference.npy")).max()
    assert 0 < drift < 0.05, drift


def test_bad_input_is_one_line_and_exit_code_2(user, tmp_path):
    data = tmp_path / "gone.npy"
    write_npy(data, 10, size=24)
    job = tmp_path / "job.py"
    assert main(["script", "--model", str(user / "user.keras"), "--data", str(data), "--batch-size", "4",
                 "--output", str(tmp_path / "o.npy"), "-o", str(job)]) == 0
    data.unlink()
    done = _run(job)
    assert done["rc"] == 2 and done["out"] == ""
    assert done["err"].strip() == f"job.py: error: data {str(data)!r} does not exist"
    np.save(data, np.zeros((10, 24), dtype=np.float32))  # the wrong shape
    done = _run(job)
    assert done["rc"] == 2 and len(done["err"].strip().splitlines()) == 1
    assert "expected numbers shaped (N, H, W, C)" in done["err"]
