"""Bad inputs refused before any trial, in one line: data files, the results folder, a host
budget under the runtime's own baseline, a folder another sweep holds, negative CLI values."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from workbench.cli.options import attach_signed_values
from workbench.config import DataSpec
from workbench.engine import baseline
from workbench.engine.folders import FOLDER_SAMPLE
from workbench.engine.lock import LOCK_FILE, folder_lock
from workbench.engine.preflight import check_data_spec, check_out_dir
from workbench.errors import ConfigError, WorkbenchError

MIB = 2**20


def npy(tmp_path, shape, name="x.npy"):
    path = tmp_path / name
    np.save(path, np.zeros(shape, dtype=np.uint8))
    return DataSpec.parse(str(path))


def test_an_empty_npy_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"x.npy holds no images \(its shape is \(0, 8, 8, 3\)\)"):
        check_data_spec(npy(tmp_path, (0, 8, 8, 3)))


@pytest.mark.parametrize("channels", [2, 5, 64])
def test_channels_other_than_1_3_4_are_refused(tmp_path, channels):
    with pytest.raises(ConfigError, match=f"holds {channels}-channel images .* save the array as"):
        check_data_spec(npy(tmp_path, (4, 8, 8, channels)))


@pytest.mark.parametrize("shape", [(4, 8, 8), (4, 8, 8, 1), (4, 8, 8, 3), (4, 8, 8, 4)])
def test_gray_rgb_and_rgba_npy_pass(tmp_path, shape):
    check_data_spec(npy(tmp_path, shape))


def folder(tmp_path, n: int, good_at: tuple[int, ...] = ()):
    root = tmp_path / "images"
    root.mkdir()
    for i in range(n):
        path = root / f"img{i:03d}.jpg"
        if i in good_at:
            Image.new("RGB", (8, 8), (i, 0, 0)).save(path, "JPEG")
        else:
            path.write_bytes(b"not an image " * 10)
    return DataSpec.parse(str(root))


def test_a_folder_of_unreadable_images_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"none of its 20 image file\(s\) can be decoded \(e.g. img000.jpg: "
                                          r"UnidentifiedImageError"):
        check_data_spec(folder(tmp_path, 20))


def test_one_good_image_outside_the_sample_is_enough(tmp_path):
    # 20 files: the sample is every other one (0, 2, ... 14); the only good one is 1.
    assert FOLDER_SAMPLE == 8
    check_data_spec(folder(tmp_path, 20, good_at=(1,)))


def test_out_naming_a_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="'.*notes.txt' is an existing file: give a folder"):
        check_out_dir(tmp_path / "notes.txt")
    with pytest.raises(ConfigError, match="lies under '.*notes.txt', a file"):
        check_out_dir(tmp_path / "notes.txt" / "run")
    assert check_out_dir(tmp_path / "new" / "run") == tmp_path / "new" / "run"


def test_a_budget_below_the_runtime_baseline_is_refused(tmp_path, monkeypatch):
    # A cache seeded with 600 MiB stands in for the measurement (a real one: tests/integration).
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(baseline, "measure_baseline", lambda python, backend="tensorflow": pytest.fail("measured despite the cache"))
    baseline.store_baseline(600 * MIB)
    assert baseline.cache_path().parent == tmp_path  # beside demo-v1/
    with pytest.raises(ConfigError) as info:
        baseline.check_host_budget(100 * 10**6)
    assert str(info.value).startswith("host budget 95 MiB is below the 600 MiB the runtime needs before predicting")
    assert "raise it" in str(info.value)
    baseline.check_host_budget(700 * MIB)
    baseline.check_host_budget(None)


def test_the_baseline_is_measured_once_per_runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(baseline, "measure_baseline", lambda python, backend="tensorflow": calls.append(python) or 500 * MIB)
    assert baseline.runtime_baseline_bytes("/usr/bin/python-a") == 500 * MIB
    assert baseline.runtime_baseline_bytes("/usr/bin/python-a") == 500 * MIB
    assert calls == ["/usr/bin/python-a"]
    baseline.runtime_baseline_bytes("/usr/bin/python-b")  # another interpreter: its own figure
    assert calls == ["/usr/bin/python-a", "/usr/bin/python-b"]
    baseline.cache_path().write_text("{not json")  # damaged: measured again, not an error
    assert baseline.runtime_baseline_bytes("/usr/bin/python-a") == 500 * MIB and len(calls) == 3


def test_an_unmeasurable_runtime_refuses_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    assert baseline.measure_baseline("/nonexistent/python") is None
    baseline.check_host_budget(1, python="/nonexistent/python")
    assert not baseline.cache_path().exists()


def test_a_held_folder_is_refused_at_once_naming_it_and_the_holder(tmp_path):
    with folder_lock(tmp_path / "run"):
        with pytest.raises(WorkbenchError) as info:
            with folder_lock(tmp_path / "run"):
                pass
        assert f"is in use by another sweep or search (process {os.getpid()} on " in str(info.value)
        assert "give another --out" in str(info.value) and str(tmp_path / "run") in str(info.value)
        with folder_lock(tmp_path / "other"):  # another folder is free
            pass
    with folder_lock(tmp_path / "run"):  # released when the first ended
        assert (tmp_path / "run" / LOCK_FILE).exists()


@pytest.mark.parametrize(("argv", "expected"), [
    (["sweep", "--host-budget", "-1GB"], ["sweep", "--host-budget=-1GB"]),
    (["--batch-sizes", "-1,8", "--margin", "-.5"], ["--batch-sizes=-1,8", "--margin=-.5"]),
    (["--host-budget", "2GB", "--out", "-x"], ["--host-budget", "2GB", "--out", "-x"]),  # not a number
    (["--host-budget=-1GB"], ["--host-budget=-1GB"]),
    (["-o", "-1"], ["-o", "-1"]),  # short options: argparse reads -1 as a number already
])
def test_negative_values_reach_the_options_own_check(argv, expected):
    assert attach_signed_values(argv) == expected
