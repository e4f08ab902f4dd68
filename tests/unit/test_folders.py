"""An image folder is listed once per sweep, and listed again when it changes.

A folder of a million images takes seconds to minutes to list; one CLI sweep asked about it six
times (size plan, two trial lists, two file checks, the answer after). These tests count the real
directory listings (``os.scandir``, which ``os.walk`` uses) over a real CLI sweep of a real folder
of PNGs; only the trials are stood in for (they would need TensorFlow).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from workbench.config import DataSpec
from workbench.engine.folders import SETTLED_NS, folder_listing, scan
from workbench.engine.preflight import available_images, check_data_spec

from ..helpers import fake_trials


def pngs(folder: Path, n: int, start: int = 0) -> Path:
    """``n`` small real PNGs in ``folder`` (made if missing)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        Image.new("RGB", (8, 8), (i * 4 % 256, 0, 0)).save(folder / f"{i:03d}.png")
    return folder


def settle(root: Path) -> None:
    """Date ``root`` and its subfolders an hour back: a folder nobody is writing to (one changed
    within the last :data:`SETTLED_NS` is listed at each ask, see the next test)."""
    old = time.time() - 3600
    for dirpath, _, _ in os.walk(root):
        os.utime(dirpath, (old, old))


@pytest.fixture
def listings(monkeypatch):
    """The directories ``os.scandir`` lists, in order (the real call, counted)."""
    seen: list[str] = []
    real = os.scandir

    def counted(path="."):
        seen.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", counted)
    return seen


def test_one_cli_sweep_lists_its_image_folder_once(tmp_path, listings, monkeypatch, capsys):
    from workbench.cli import main

    ran = fake_trials(monkeypatch)
    folder = pngs(tmp_path / "images", 40)
    settle(folder)
    listings.clear()
    code = main(["sweep", "--model", "tiny", "--data", str(folder), "--images", "32", "--batch-sizes", "4,8",
                 "--pipelines", "stream", "--precisions", "float32", "--out", str(tmp_path / "out")])
    said = capsys.readouterr().out
    assert code == 0 and ran == [(8, 8), (16, 8), (32, 4), (32, 8)]
    # Size plan, both trial lists (progress total, runner), the file checks, the answer after:
    # one listing of the folder (it was six before the listing was kept).
    assert [p for p in listings if p.startswith(str(folder))] == [str(folder)]
    assert "at your target size, 40 images (the full count of" in said


def test_a_folder_just_written_is_listed_at_each_ask(tmp_path, listings):
    """A directory changed within the file system's clock tick could change again and keep its
    time: its listing is not kept until it has been left alone for a while."""
    folder = pngs(tmp_path / "fresh", 5)
    listings.clear()
    assert folder_listing(folder).count == folder_listing(folder).count == 5
    assert listings == [str(folder), str(folder)]
    assert SETTLED_NS == 2_000_000_000


def test_a_file_added_removed_or_a_class_added_is_seen(tmp_path, listings):
    folder = tmp_path / "classes"
    pngs(folder / "cat", 6)
    pngs(folder / "dog", 4)
    data = DataSpec("folder", path=str(folder))
    settle(folder)
    listings.clear()
    assert available_images(data) == 10 and folder_listing(folder).classes == ("cat", "dog")
    assert available_images(data) == 10 and len(listings) == 3  # root, cat, dog: listed once, then kept
    pngs(folder / "dog", 1, start=50)  # a file added to a class subfolder: its mtime moves
    assert available_images(data) == 11
    settle(folder)
    (folder / "cat" / "000.png").unlink()  # ... and one removed
    assert available_images(data) == 10
    settle(folder)
    pngs(folder / "bird", 2)  # a new class: the root's mtime moves
    assert available_images(data) == 12 and folder_listing(folder).classes == ("bird", "cat", "dog")
    settle(folder)
    (folder / "cat" / "notes.txt").write_text("not an image")  # another file: listed again, not counted
    assert available_images(data) == 12
    settle(folder)  # left alone: listed once more (the last listing was of a folder just written), then kept
    listings.clear()
    assert available_images(data) == available_images(data) == 12 and len(listings) == 4  # root, 3 classes


def test_a_flat_folder_grown_between_two_asks_is_counted_again(tmp_path, listings):
    folder = pngs(tmp_path / "flat", 20)
    settle(folder)
    listings.clear()
    check_data_spec(DataSpec("folder", path=str(folder)))  # counts, checks the counts, decodes a sample
    assert listings == [str(folder)]
    pngs(folder, 3, start=20)
    assert available_images(DataSpec("folder", path=str(folder))) == 23 and len(listings) == 2


def test_the_kept_listing_matches_a_full_scan(tmp_path):
    """The count, classes and spread sample kept are those of the full listing."""
    folder = tmp_path / "mixed"
    pngs(folder / "a", 9)
    pngs(folder / "b", 12)
    (folder / ".hidden").mkdir()
    pngs(folder / ".hidden", 3)
    settle(folder)
    files, classes = scan(folder)
    listing = folder_listing(folder)
    assert listing.count == len(files) == 21 and list(listing.classes) == classes == ["a", "b"]
    assert listing.sample == tuple(files[::2][:8])  # 21 // 8 = every 2nd file, the first 8
    assert folder_listing(folder) is listing  # kept
