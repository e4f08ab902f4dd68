"""The results store: append-only, flushed per trial, resumable, NaN kept as missing."""

from __future__ import annotations

import json
import math
import signal

import pytest

from workbench.config import Budget, DataSpec, ModelSpec, TrialConfig
from workbench.engine.runner import _classify
from workbench.errors import WorkbenchError
from workbench.results import (
    COLUMNS,
    SCHEMA_VERSION,
    ResultStore,
    Status,
    TrialResult,
    environment,
    load_results,
)


def _trial(batch: int = 8) -> TrialConfig:
    return TrialConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=16), batch_size=batch,
                       budget=Budget(host_bytes="1GB", timeout_s=30))


def test_round_trip_keeps_missing_as_nan(tmp_path):
    store = ResultStore(tmp_path)
    store.ensure_header({"sweep": 1}, env={"hostname": "h"})
    r = TrialResult.for_trial(_trial())
    r.throughput_ips = 123.5
    store.append(r)
    line = store.path.read_text().splitlines()[-1]
    assert '"gpu_peak_bytes": null' in line  # JSON has no NaN: stored as null
    back = store.results()[0]
    assert back.throughput_ips == 123.5
    assert math.isnan(back.gpu_peak_bytes)
    assert back.status is Status.OK


def test_header_written_once_per_machine_and_sweep(tmp_path):
    store = ResultStore(tmp_path)
    env = {"hostname": "a", "tensorflow": "2.21"}
    store.ensure_header({"x": 1}, env=env)
    store.ensure_header({"x": 1}, env=env)
    assert len(store.headers()) == 1
    store.ensure_header({"x": 2}, env=env)  # another sweep, same machine: a header of its own
    assert len(store.headers()) == 2
    store.ensure_header({"x": 2}, env={**env, "hostname": "b"}, allow_other_machine=True)
    assert len(store.headers()) == 3
    assert store.headers()[0]["schema_version"] == SCHEMA_VERSION


def test_load_results_columns_and_failed_rows(tmp_path):
    store = ResultStore(tmp_path)
    store.ensure_header(None, env={"hostname": "h"})
    ok = TrialResult.for_trial(_trial(1))
    ok.throughput_ips, ok.host_peak_bytes = 50.0, 7e8
    bad = TrialResult.for_trial(_trial(64))
    bad.status, bad.error = Status.OVER_BUDGET, "killed at 1200 MiB"
    store.append(ok)
    store.append(bad)
    df = load_results(tmp_path)
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS
    assert list(df["status"]) == ["ok", "over_budget"]
    assert df.loc[1, "error"] == "killed at 1200 MiB"
    assert math.isnan(df.loc[1, "throughput_ips"])
    assert df["batch_size"].tolist() == [1, 64]
    assert df.attrs["environment"] == {"hostname": "h"}


def test_a_line_cut_short_by_a_kill_loses_only_itself(tmp_path, capsys):
    store = ResultStore(tmp_path)
    store.append(TrialResult.for_trial(_trial(1)))
    with store.path.open("a") as fh:
        fh.write('{"record": "trial", "key": "abc", "mod')  # killed mid-write
    assert len(store.results()) == 1
    assert f"skipping line 2 of {store.path}: not valid JSON" in capsys.readouterr().err


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(WorkbenchError, match="no results in"):
        load_results(tmp_path / "nothing")


def test_unknown_fields_from_a_newer_writer_are_ignored():
    d = TrialResult.for_trial(_trial()).to_dict()
    d["some_future_field"] = 1
    assert TrialResult.from_dict(d).key == d["key"]
    json.dumps(d)


def test_environment_is_read_without_tensorflow():
    import sys

    env = environment()
    assert env["python"].count(".") == 2
    assert env["cpu_count"] >= 1 and env["ram_total_bytes"] > 2**30
    assert env["tensorflow"]  # version from package metadata
    assert "tensorflow" not in sys.modules


# ---- how a trial's end is classified (the runner's parent side) ---------------------------

def _classified(code, killed_by=None, seen=0, wrote=False):
    r = TrialResult.for_trial(_trial())
    _classify(r, code, killed_by, seen, _trial(), wrote)
    return r


def test_budget_kill_is_over_budget_with_the_seen_peak():
    r = _classified(-signal.SIGKILL, "budget", seen=1_200 * 2**20)
    assert r.status is Status.OVER_BUDGET
    assert r.host_peak_bytes == 1_200 * 2**20 and r.host_peak_method == "sampled_by_parent"
    assert "over the host budget of 954 MiB" in r.error


def test_sigkill_from_elsewhere_is_oom_and_segfault_is_error():
    assert _classified(-signal.SIGKILL).status is Status.OOM
    seg = _classified(-signal.SIGSEGV)
    assert seg.status is Status.ERROR and "SIGSEGV" in seg.error
    assert _classified(3).error == "the worker exited with code 3 without writing a result"
    assert _classified(None, "timeout").status is Status.TIMEOUT


def test_worker_classification_is_kept_when_it_wrote_a_result():
    r = TrialResult.for_trial(_trial())
    r.status = Status.OOM
    _classify(r, 1, None, 0, _trial(), True)
    assert r.status is Status.OOM
