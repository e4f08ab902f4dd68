"""Dataset size as a sweep axis: how it expands, and bad sizes refused before any trial.

No trial runs here: every refusal must come from the parent's checks (a .npy header, a folder
scan, the demo set's known size), in one line, with exit code 2 from the CLI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench import demo_assets
from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, SweepConfig
from workbench.errors import ConfigError
from workbench.plan import expand
from workbench.results import RESULTS_FILE, TrialResult


def npy(path: Path, n: int) -> Path:
    np.save(path, np.zeros((n, 8, 8, 3), dtype=np.uint8))
    return path


def folder(root: Path, n: int) -> Path:
    from PIL import Image

    root.mkdir()
    for i in range(n):
        Image.new("RGB", (8, 8), (i, i, i)).save(root / f"{i:03d}.png")
    (root / "notes.txt").write_text("not an image: not counted")
    return root


def test_each_size_runs_on_the_first_k_images_smaller_sizes_first(tmp_path):
    data = DataSpec("npy", path=str(npy(tmp_path / "x.npy", 50)))
    sweep = SweepConfig(model=ModelSpec("tiny"), data=data, pipelines=("stream", "in_memory"),
                        batch_sizes=(8, 2), images="40,10")
    assert sweep.images == (10, 40)
    trials = expand(sweep)
    got = [(t.data.count, t.pipeline, t.batch_size) for t in trials]
    assert got == [(10, "stream", 2), (10, "stream", 8), (10, "in_memory", 2), (10, "in_memory", 8),
                   (40, "stream", 2), (40, "stream", 8), (40, "in_memory", 2), (40, "in_memory", 8)]
    assert trials[0].data.label == "npy:x.npy[:10]"
    assert len({t.key() for t in trials}) == 8  # each size is its own trial when resuming
    # A failed trial still says the size it was asked for (the worker overwrites it with n).
    assert TrialResult.for_trial(trials[-1]).images == 40


def test_without_the_axis_nothing_changes(tmp_path):
    sweep = SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=64))
    assert sweep.images is None and "images" in sweep.to_dict()
    assert [t.data for t in expand(sweep)] == [sweep.data] * 3
    synthetic = SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic"), images=(1000, 16000))
    assert [t.data.label for t in expand(synthetic)][::3] == ["synthetic:1000", "synthetic:16000"]


@pytest.mark.parametrize(("images", "words"), [
    ("0", "images: 0 is not allowed"),
    ("1,x", "images: 'x' is not a whole number"),
    ("-5", "images: -5 is not allowed"),
])
def test_malformed_sizes(images, words):
    with pytest.raises(ConfigError, match=words):
        SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic"), images=images)


def test_sizes_above_what_the_data_holds(tmp_path):
    model = ModelSpec("tiny")
    cases = [
        (DataSpec("npy", path=str(npy(tmp_path / "x.npy", 30))), "31", "the .npy file 'x.npy' holds 30"),
        (DataSpec("folder", path=str(folder(tmp_path / "imgs", 5))), "2,6", "holds 5"),
        (DataSpec("demo"), str(demo_assets.IMAGES + 1), f"the demo set holds {demo_assets.IMAGES:,}"),
    ]
    for data, images, words in cases:
        with pytest.raises(ConfigError, match=words):
            expand(SweepConfig(model=model, data=data, images=images))
    # A plain count the data cannot supply is refused the same way (before: silently fewer).
    with pytest.raises(ConfigError, match="5,000 images asked for, but the demo set holds 1,797"):
        expand(SweepConfig(model=model, data=DataSpec.parse("demo:5000")))
    assert [t.data.count for t in expand(SweepConfig(model=model, data=cases[0][0], images="30"))] == [30] * 3


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command", ["sweep", "demo"])
def test_cli_refuses_bad_sizes_in_one_line_before_any_trial(tmp_path, capsys, command):
    data = npy(tmp_path / "x.npy", 20)
    out = tmp_path / "out"
    model = ["--model", "tiny"] if command == "sweep" else []
    cases = [
        (["--data", str(data), "--images", "10,21"], "21 images asked for, but the .npy file 'x.npy' holds 20"),
        (["--data", str(folder(tmp_path / f"imgs-{command}", 3)), "--images", "4"], "holds 3"),
        (["--data", "demo", "--images", "2000"], "2,000 images asked for, but the demo set holds 1,797"),
        (["--data", str(data), "--images", "0"], "images: 0 is not allowed"),
        (["--data", str(data), "--images", "1,x"], "images: 'x' is not a whole number"),
    ]
    for args, words in cases:
        code, err = run_cli([command, *model, *args, "--out", str(out)], capsys)
        assert code == 2, args
        assert err.count("\n") == 1 and words in err and err.startswith(f"workbench {command}: error: "), err
        assert not (out / RESULTS_FILE).exists()  # refused before any trial ran
