"""The CLI and the panel expose every config field, each with the config dataclass's default.

Each side is checked against the dataclasses (the one source of truth), not against the other:
a field added to a config and not to the CLI or the panel, or an option given another default,
fails here. The CLI side is read from the subcommands' own parsers; the panel side from a
``Workbench`` built with no settings.
"""

from __future__ import annotations

import argparse
import inspect
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from workbench.analysis import OBJECTIVES, recommend
from workbench.cli import report as report_command
from workbench.cli import search as search_command
from workbench.cli import sweep as sweep_command
from workbench.cli.options import model_data_budget_timing, sweep_config
from workbench.config import DataSpec, ModelSpec, SweepConfig, TrialConfig
from workbench.engine.runner import run_sweep
from workbench.engine.search import search_batch
from workbench.parsing import parse_margin
from workbench.render.report import build_report
from workbench.ui import Workbench
from workbench.ui.defaults import DEFAULT_MODEL, DEFAULT_OUT, DEFAULTS

REQUIRED = ["--model", DEFAULT_MODEL, "--out", DEFAULT_OUT]  # what the CLI has no default for
# The sweep every side starts from: the dataclass defaults, with synthetic images at
# DataSpec's own default count (SweepConfig.model and .data have no default).
EXPECTED = SweepConfig(model=ModelSpec(DEFAULT_MODEL), data=DataSpec("synthetic"))
NOT_EXPOSED = {"data.seed": "the synthetic images' seed is fixed, so that runs compare"}
# CLI-only on purpose: the panel offers no way into another machine's folder (it says to pick
# another one), since mixing machines is a decision worth typing out.
# Config fields the CLI sets and the panel does not offer yet (it runs them at their defaults):
# field -> (option name, a value other than the default on the command line, the field's value then).
CLI_ONLY_FIELDS = {
    "timing.min_passes": ("min_passes", ["--min-passes", "7"], 7),
    "timing.max_cv": ("max_cv", ["--max-cv", "2.5%"], 0.025),
    "timing.remeasure_factor": ("remeasure_factor", ["--remeasure-factor", "1"], 1.0),
    "repeat": ("repeat", ["--repeat", "3"], 3),
}
CLI_ONLY = {"allow_other_machine", *(option for option, _, _ in CLI_ONLY_FIELDS.values())}


def leaves(cls: type, prefix: str = "") -> list[str]:
    """Every field of ``cls`` and of the config dataclasses inside it, dotted (``budget.timeout_s``)."""
    hints = get_type_hints(cls)
    out = []
    for f in fields(cls):
        kind = hints[f.name]
        out += leaves(kind, f"{prefix}{f.name}.") if is_dataclass(kind) else [f"{prefix}{f.name}"]
    return out


def value(cfg: Any, leaf: str) -> Any:
    for name in leaf.split("."):
        cfg = getattr(cfg, name)
    return cfg


