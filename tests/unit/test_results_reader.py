"""A results file read defensively, and folders that never mix machines (hermetic: no trials)."""

from __future__ import annotations

import json
import math

import pytest

from workbench.config import DataSpec, ModelSpec, TrialConfig
from workbench.errors import WorkbenchError
from workbench.records import RecordError, machine_id
from workbench.results import ResultStore, TrialResult, load_results


def env(host: str = "box", **changes) -> dict:
    return {"hostname": host, "cpu_model": "test CPU", "gpu_name": None, "tensorflow": "2.21.0",
            "keras": "3.15.1", **changes}


def trial(batch: int = 8, ips: float = 100.0) -> TrialResult:
    r = TrialResult.for_trial(TrialConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=16),
                                          batch_size=batch))
    r.throughput_ips = ips
    return r


def good_line(batch: int = 8) -> dict:
    return {"record": "trial", "schema_version": 1, **trial(batch).to_dict()}


BAD_LINES = {
    "not JSON": ('{"record": "trial", "key": "ab', "not valid JSON"),
    "a list": ("[1, 2, 3]", "a JSON list, not a record"),
    "a number": ("42", "a JSON int, not a record"),
    "foreign": ('{"event": "start", "ts": 3}', "not a workbench record (record=None)"),
    "missing key": (json.dumps({k: v for k, v in good_line().items() if k != "key"}), "field 'key' is missing"),
    "batch as text": (json.dumps({**good_line(), "batch_size": "eight"}), "field 'batch_size' is 'eight', not a whole number"),
    "bool number": (json.dumps({**good_line(), "throughput_ips": True}), "field 'throughput_ips' is bool, not a number"),
    "huge float": (json.dumps(good_line())[:-1] + ', "host_peak_bytes": 1e999}', "not a finite number"),
    "huge int": (json.dumps({**good_line(), "host_peak_bytes": 10**400}), "not a number a float can hold"),
    "5000 digits": ('{"record": "trial", "batch_size": ' + "9" * 5000 + "}", "not valid JSON"),
    "nested": ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    "bad status": (json.dumps({**good_line(), "status": "exploded"}), "'exploded' is not a valid Status"),
    "model a dict": (json.dumps({**good_line(), "model": {"a": 1}}), "field 'model' is dict, not text"),
    "header env text": ('{"record": "header", "environment": "box"}', "environment is not an object"),
}


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_a_bad_line_is_skipped_with_a_warning_and_nothing_else_is_lost(tmp_path, capsys, name):
    line, reason = BAD_LINES[name]
    store = ResultStore(tmp_path)
    store.ensure_header({"s": 1}, env=env())
    store.append(trial(1, 10.0))
    with store.path.open("a") as fh:
        fh.write(line + "\n")
    store.append(trial(2, 20.0))
    assert [r.batch_size for r in store.results()] == [1, 2]
    err = capsys.readouterr().err
    assert f"workbench: skipping line 3 of {store.path}: " in err and reason in err, err
    assert err.count("\n") == 1  # one line, however often the file is read
    df = load_results(tmp_path)
    assert df["throughput_ips"].tolist() == [10.0, 20.0]
    assert [n for n, _ in df.attrs["skipped_lines"]] == [3]


def test_a_line_cut_short_does_not_swallow_the_next_append(tmp_path):
    store = ResultStore(tmp_path)
    store.append(trial(1))
    with store.path.open("a") as fh:
        fh.write('{"record": "trial", "key": "cut')  # killed mid-write: no newline
    store.append(trial(2))
    assert [r.batch_size for r in store.results()] == [1, 2]
    assert store.skipped == [(2, "not valid JSON (a line cut short by a kill, or edited)")]


def test_bytes_that_are_not_utf8_spoil_only_their_line(tmp_path):
    store = ResultStore(tmp_path)
    store.append(trial(1))
    with store.path.open("ab") as fh:
        fh.write(b'{"record": "trial", "model": "\xff\xfe"}\n')
    store.append(trial(2))
    assert [r.batch_size for r in store.results()] == [1, 2]
    assert "field 'key' is missing" in store.skipped[0][1]


def test_from_dict_checks_types_and_keeps_what_older_writers_wrote():
    d = trial(4).to_dict()
    back = TrialResult.from_dict({**d, "host_peak_bytes": "123456", "images": 16.0, "future_field": [1]})
    assert back.host_peak_bytes == 123456.0 and back.images == 16 and back.batch_size == 4
    assert math.isnan(back.gpu_peak_bytes)  # null read back as missing
    for bad in ({**d, "skipped_files": "a.png"}, {**d, "gpu_budget_enforced": "yes"}, {**d, "config": []}, []):
        with pytest.raises(RecordError):
            TrialResult.from_dict(bad)


# ---- machines ------------------------------------------------------------------------------

def test_resuming_on_another_machine_is_refused_naming_the_difference(tmp_path):
    ResultStore(tmp_path).ensure_header({"s": 1}, env=env("laptop"))
    with pytest.raises(WorkbenchError) as info:
        ResultStore(tmp_path).ensure_header({"s": 1}, env=env("server", tensorflow="2.20.0"))
    message = str(info.value)
    assert "\n" not in message
    assert "hostname 'laptop' there, 'server' here" in message and "TensorFlow '2.21.0' there, '2.20.0' here" in message
    assert "new folder (--out)" in message and "--allow-other-machine" in message
    assert len(ResultStore(tmp_path).headers()) == 1  # nothing written


@pytest.mark.parametrize("change", [{"cpu_model": "other CPU"}, {"gpu_name": "H100"}, {"keras": "3.16.0"}])
def test_cpu_gpu_and_keras_count_as_the_machine(tmp_path, change):
    ResultStore(tmp_path).ensure_header(None, env=env())
    with pytest.raises(WorkbenchError, match="was written on another machine"):
        ResultStore(tmp_path).ensure_header(None, env=env(**change))
    ResultStore(tmp_path).ensure_header(None, env=env(platform="another kernel"))  # not checked


def test_allowed_other_machine_keeps_trials_apart(tmp_path):
    # An older file: its trials carry no machine id; they belong to the header above them.
    laptop = ResultStore(tmp_path)
    laptop.ensure_header({"s": 1}, env=env("laptop"))
    old = good_line(8)
    old.pop("machine")
    with laptop.path.open("a") as fh:
        fh.write(json.dumps(old) + "\n")
    server = ResultStore(tmp_path)
    server.ensure_header({"s": 1}, env=env("server"), allow_other_machine=True)
    assert server.results(machine=server.machine) == []  # the laptop's trial is not done here
    server.append(trial(8, 999.0))
    df = load_results(tmp_path)
    assert df["machine"].tolist() == [machine_id(env("laptop")), machine_id(env("server"))]
    assert df["machine"].str.startswith(("laptop-", "server-")).all()
    assert sorted(df.attrs["machines"]) == sorted(df["machine"])
    assert [r.throughput_ips for r in server.results(machine=server.machine)] == [999.0]
    # the laptop resuming without the flag is refused too: the folder now mixes machines
    with pytest.raises(WorkbenchError, match="'server' there, 'laptop' here"):
        ResultStore(tmp_path).ensure_header({"s": 1}, env=env("laptop"))
