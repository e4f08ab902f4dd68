"""Data sources: a messy image folder, .npy files and the embedded digits.

Scanning, validating and reading .npy files need no TensorFlow and run here; decoding and
resizing (TensorFlow) run once in a fresh process (``probe_data``) and are compared there
between the in-memory and the streaming paths.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from workbench import demo_assets
from workbench.config import DataSpec
from workbench.errors import ConfigError
from workbench.trial.images import FolderSource
from workbench.trial.probes.host import HostPeak, self_check
from workbench.trial.sources import NpySource, Source, build_source

from ..helpers import BAD, GOOD, messy_folder, run_probe, write_npy

MIB = 2**20


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return messy_folder(tmp_path_factory.mktemp("photos") / "classes")


def test_folder_keeps_readable_images_and_labels_subfolders(folder):
    src = build_source(DataSpec(kind="folder", path=str(folder)), (24, 24), 3)
    assert isinstance(src, FolderSource)
    assert src.n == len(GOOD) == 6
    assert sorted(f.relative_to(folder).as_posix() for f in src.files) == sorted(GOOD)
    assert src.classes == ["cats", "dogs"]
    assert src.labels.tolist() == [0 if f.parent.name == "cats" else 1 for f in src.files]
    assert src.x is None  # nothing decoded until a pipeline asks


def test_corrupt_truncated_and_foreign_images_are_skipped_and_named(folder):
    src = build_source(DataSpec(kind="folder", path=str(folder)), (24, 24), 3)
    names = [s.split(" (")[0] for s in src.skipped_files]
    assert sorted(names) == sorted(BAD)  # non-image files (txt, tiff, hidden) are ignored, not skipped
    reasons = dict(s.split(" (", 1) for s in src.skipped_files)
    assert "truncated" in reasons["cats/truncated.jpg"]
    assert "GIF" in reasons["dogs/gif_inside.png"]


def test_flat_folder_has_no_labels(tmp_path):
    flat = messy_folder(tmp_path / "flat", classes=False)
    src = build_source(DataSpec(kind="folder", path=str(flat)), (24, 24), 3)
    assert src.n == 6 and src.labels is None and len(src.skipped_files) == 4


def test_count_limits_the_images_used(folder):
    src = build_source(DataSpec(kind="folder", path=str(folder), count=2), (24, 24), 3)
    assert src.n == 2


def test_a_folder_without_readable_images_is_a_clear_error(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ConfigError, match="all unreadable"):
        build_source(DataSpec(kind="folder", path=str(tmp_path)), (24, 24), 3)
    (tmp_path / "bad.jpg").unlink()
    with pytest.raises(ConfigError, match="no .jpg"):
        build_source(DataSpec(kind="folder", path=str(tmp_path)), (24, 24), 3)


def test_npy_is_read_batch_by_batch_into_float32(tmp_path):
    x = write_npy(tmp_path / "x.npy", 50, size=16, dtype="uint8")
    src = build_source(DataSpec(kind="npy", path=str(tmp_path / "x.npy")), (16, 16), 3)
    assert isinstance(src, NpySource) and src.n == 50 and src.x is None and src.streamable
    batches = list(src.iter_batches(16))
    assert [len(b) for b in batches] == [16, 16, 16, 2]
    assert all(b.dtype == np.float32 for b in batches)
    assert np.array_equal(np.concatenate(batches), x.astype(np.float32))
    assert np.array_equal(src.load(), x.astype(np.float32))
    assert src.decoded_bytes == 50 * 16 * 16 * 3 * 4


def test_npy_batches_can_be_read_into_one_reused_buffer(tmp_path):
    x = write_npy(tmp_path / "x.npy", 50, size=16, dtype="uint8")
    src = NpySource(tmp_path / "x.npy", (16, 16), 3, count=45)
    seen, first = [], None
    for batch in src.reused_batches(16):
        first = batch if first is None else first
        assert batch.dtype == np.float32 and np.shares_memory(batch, first)  # no fresh array a batch
        seen.append(np.array(batch))
    assert [len(b) for b in seen] == [16, 16, 13]  # the count, and a partial last batch
    assert np.array_equal(np.concatenate(seen), x[:45].astype(np.float32))
    middle = [np.array(b) for b in src.reused_batches(8, start=40, stop=45)]  # a warm-up slice
    assert np.array_equal(np.concatenate(middle), x[40:45].astype(np.float32))


def test_npy_grayscale_becomes_rgb_and_count_limits(tmp_path):
    x = write_npy(tmp_path / "g.npy", 10, size=8, channels=1)
    src = NpySource(tmp_path / "g.npy", (8, 8), 3, count=4)
    out = src.load()
    assert out.shape == (4, 8, 8, 3)
    assert np.array_equal(out[..., 2], x[:4, ..., 0])


@pytest.mark.parametrize(("array", "match"), [
    (np.zeros((4, 8, 8), dtype=object), "plain numeric"),
    (np.zeros((4, 8)), "expected numbers shaped"),
    (np.asfortranarray(np.zeros((4, 8, 8, 3), dtype=np.float32)), "Fortran"),
])
def test_unusable_npy_files_are_clear_errors(tmp_path, array, match):
    path = tmp_path / "bad.npy"
    np.save(path, array, allow_pickle=True)
    with pytest.raises(ConfigError, match=match):
        NpySource(path, (8, 8), 3)


def test_a_truncated_npy_file_is_a_clear_error(tmp_path):
    write_npy(tmp_path / "t.npy", 20, size=8)
    raw = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(ConfigError, match="truncated"):
        list(NpySource(tmp_path / "t.npy", (8, 8), 3).iter_batches(8))


@pytest.mark.skipif(not self_check(), reason="needs the kernel's resettable high-water mark (Linux)")
def test_reading_npy_batches_stays_small_where_a_memory_map_grows(tmp_path):
    path = tmp_path / "big.npy"
    write_npy(path, 2048, size=64)  # 96 MiB of float32
    size = path.stat().st_size
    host = HostPeak()
    host.reset()
    base = host.peak()
    total = sum(float(b[:, 0, 0, 0].sum()) for b in NpySource(path, (64, 64), 3).iter_batches(64))
    ours = host.peak() - base
    mapped = np.load(path, mmap_mode="r")
    host.reset()
    base = host.peak()
    total_mapped = sum(float(np.asarray(mapped[i:i + 64])[:, 0, 0, 0].sum()) for i in range(0, 2048, 64))
    theirs = host.peak() - base
    del mapped
    assert total == pytest.approx(total_mapped)
    assert ours < 0.1 * size, f"reading batches grew {ours / MIB:.0f} MiB"
    assert theirs > 0.8 * size, f"the memory map grew only {theirs / MIB:.0f} MiB"  # the trap we avoid


def test_demo_data_is_the_embedded_digits_with_labels():
    src = build_source(DataSpec.parse("demo"), (32, 32), 3)
    assert src.n == 1797 and src.streamable
    assert sorted(set(src.labels.tolist())) == list(range(10))
    assert np.bincount(src.labels).min() > 150  # all ten digits, roughly balanced
    first = next(src.iter_batches(8))
    assert first.shape == (8, 32, 32, 3) and 0 <= first.min() and first.max() <= 255 and first.max() > 100
    assert build_source(DataSpec.parse("demo:100"), (32, 32), 3).n == 100
    assert demo_assets.data_ready()


def test_corrupt_demo_data_cache_is_rebuilt():
    demo_assets.ensure_data()
    images = demo_assets.paths()["images"]
    good = images.read_bytes()
    images.write_bytes(good[:-10] + b"0123456789")
    assert not demo_assets.data_ready()
    demo_assets.ensure_data()
    assert demo_assets.data_ready() and images.read_bytes() == good


def test_synthetic_data_cannot_stream():
    src = build_source(DataSpec("synthetic", count=4), (8, 8), 3)
    assert type(src) is Source and not src.streamable
    with pytest.raises(ConfigError, match="cannot be streamed"):
        src.dataset(2)


@pytest.fixture(scope="module")
def decoded(folder):
    workdir = folder.parent
    x = (np.random.default_rng(3).uniform(0, 255, (10, 16, 16, 1))).astype(np.uint8)
    np.save(workdir / "npy_small.npy", x)
    return run_probe("probe_data", workdir)


@pytest.mark.slow
def test_folder_decodes_to_the_model_input_in_memory_and_streaming_alike(decoded):
    rgb = decoded["classes:24x24x3"]
    assert rgb["shape"] == rgb["stream_shape"] == [6, 24, 24, 3] and rgb["dtype"] == "float32"
    assert 0 <= rgb["min"] and rgb["max"] <= 255  # decoded 8-bit values, not rescaled
    assert rgb["stream_vs_load"] == 0.0 and rgb["head_vs_load"] == 0.0  # the same pixels either way
    assert rgb["batch_sizes"] == rgb["reused_batch_sizes"] == [4, 2]
    assert rgb["reused_vs_load"] == 0.0  # stream_to_disk decodes one image at a time, the same pixels
    assert rgb["gray_channels_equal"]  # grayscale became RGB
    gray = decoded["classes:20x28x1"]
    assert gray["shape"] == [6, 20, 28, 1] and gray["stream_vs_load"] == 0.0


@pytest.mark.slow
def test_npy_resized_and_channel_fitted_in_memory_and_streaming_alike(decoded):
    small = decoded["npy_small:24x24x3"]
    assert small["shape"] == small["stream_shape"] == [10, 24, 24, 3]
    assert small["stream_vs_load"] < 1e-3 and small["head_vs_load"] < 1e-3
    assert small["batch_sizes"] == small["reused_batch_sizes"] == [4, 4, 2]
    assert small["reused_vs_load"] < 1e-3


def test_the_test_process_never_imported_tensorflow():
    assert "tensorflow" not in sys.modules