def case_table(folder: Path) -> dict[str, tuple[str, list[str], Any, Any]]:
    """field -> (option name, a value other than the default on the command line, the same value
    as a panel setting, the field's value then). ``folder`` is an image folder."""
    return {
        "model.name": ("model", ["--model", "tiny"], "tiny", "tiny"),
        "model.image_size": ("image_size", ["--image-size", "64x48"], (64, 48), (64, 48)),
        "model.allow_unsafe": ("allow_unsafe", ["--allow-unsafe"], True, True),
        "data.kind": ("data", ["--data", "demo"], "demo", "demo"),
        "data.count": ("data", ["--data", "synthetic:64"], "synthetic:64", 64),
        "data.path": ("data", ["--data", str(folder)], str(folder), str(folder)),
        "pipelines": ("pipelines", ["--pipelines", "in_memory,batch_loop"], ("in_memory", "batch_loop"),
                      ("in_memory", "batch_loop")),
        "precisions": ("precisions", ["--precisions", "float32,mixed_bfloat16"], "float32,mixed_bfloat16",
                       ("float32", "mixed_bfloat16")),
        "batch_sizes": ("batch_sizes", ["--batch-sizes", "2,16"], (2, 16), (2, 16)),
        "backends": ("backends", ["--backends", "tensorflow,jax"], ("tensorflow", "jax"), ("tensorflow", "jax")),
        "images": ("images", ["--images", "8,16"], "8,16", (8, 16)),
        "target_images": ("target_images", ["--target-images", "1,200,000"], 1_200_000, 1_200_000),
        "auto_sizes": ("auto_sizes", ["--no-auto-sizes"], False, False),
        "budget.host_bytes": ("host_budget", ["--host-budget", "1.5GB"], "1.5GB", 1_500_000_000),
        "budget.gpu_bytes": ("gpu_budget", ["--gpu-budget", "8GiB"], 8 * 2**30, 8 * 2**30),
        "budget.timeout_s": ("timeout", ["--timeout", "30"], 30.0, 30.0),
        "timing.warmup_batches": ("warmup_batches", ["--warmup-batches", "3"], 3, 3),
        "timing.min_batches": ("min_batches", ["--min-batches", "4"], 4, 4),
        "timing.min_duration_s": ("min_duration", ["--min-duration", "0.5"], 0.5, 0.5),
        "timing.drift_samples": ("drift_samples", ["--drift-samples", "16"], 16, 16),
    }


