"""`workbench compare`: several folders in one DataFrame, their differences named, one page."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from workbench.analysis.compare import compare_frames, load_comparison
from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, SweepConfig, TimingSpec
from workbench.errors import ConfigError
from workbench.render.compare_report import build_compare_report
from workbench.results import ResultStore, Status, TrialResult, load_results

MIB = 2**20
HOSTILE = "<img src=x onerror=alert(1)>"


def env(host: str, cpu: str = "test CPU") -> dict:
    return {"hostname": host, "platform": "Linux", "python": "3.11", "tensorflow": "2.21.0", "keras": "3.15.1",
            "cpu_model": cpu, "cpu_count": 2, "ram_total_bytes": 8 * 2**30, "gpus": [], "gpu_name": None}


def write_run(out: Path, host: str, speed: float, *, batches=(1, 16, 64), min_duration: float = 1.0,
              model: str = "tiny") -> Path:
    """A results folder as a sweep on machine ``host`` leaves it: ok trials, one OOM at 256."""
    store = ResultStore(out)
    sweep = SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=64), batch_sizes=batches,
                        timing=TimingSpec(min_duration_s=min_duration)).to_dict()
    store.ensure_header(sweep, env=env(host, cpu=f"{host} CPU"))
    for batch in batches:
        r = TrialResult(key=f"k{batch}", model=model, dataset="synthetic:64", pipeline="in_memory",
                        precision="float32", batch_size=batch)
        r.throughput_ips = speed * batch
        r.host_peak_bytes = float((600 + batch) * MIB)
        store.append(r)
    store.append(TrialResult(key="k256", model=model, dataset="synthetic:64", pipeline="in_memory",
                             precision="float32", batch_size=256, status=Status.OOM, error="killed"))
    return out


def test_two_machines_line_up_per_setting(tmp_path):
    a = write_run(tmp_path / "laptop", "laptop", speed=10.0)
    b = write_run(tmp_path / "server", "server", speed=30.0, batches=(1, 16, 64, 128))
    cmp = load_comparison([a, b])
    assert [r.label for r in cmp.runs] == ["laptop (laptop)", "server (server)"]
    # every trial, each with its run and the machine it was measured on
    assert len(cmp.df) == 4 + 5
    assert cmp.df.groupby("run")["machine"].nunique().tolist() == [1, 1]
    assert cmp.df["machine"].nunique() == 2 and cmp.runs[0].machines[0].startswith("laptop-")
    # settings both measured ok: batch 1, 16, 64 (not 128: only one run; not 256: failed)
    assert cmp.common["batch_size"].tolist() == [1, 16, 64]
    assert cmp.common["throughput_ips:laptop (laptop)"].tolist() == [10.0, 160.0, 640.0]
    assert cmp.common["throughput_ips:server (server)"].tolist() == [30.0, 480.0, 1920.0]
    assert cmp.common["host_peak_bytes:server (server)"].tolist() == [601 * MIB, 616 * MIB, 664 * MIB]
    # the sweeps differ in their batch sizes: said, with each run's value
    assert cmp.differences == ["batch_sizes: 1, 16, 64 in laptop (laptop), 1, 16, 64, 128 in server (server)"]


def test_settings_that_differ_are_named(tmp_path):
    a = write_run(tmp_path / "a", "h1", 10.0, min_duration=1.0)
    b = write_run(tmp_path / "b", "h2", 12.0, min_duration=3.0)
    cmp = load_comparison([a, b])
    assert cmp.differences == ["timing.min_duration_s: 1.0 in a (h1), 3.0 in b (h2)"]


def test_runs_with_nothing_in_common_are_refused(tmp_path):
    a = write_run(tmp_path / "a", "h1", 10.0, batches=(1, 2))
    b = write_run(tmp_path / "b", "h2", 10.0, batches=(8, 16))
    with pytest.raises(ConfigError, match=r"share no setting .*batch_sizes: 1, 2 in a \(h1\), 8, 16 in b \(h2\)"):
        load_comparison([a, b])
    with pytest.raises(ConfigError, match="two or more"):
        compare_frames([("a", load_results(a))])


def test_same_folder_names_get_distinct_labels(tmp_path):
    a = write_run(tmp_path / "x" / "run", "h", 10.0)
    b = write_run(tmp_path / "y" / "run", "h", 20.0)
    cmp = load_comparison([a, b])
    assert [r.label for r in cmp.runs] == ["run (h)", "run (h) #2"]
    assert not math.isnan(cmp.common["throughput_ips:run (h) #2"].iloc[0])


def test_page_shows_both_machines_offline_and_escaped(tmp_path):
    a = write_run(tmp_path / "a", "laptop", 10.0, model=HOSTILE)
    b = write_run(tmp_path / "b", HOSTILE, 30.0, model=HOSTILE)
    html = build_compare_report(load_comparison([a, b]), title="mine <b>")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<title>mine &lt;b&gt;</title>" in html
    assert html.count('src="data:image/png;base64,') == 2
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    # the machines side by side, the differing hostname row marked
    assert re.search(r'<tr class="differs"><th>hostname</th><td>laptop</td><td>&lt;img', html)
    # the common settings table reads like every other table: 640.0 img/s at batch 64 for a
    assert "throughput img/s: a (laptop)" in html and "<td class=\"num\">640.0</td>" in html
    # every trial, failed ones too, each with its run first
    assert re.search(r'<tr class="status-oom"><td>a \(laptop\)</td>', html)


def test_cli_writes_the_page(tmp_path, capsys):
    a = write_run(tmp_path / "a", "h1", 10.0)
    b = write_run(tmp_path / "b", "h2", 20.0, batches=(1, 16))
    out = tmp_path / "cmp.html"
    assert main(["compare", str(a), str(b), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "note: settings differ: batch_sizes: 1, 16, 64 in a (h1), 1, 16 in b (h2)" in printed
    assert f"2 setting(s) measured by every run; comparison: {out}" in printed
    assert "a (h1)" in out.read_text() and "b (h2)" in out.read_text()
    assert main(["compare", str(a)]) == 2
    assert "compare needs two or more results folders" in capsys.readouterr().err
