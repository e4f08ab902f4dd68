"""The panel, the CLI and the config dataclasses offer the same options with the same defaults.

The CLI side is read from the subcommands' own parsers, so an option added to the CLI and
not to the panel (or given another default) fails here.
"""

from __future__ import annotations

import argparse
import inspect
from dataclasses import fields

import pytest

from workbench.analysis import recommend
from workbench.cli import report as report_command
from workbench.cli import search as search_command
from workbench.cli import sweep as sweep_command
from workbench.cli.options import DEFAULT_DATA, sweep_config
from workbench.cli.search import parse_margin
from workbench.config import Budget, DataSpec, ModelSpec, SweepConfig, TimingSpec
from workbench.engine.search import search_batch
from workbench.ui import Workbench
from workbench.ui.form import DEFAULT_MODEL, DEFAULT_OUT

COMMANDS = {
    "sweep": (sweep_command, ["--model", DEFAULT_MODEL, "--out", DEFAULT_OUT]),
    "search": (search_command, ["--model", DEFAULT_MODEL, "--out", DEFAULT_OUT]),
    "report": (report_command, [DEFAULT_OUT]),
}
# CLI-only on purpose: the panel offers no way into another machine's folder (it says to pick
# another one), since mixing machines is a decision worth typing out.
CLI_ONLY = {"allow_other_machine"}


def cli(command: str, argv: list[str] | None = None) -> dict:
    module, required = COMMANDS[command]
    parser = argparse.ArgumentParser()
    module.prepare_parser(parser)
    values = {k: v for k, v in vars(parser.parse_args(required + (argv or []))).items() if k not in CLI_ONLY}
    if "margin" in values:  # the CLI takes "10%" or "0.1"; the panel holds the fraction
        values["margin"] = parse_margin(values["margin"])
    return values


@pytest.fixture(scope="module")
def panel() -> Workbench:
    return Workbench()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_panel_has_every_cli_option_with_the_same_default(panel, command):
    expected, got = cli(command), panel.options(command)
    assert sorted(got) == sorted(expected), "the panel and the CLI differ in which options exist"
    differ = {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}
    assert differ == {}, f"defaults differ (CLI, panel): {differ}"


def test_defaults_are_the_config_dataclasses(panel):
    cfg = panel.config()
    assert cfg == SweepConfig(model=ModelSpec(DEFAULT_MODEL), data=DataSpec.parse(DEFAULT_DATA))
    assert cfg == sweep_config(argparse.Namespace(**cli("sweep")))
    sweep_defaults = {f.name: f.default for f in fields(SweepConfig)}
    assert cfg.batch_sizes == sweep_defaults["batch_sizes"]
    assert cfg.precisions == sweep_defaults["precisions"] and cfg.pipelines == sweep_defaults["pipelines"]
    assert cfg.timing == TimingSpec() and cfg.budget == Budget()
    assert panel.form.timeout.value == Budget().timeout_s


def test_decision_and_search_defaults_match_the_api(panel):
    rec = inspect.signature(recommend).parameters
    assert panel.objective.value == rec["objective"].default and panel.margin.value == rec["margin"].default
    assert list(panel.objective.options) == list(report_command.OBJECTIVES)
    search = inspect.signature(search_batch).parameters
    for name in ("margin", "max_batch", "strategy"):
        assert panel.options("search")[name] == search[name].default, name


def test_cli_values_round_trip_through_the_panel(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    trial = ["--image-size", "64x48", "--data", str(folder), "--host-budget", "1.5GB", "--gpu-budget", "8GiB",
             "--timeout", "30", "--warmup-batches", "3", "--min-batches", "4", "--min-duration", "0.5",
             "--drift-samples", "16"]
    axes = ["--batch-sizes", "2,16", "--precisions", "float32,mixed_bfloat16", "--pipelines", "batch_loop,stream",
            "--retry-failed"]
    expected = cli("sweep", trial + axes)
    wb = Workbench(**expected)
    assert wb.options("sweep") == expected
    assert wb.config() == sweep_config(argparse.Namespace(**expected))

    search = cli("search", trial + ["--precision", "float32", "--pipeline", "batch_loop", "--margin", "20%",
                                    "--max-batch", "64", "--strategy", "doubling"])
    wb.margin.value, wb.max_batch.value, wb.strategy.value = 0.2, 64, "doubling"
    got = wb.options("search")
    # The panel's search never measures drift (like the CLI's default): probes are about memory.
    assert got.pop("drift_samples") == 0 and search.pop("drift_samples") == 16
    assert got == search

    wb.objective.value, wb.title.value = "latency", "Mine"
    report = cli("report", ["--host-budget", "1.5GB", "--gpu-budget", "8GiB", "--objective", "latency",
                            "--margin", "0.2", "--title", "Mine"])
    assert wb.options("report") == report
