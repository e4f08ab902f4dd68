"""The standalone HTML report: content, escaping, no external URL, the CLI."""

from __future__ import annotations

import base64
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, SweepConfig
from workbench.render.report import build_report, write_report
from workbench.results import ResultStore, Status, TrialResult, load_results

MIB = 2**20
HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def write_results(out: Path, model: str = HOSTILE) -> Path:
    """A results folder as a sweep leaves it: a header, ok trials and failed ones."""
    store = ResultStore(out)
    sweep = SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=64),
                        precisions=("float32", "mixed_bfloat16"), batch_sizes=(1, 16, 64, 256)).to_dict()
    sweep["model"]["name"] = model  # as if the user had named a model file like this
    env = {"hostname": "box", "platform": "Linux", "python": "3.11", "tensorflow": "2.21.0", "keras": "3.15.1",
           "cpu_model": "test CPU", "cpu_count": 2, "ram_total_bytes": 8 * 2**30, "gpus": [], "gpu_name": None}
    store.ensure_header(sweep, env=env)
    for precision, speed in (("float32", 1.0), ("mixed_bfloat16", 1.6)):
        for batch, peak in ((1, 600), (16, 640), (64, 760)):
            r = TrialResult(key=f"{precision}{batch}", model=model, dataset="synthetic:64", pipeline="in_memory",
                            precision=precision, batch_size=batch)
            r.throughput_ips = 10.0 * batch**0.5 * speed
            r.latency_p50_s, r.latency_p90_s, r.latency_p99_s = 0.01 * batch, 0.012 * batch, 0.015 * batch
            r.host_peak_bytes = float(peak * MIB)
            r.top1_agreement = 1.0 if precision == "float32" else 0.97
            store.append(r)
        failed = TrialResult(key=f"{precision}256", model=model, dataset="synthetic:64", pipeline="in_memory",
                             precision=precision, batch_size=256, status=Status.OOM,
                             error=f"killed <b>hard</b> while loading {model}")
        store.append(failed)
    return out


@pytest.fixture
def results(tmp_path) -> Path:
    return write_results(tmp_path / "run")


def test_report_escapes_every_user_string(results):
    html = build_report(load_results(results), host_budget_bytes=1000 * MIB)
    assert HOSTILE not in html
    assert "<script" not in html.lower()  # the report has no script of its own either
    assert html.count(ESCAPED) >= 8  # title, settings, table rows, errors, recommendation
    assert "killed &lt;b&gt;hard&lt;/b&gt;" in html and "<b>hard</b>" not in html


def test_report_is_standalone(results):
    df = load_results(results)
    html = build_report(df)
    assert not re.search(r"https?://|//cdn|@import|url\(", html)
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert len(sources) == 6 + df["pipeline"].nunique()  # and a peak-vs-images figure per pipeline
    for src in sources:  # every plot is a real PNG
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")


def test_report_shows_recommendation_memory_model_and_failures(results):
    html = build_report(load_results(results), host_budget_bytes=1000 * MIB, objective="throughput")
    assert "batch 64, mixed_bfloat16, in_memory" in html
    assert "1.6x the throughput of float32 at batch 64" in html
    assert "batch 256 ran out of memory" in html
    assert "safety margin: 10 %" in html and "host budget: 1000.00 MiB" in html
    # Memory model per series: 600/640/760 MiB at 1/16/64 is fitted, and the budget answered.
    assert html.count(f"{ESCAPED} · in_memory · float32") == 1
    assert re.search(r"<td class=\"num\">\d+(\.\d+)? MiB</td><td class=\"num\">[\d.]+ (KiB|MiB)</td>", html)
    # The full table keeps the failed trials.
    assert html.count('<tr class="status-oom">') == 2
    assert "8 trials" in html and "2 oom" in html
    assert "test CPU" in html and "2.21.0" in html  # the environment
    assert "batch_sizes" in html and "1, 16, 64, 256" in html  # the sweep settings


