"""``workbench script``: the generated job is safe Python whatever the user typed, and bad input
is a one-line error before anything is written. (Running the script: tests/integration.)"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import numpy as np
import pytest

from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, TrialConfig
from workbench.engine.scriptgen import literal, render_script, write_script
from workbench.results import ResultStore, TrialResult

# Quotes of every kind, a newline, a line separator, braces, a shell substitution, non-ASCII.
HOSTILE = "it's \"q\" '''x\"\"\" \\ \n#new line\u2028sep {a} $(rm -rf ~) é"
MIB = 2**20


@pytest.mark.parametrize("value", [HOSTILE, ["a", HOSTILE], {"k": (HOSTILE, 3)}, (1,), None, True, 12])
def test_literals_parse_back_to_the_same_value(value):
    text = literal(value)
    assert text.isascii() and "\n" not in text
    assert ast.literal_eval(text) == value


def _settings(tree: ast.Module) -> dict:
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "SETTINGS":
            return ast.literal_eval(node.value)
    raise AssertionError("no SETTINGS in the script")


def _header(text: str) -> list[str]:
    """The comment lines at the top of a script."""
    lines = text.splitlines()
    return lines[:next(i for i, line in enumerate(lines) if not line.startswith("#"))]


def _check_safe(text: str) -> ast.Module:
    tree = ast.parse(text)
    compile(text, "job.py", "exec")
    forbidden = {"eval", "exec", "compile", "__import__", "pickle", "marshal", "shelve", "subprocess", "system"}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not used & forbidden
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "copy", "os", "sys", "time", "json", "pathlib", "types", "typing",
                        "numpy", "keras", "tensorflow"}, imported
    return tree


def test_hostile_paths_reach_the_script_as_literals_only(tmp_path):
    folder = tmp_path / HOSTILE
    folder.mkdir()
    model = folder / "my model.keras"
    model.write_bytes(b"not read by render_script")
    data = folder / "images.npy"
    np.save(data, np.zeros((3, 8, 8, 3), dtype=np.uint8))
    cfg = TrialConfig(ModelSpec(str(model)), DataSpec(kind="npy", path=str(data)), pipeline="stream_to_disk",
                      precision="mixed_bfloat16", batch_size=2)
    text = render_script(cfg, str(folder / "out.npy"), target_images=3, results_dir=str(folder))
    assert text.isascii() and HOSTILE not in text  # only ever escaped
    tree = _check_safe(text)
    settings = _settings(tree)
    assert settings["model"] == {"kind": "file", "name": str(model).lower(), "path": str(model), "label": model.name,
                                 "image_size": None, "allow_unsafe": False}
    assert settings["data"] == {"kind": "npy", "path": str(data), "count": None}
    assert settings["output"] == str(folder / "out.npy")
    assert (settings["pipeline"], settings["precision"], settings["batch_size"]) == ("stream_to_disk", "mixed_bfloat16", 2)
    # the header says what is known, each line a comment whatever the results folder is called
    header = _header(text)
    assert len(header) >= 4 and text.splitlines()[len(header)].startswith('"""')  # then the docstring
    assert any("not measured" in line and "measured by the workbench" in line for line in header)
    assert any("predicted for 3 images" in line and "not measured" in line for line in header)


def test_the_script_defines_every_name_it_uses(tmp_path):
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((3, 8, 8, 3), dtype=np.float32))
    job = tmp_path / "job.py"
    write_script(TrialConfig(ModelSpec("tiny", image_size=32), DataSpec(kind="npy", path=str(data)),
                             pipeline="in_memory", batch_size=2), str(tmp_path / "out.npy"), job)
    text = job.read_text()
    _check_safe(text)
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "F",
                           str(job)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_measured_peak_comes_from_the_results_folder(tmp_path):
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((40, 8, 8, 3), dtype=np.float32))
    cfg = TrialConfig(ModelSpec("tiny", image_size=32), DataSpec(kind="npy", path=str(data)),
                      pipeline="stream_to_disk", batch_size=8)
    store = ResultStore(tmp_path / "run")
    store.ensure_header({}, env={"hostname": "h"})
    for batch, peak in ((8, 700 * MIB), (16, 900 * MIB)):
        r = TrialResult.for_trial(TrialConfig(cfg.model, cfg.data, pipeline="stream_to_disk", batch_size=batch))
        r.images, r.host_peak_bytes, r.image_height, r.image_width = 40, float(peak), 32, 32
        store.append(r)
    job = write_script(cfg, str(tmp_path / "out.npy"), tmp_path / "job.py", results_dir=tmp_path / "run")
    header = "\n".join(_header(job.read_text()))
    assert "700.00 MiB at 40 images" in header and "900" not in header


@pytest.mark.parametrize(("argv", "message"), [
    (["--data", "synthetic:8"], "give --data a folder, a .npy file or demo"),
    (["--data", "{missing}"], "does not exist"),
    (["--output", "out.csv"], "must name a .npy file"),
    (["--pipeline", "nope"], "unknown pipeline 'nope'"),
    (["--batch-size", "0"], "batch size 0 is not allowed"),
    (["-o", "{nofolder}/job.py"], "its folder does not exist"),
    (["--results", "{missing}"], "results folder"),
])
def test_bad_input_is_one_line_and_nothing_is_written(tmp_path, capsys, argv, message):
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((4, 8, 8, 3), dtype=np.float32))
    base = {"--model": "tiny", "--data": str(data), "--batch-size": "2", "--output": str(tmp_path / "o.npy"),
            "-o": str(tmp_path / "job.py")}
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        base[flag] = value.format(missing=tmp_path / "missing.npy", nofolder=tmp_path / "no")
    assert main(["script", *[x for kv in base.items() for x in kv]]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "job.py").exists()


def test_settings_are_json_plain(tmp_path):
    # only plain values travel into the script: what a user could read and edit by hand
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((4, 8, 8, 1), dtype=np.uint8))
    text = render_script(TrialConfig(ModelSpec("mobilenet_v2", image_size=32), DataSpec(kind="npy", path=str(data), count=2),
                                     pipeline="stream", batch_size=2), str(tmp_path / "o.npy"))
    settings = _settings(ast.parse(text))
    assert json.loads(json.dumps(settings)) == settings
    assert settings["model"]["kind"] == "application" and settings["data"]["count"] == 2
    assert any("weights=None" in line for line in _header(text))
