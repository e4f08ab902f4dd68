"""Bad inputs end to end: the real CLI in its own process refuses each with exit code 2 and one
line on stderr, no traceback, no trial row. A damaged results file is read around, and two
sweeps into one folder do not both run (real processes, a real tiny model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from workbench.results import ResultStore

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--warmup-batches", "1", "--min-batches", "2", "--min-duration", "0", "--min-passes", "1", "--drift-samples", "0"]


def workbench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # WORKBENCH_CACHE: the session's (conftest)
    return subprocess.run([sys.executable, "-m", "workbench", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)


def trial_rows(out: Path) -> list[dict]:
    path = out / "results.jsonl"
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r.get("record") == "trial"]


def assert_refused(proc: subprocess.CompletedProcess, out: Path, *needles: str) -> str:
    """Exit code 2, one line on stderr naming the problem, no traceback, no trial row."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr + proc.stdout
    assert len(lines) == 1 and "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert trial_rows(out) == []
    return lines[0]


def bad_folder(tmp_path: Path) -> Path:
    root = tmp_path / "broken"
    root.mkdir()
    for i in range(12):
        (root / f"photo{i}.jpg").write_bytes(b"\xff\xd8 truncated " * 20)
    return root


def npy(tmp_path: Path, shape: tuple[int, ...]) -> Path:
    path = tmp_path / "images.npy"
    np.save(path, np.zeros(shape, dtype=np.float32))
    return path


CASES = {
    "empty npy": (lambda t: ["--data", npy(t, (0, 32, 32, 3))], ["images.npy holds no images"]),
    "5-channel npy": (lambda t: ["--data", npy(t, (4, 32, 32, 5))], ["holds 5-channel images", "save the array as"]),
    "unreadable folder": (lambda t: ["--data", bad_folder(t)], ["none of its 12 image file(s) can be decoded",
                                                               "give a folder of readable JPEG or PNG"]),
    "negative budget": (lambda t: ["--host-budget", "-1GB"], ["--host-budget: memory size '-1GB' must be positive"]),
}


@pytest.mark.parametrize("command", ["sweep", "search"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(tmp_path, command, case):
    make_args, needles = CASES[case]
    out = tmp_path / "out"
    budget = ["--host-budget", "4GB"] if command == "search" and case != "negative budget" else []  # search needs one
    proc = workbench(command, "--model", "tiny", *make_args(tmp_path), *budget, *FAST, "--out", out)
    assert_refused(proc, out, f"workbench {command}: error: ", *needles)
    assert not out.exists()  # refused before the folder was even made


def test_out_naming_a_file_is_one_line(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    proc = workbench("sweep", "--model", "tiny", "--data", "synthetic:8", *FAST, "--out", notes)
    assert_refused(proc, tmp_path, "is an existing file: give a folder (--out)")
    assert notes.read_text() == "mine"


def test_another_machines_folder_is_refused_naming_it(tmp_path):
    out = tmp_path / "out"
    ResultStore(out).ensure_header(None, env={"hostname": "elsewhere", "tensorflow": "2.0.0"})
    proc = workbench("sweep", "--model", "tiny", "--data", "synthetic:8", "--batch-sizes", "4", *FAST, "--out", out)
    assert_refused(proc, out, "was written on another machine (hostname 'elsewhere' there, ",
                   "sweep into a new folder (--out), or pass --allow-other-machine")


@pytest.mark.slow
def test_a_budget_below_the_runtime_baseline_is_refused_before_any_trial(tmp_path):
    # Measures the runtime's own baseline for real (one TensorFlow import), then caches it.
    out = tmp_path / "out"
    proc = workbench("sweep", "--model", "tiny", "--data", "synthetic:8", "--host-budget", "100MB", *FAST, "--out", out)
    line = assert_refused(proc, out, "host budget 95 MiB is below the ", " MiB the runtime needs before predicting",
                          "raise it")
    need = int(line.split("below the ")[1].split(" MiB")[0])
    assert 150 < need < 4000  # TensorFlow and Keras imported: hundreds of MiB (about 620 here)
    again = workbench("search", "--model", "tiny", "--host-budget", "100MB", *FAST, "--out", out)
    assert_refused(again, out, f"below the {need} MiB")  # from the cache: the same figure


@pytest.mark.slow
def test_sweep_and_report_read_around_damaged_lines(tmp_path):
    out = tmp_path / "out"
    args = ["sweep", "--model", "tiny", "--data", "synthetic:16", "--batch-sizes", "4", *FAST, "--out", out]
    first = workbench(*args)
    assert first.returncode == 0, first.stderr
    done = trial_rows(out)
    assert len(done) == 1
    with (out / "results.jsonl").open("a") as fh:
        fh.write(json.dumps({**done[0], "batch_size": "four", "key": "x"}) + "\n")  # a trial with a wrong type
        fh.write("[1, 2]\n")  # foreign
        fh.write('{"record": "trial", "key": "cut sh')  # cut short by a kill, no newline
    resumed = workbench(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    for line in (3, 4, 5):
        assert f"workbench: skipping line {line} of {out / 'results.jsonl'}" in resumed.stderr
    assert len(trial_rows_readable(out)) == 1  # the finished trial was reused, not run again
    report = workbench("report", out)
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr
    assert (out / "report.html").exists() and "skipping line 3" in report.stderr


def trial_rows_readable(out: Path) -> list[dict]:
    rows = []
    for line in (out / "results.jsonl").read_text().splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("record") == "trial" and obj.get("key") != "x":
            rows.append(obj)
    return rows


@pytest.mark.slow
def test_two_sweeps_into_one_folder_do_not_both_run(tmp_path):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "workbench", "sweep", "--model", "tiny", "--data", "synthetic:64",
            "--batch-sizes", "1,2,3,4,5,6", "--warmup-batches", "1", "--min-batches", "2", "--min-duration", "1",
            "--drift-samples", "0", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not (out / "results.jsonl").exists():  # the header is written once the lock is held
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        second = workbench(*args[3:])
        assert first.poll() is None, "the first sweep ended before the second tried: make it longer"
        assert_refused(second, tmp_path / "nowhere", f"results folder '{out}' is in use by another sweep or search",
                       f"(process {first.pid} on ", "wait until it ends, or give another --out")
        stdout, stderr = first.communicate(timeout=300)
        assert first.returncode == 0, stderr
    finally:
        if first.poll() is None:
            first.kill()
    rows = trial_rows(out)
    assert sorted(r["batch_size"] for r in rows) == [1, 2, 3, 4, 5, 6]  # each once: nothing duplicated
    headers = [r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines()) if r["record"] == "header"]
    assert len(headers) == 1
    third = workbench(*args[3:])  # once the first is done, the folder is free: all six resumed
    assert third.returncode == 0, third.stderr
    assert len(trial_rows(out)) == 6