def test_report_budget_defaults_to_the_sweeps(tmp_path):
    out = write_results(tmp_path / "run", model="cnn")
    lines = (out / "results.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    header["sweep"]["budget"]["host_bytes"] = 720 * MIB
    (out / "results.jsonl").write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    html = build_report(load_results(out))
    assert "host budget: 720.00 MiB" in html
    assert "batch 16, mixed_bfloat16, in_memory" in html  # 760 MiB at 64 is over 720 MiB less 10 %


def test_nothing_fits_is_reported(results):
    html = build_report(load_results(results), host_budget_bytes=500 * MIB)
    assert "nothing fits 90 % of your 500.00 MiB host budget" in html


def test_write_report_includes_the_search(results):
    search = {"batch_size": 48, "n_probes": 4, "host_budget_bytes": 800 * MIB, "gpu_budget_bytes": None,
              "margin": 0.1, "limited_by": "budget", "notes": [f"note {HOSTILE}"],
              "probes": [{"batch_size": 1, "status": "ok", "peak_bytes": 600 * MIB, "fits": True},
                         {"batch_size": 64, "status": "over_budget", "peak_bytes": None, "fits": False}]}
    (results / "search.json").write_text(json.dumps(search))
    path = write_report(results)
    assert path == results / "report.html"
    html = path.read_text()
    assert "<strong>batch 48</strong> after 4 probes" in html
    assert '<tr class="status-over_budget"><td class="num">2</td><td class="num">64</td>' in html
    assert f"note {ESCAPED}" in html


def test_report_of_an_empty_or_failed_sweep(tmp_path):
    store = ResultStore(tmp_path)
    store.ensure_header(None, env={})
    store.append(TrialResult(key="k", model="m", dataset="d", pipeline="in_memory", precision="float32",
                             batch_size=1, status=Status.ERROR, error="boom"))
    html = build_report(load_results(tmp_path))
    assert "nothing to recommend: no trial finished (1 error)" in html
    assert "No trial finished, so there is nothing to fit." in html


def test_template_is_packaged():
    assert (resources.files("workbench.render") / "templates" / "report_page.html").is_file()
    assert (resources.files("workbench.render") / "templates" / "report.css").is_file()


def test_report_cli(results, tmp_path, capsys):
    target = tmp_path / "out" / "r.html"
    assert main(["report", str(results), "-o", str(target), "--objective", "latency",
                 "--host-budget", "1GB", "--title", "My <title>"]) == 0
    assert f"report: {target}" in capsys.readouterr().out
    html = target.read_text()
    assert "<title>My &lt;title&gt;</title>" in html and "Objective: latency" in html


def test_report_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert main(["report", str(tmp_path)]) == 2  # a folder with no results
    assert "no results in" in capsys.readouterr().err


def test_demo_defaults_are_the_demo_sweep():
    from workbench.cli import build_parser
    from workbench.cli.options import sweep_config
    from workbench.plan import expand

    args = build_parser().parse_args(["demo"])
    sweep = sweep_config(args)
    assert (sweep.model.name, sweep.data.label, args.out) == ("demo", "demo:600", "runs/demo")
    assert set(sweep.pipelines) == {"in_memory", "batch_loop", "stream", "stream_to_disk"}
    assert set(sweep.precisions) == {"float32", "mixed_float16", "mixed_bfloat16"}
    assert 24 <= len(expand(sweep)) <= 36


def test_demo_teaching_budget_splits_the_measured_peaks(results):
    from workbench.cli.demo import teaching_budget

    df = load_results(results)
    budget = teaching_budget(df)
    # 600..760 MiB measured: the limit after the 10 % margin is 60 % of the way, 696 MiB.
    assert budget == -(-696 * MIB / 0.9 // MIB) * MIB
    peaks = df["host_peak_bytes"].dropna()
    assert (peaks <= budget * 0.9).any() and (peaks > budget * 0.9).any()
    assert teaching_budget(df.iloc[:1]) is None