def parse(module: Any, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.prepare_parser(parser)
    return parser.parse_args(argv)


def panel_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed options the panel takes (the CLI-only ones left out)."""
    return {name: v for name, v in vars(args).items() if name not in CLI_ONLY}


def cli_sweep(argv: list[str] | None = None) -> SweepConfig:
    return sweep_config(parse(sweep_command, REQUIRED + (argv or [])))


@pytest.fixture(scope="module")
def panel() -> Workbench:
    return Workbench()


def test_every_config_field_is_exposed_or_says_why_not():
    assert sorted(leaves(SweepConfig)) == sorted([*case_table(Path("images")), *NOT_EXPOSED, *CLI_ONLY_FIELDS])


@pytest.mark.parametrize("leaf", list(CLI_ONLY_FIELDS))
def test_cli_only_fields_are_set_by_their_option_with_the_dataclass_default(leaf):
    option, argv, expected = CLI_ONLY_FIELDS[leaf]
    parser = argparse.ArgumentParser()
    sweep_command.prepare_parser(parser)
    assert value(sweep_config(parser.parse_args(REQUIRED)), leaf) == value(EXPECTED, leaf)
    cfg = sweep_config(parser.parse_args(REQUIRED + argv))
    assert value(cfg, leaf) == expected
    assert {other for other in leaves(SweepConfig) if value(cfg, other) != value(EXPECTED, other)} == {leaf}


@pytest.mark.parametrize("side", ["cli", "panel"])
def test_defaults_are_the_config_dataclass_fields(panel, side):
    cfg = cli_sweep() if side == "cli" else panel.config()
    differ = {leaf: (value(cfg, leaf), value(EXPECTED, leaf)) for leaf in leaves(SweepConfig)
              if value(cfg, leaf) != value(EXPECTED, leaf)}
    assert differ == {}, f"{side} defaults differ from the config dataclasses (theirs, the field's): {differ}"
    assert cfg == EXPECTED


@pytest.mark.parametrize("leaf", list(case_table(Path("images"))))
def test_each_field_is_set_by_its_option_on_both_sides(tmp_path, leaf):
    (tmp_path / "images").mkdir()
    cases = case_table(tmp_path / "images")
    name, argv, setting, expected = cases[leaf]
    same_option = {other for other, case in cases.items() if case[0] == name}
    for side, cfg in (("cli", cli_sweep(argv)), ("panel", Workbench(**{name: setting}).config())):
        assert value(cfg, leaf) == expected, side
        moved = {other for other in leaves(SweepConfig) if value(cfg, other) != value(EXPECTED, other)}
        assert moved <= same_option, f"{side}: {' '.join(argv)} also changed {moved - same_option}"


def test_the_panel_takes_every_sweep_option_by_its_cli_name():
    cli = panel_settings(parse(sweep_command, REQUIRED))
    assert sorted(DEFAULTS) == sorted(cli)
    # The two options that are no config field: where results go, and whether failures re-run.
    assert cli["retry_failed"] == DEFAULTS["retry_failed"] == inspect.signature(run_sweep).parameters["retry_failed"].default
    with pytest.raises(SystemExit):  # the CLI has no default model or folder; the panel has
        parse(sweep_command, [])
    assert (DEFAULTS["model"], DEFAULTS["out"]) == (DEFAULT_MODEL, DEFAULT_OUT)


def test_search_and_decision_defaults_are_the_api_defaults(panel):
    searching = inspect.signature(search_batch).parameters
    deciding = inspect.signature(recommend).parameters
    trial = {f.name: f.default for f in fields(TrialConfig)}
    search = parse(search_command, REQUIRED)
    assert parse_margin(search.margin) == searching["margin"].default
    assert (search.max_batch, search.strategy) == (searching["max_batch"].default, searching["strategy"].default)
    assert (search.precision, search.pipeline) == (trial["precision"], trial["pipeline"])
    report = parse(report_command, [DEFAULT_OUT])
    assert (report.objective, parse_margin(report.margin)) == (deciding["objective"].default, deciding["margin"].default)

    assert float(panel.margin.value) == searching["margin"].default == deciding["margin"].default
    assert (panel.max_batch.value, panel.strategy.value) == (searching["max_batch"].default, searching["strategy"].default)
    assert panel.objective.value == deciding["objective"].default and list(panel.objective.options) == list(OBJECTIVES)
    template = panel.search_template()
    assert (template.precision, template.pipeline, template.batch_size) == (trial["precision"], trial["pipeline"], 1)
    # Probes skip the drift phase, which says nothing about memory: the CLI's search by default, the panel always.
    assert search.drift_samples == template.timing.drift_samples == 0

    # The target size: none given on every side means the same default (the data's full count
    # for a folder or .npy, else the largest size measured), resolved in one place.
    reporting = inspect.signature(build_report).parameters
    assert search.target_images is None and searching["target_images"].default is None
    assert search.sample_images is None and searching["sample_images"].default is None
    assert report.target_images is None and reporting["target_images"].default is None
    assert deciding["target_images"].default is None and panel.form.target_size() is None


def test_cli_values_round_trip_through_the_panel(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    trial = ["--image-size", "64x48", "--data", str(folder), "--host-budget", "1.5GB", "--gpu-budget", "8GiB",
             "--timeout", "30", "--warmup-batches", "3", "--min-batches", "4", "--min-duration", "0.5",
             "--drift-samples", "16"]
    axes = ["--batch-sizes", "2,16", "--precisions", "float32,mixed_bfloat16", "--pipelines", "batch_loop,stream",
            "--backends", "jax,tensorflow",
            "--retry-failed", "--target-images", "50000"]
    args = parse(sweep_command, REQUIRED + trial + axes)
    wb = Workbench(**panel_settings(args))
    assert wb.config() == sweep_config(args)
    assert wb.form.retry_failed.value is True and wb.form.out.value == DEFAULT_OUT

    # Search: one series, the first pipeline and precision ticked (the CLI's --pipeline/--precision).
    search = parse(search_command, REQUIRED + trial + ["--precision", "float32", "--pipeline", "batch_loop"])
    model, data, budget, timing = model_data_budget_timing(search)
    expected = TrialConfig(model=model, data=data, pipeline="batch_loop", precision="float32", batch_size=1,
                           budget=budget, timing=timing)
    got = wb.search_template()
    # The panel's search never measures drift (like the CLI's default): probes are about memory.
    assert got.timing.drift_samples == 0 and expected.timing.drift_samples == 16
    assert got.to_dict() == {**expected.to_dict(), "timing": {**expected.to_dict()["timing"], "drift_samples": 0}}
