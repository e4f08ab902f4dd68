"""Files written whole or not at all (workbench.atomic), and the JSON form of a figure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.atomic import atomic_write, atomic_write_text
from workbench.results import json_value


def test_a_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path):
    path = tmp_path / "sub" / "answer.json"  # the folder is made
    atomic_write_text(path, "old")
    assert atomic_write_text(path, "new ✓") == path
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in path.parent.iterdir()] == ["answer.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, np.arange(3))

    def half_then_fail(tmp):
        tmp.write_bytes(b"\x93NUMPY half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert np.load(path).tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["images.npy"]


def test_the_temporary_file_keeps_the_suffix_that_picks_the_format(tmp_path):
    seen = []
    atomic_write(tmp_path / "images.npy", lambda tmp: (seen.append(tmp.name), np.save(tmp, np.zeros(2))))
    assert seen[0].endswith(".npy") and seen[0] != "images.npy"
    assert np.load(tmp_path / "images.npy").tolist() == [0.0, 0.0]  # np.save added no second suffix


@pytest.mark.parametrize("value, plain", [
    (math.nan, None), (math.inf, None), (np.float32("nan"), None), (np.int64(7), 7), (np.float64(1.5), 1.5),
    (2.0, 2.0), ("ok", "ok"), (None, None), (True, True),
])
def test_json_value(value, plain):
    out = json_value(value)
    assert out == plain and type(out) is type(plain)
