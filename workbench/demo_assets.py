"""The embedded real dataset and the locally trained demo model, cached on disk.

The data are scikit-learn's handwritten digits (1,797 real 8x8 grayscale scans, 10 classes,
shipped inside the scikit-learn package: no download). They are upscaled to 32x32 RGB uint8,
shuffled once with a fixed seed, and stored as ``images.npy`` / ``labels.npy``. The first
:data:`HELDOUT` images are never used to train the demo model, so accuracy measured on them
(the drift phase uses the first images of a dataset) is held-out accuracy.

Cache folder: ``$WORKBENCH_CACHE``, else ``$XDG_CACHE_HOME/workbench``, else
``~/.cache/workbench``. Each artefact has a JSON record written after it, holding its SHA-256:
a missing record or a checksum that does not match means "rebuild". Building the data needs
numpy, Pillow and scikit-learn only; training needs Keras and runs in
``python -m workbench.engine.prepare`` (never inside a measured trial).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workbench.atomic import atomic_write, atomic_write_text

VERSION = 1
DEMO_SIZE = 32  # pixels a side of the cached images and of the demo model's input
CLASSES = 10
HELDOUT = 600  # the first images, kept out of training
IMAGES = 1797  # images in the set (scikit-learn's digits): known without building the cache
SEED = 1234
EPOCHS = 15
LEARNING_RATE = 2e-3
# What the cached files were made with: a change here (or in demo_cnn) must change these.
DATA_RECIPE = f"digits-{DEMO_SIZE}px-rgb-seed{SEED}"
MODEL_RECIPE = f"strided-cnn-38k-e{EPOCHS}-lr{LEARNING_RATE}-heldout{HELDOUT}"


class DemoCacheError(RuntimeError):
    """The demo model is not prepared (missing or corrupt) where a trial needs it."""


def cache_dir() -> Path:
    """The workbench's user cache folder (created on first use)."""
    root = os.environ.get("WORKBENCH_CACHE")
    if root:
        path = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        path = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "workbench"
    return path / f"demo-v{VERSION}"


def paths() -> dict[str, Path]:
    root = cache_dir()
    return {
        "images": root / "images.npy",
        "labels": root / "labels.npy",
        "data_meta": root / "data.json",
        "model": root / "model.keras",
        "model_meta": root / "model.json",
        "lock": root / "prepare.lock",
    }


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=1))  # a reader sees the whole record or none


def _files_match(record: dict[str, Any] | None, files: dict[str, Path], recipe: str) -> bool:
    if not record or record.get("version") != VERSION or record.get("recipe") != recipe:
        return False
    sums = record.get("sha256", {})
    return all(p.is_file() and sums.get(k) == sha256(p) for k, p in files.items())


def data_ready() -> bool:
    """True when the cached demo images and labels exist and match their checksums."""
    p = paths()
    return _files_match(_read_json(p["data_meta"]), {"images": p["images"], "labels": p["labels"]}, DATA_RECIPE)


def model_ready() -> bool:
    """True when the cached demo model exists, matches its checksum and the current data."""
    p = paths()
    record = _read_json(p["model_meta"])
    data = _read_json(p["data_meta"])
    if not data or not record or record.get("data_sha256") != data.get("sha256", {}).get("images"):
        return False
    return _files_match(record, {"model": p["model"]}, MODEL_RECIPE)


def model_record() -> dict[str, Any] | None:
    """What training recorded (held-out accuracy, seconds, epochs), or None."""
    return _read_json(paths()["model_meta"])


_lock_depth = 0  # the lock is re-entrant within a process (flock on a second fd would wait)


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Serialise preparation between processes (two sweeps starting at once)."""
    global _lock_depth
    if _lock_depth:
        _lock_depth += 1
        try:
            yield
        finally:
            _lock_depth -= 1
        return
    lock = paths()["lock"]
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        _lock_depth = 1
        try:
            yield
        finally:
            _lock_depth = 0
            fcntl.flock(fh, fcntl.LOCK_UN)


def digits_rgb(size: int = DEMO_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (N, size, size, 3) uint8 in [0, 255], shuffled, and labels."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)  # 0..16 -> 0..255
    big = np.stack([
        np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR)) for img in small
    ])
    if len(big) != IMAGES:  # the size is checked against IMAGES before any trial: keep them equal
        raise RuntimeError(f"scikit-learn's digits hold {len(big)} images, not {IMAGES}: update demo_assets.IMAGES")
    order = np.random.default_rng(SEED).permutation(len(big))
    x = np.repeat(big[order][..., None], 3, axis=-1)
    return np.ascontiguousarray(x), digits.target[order].astype(np.int64)


def _save_npy(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda tmp: np.save(tmp, array, allow_pickle=False))


def ensure_data() -> None:
    """Build the cached demo images and labels unless they are already valid."""
    if data_ready():
        return
    with locked():
        if data_ready():
            return
        p = paths()
        x, y = digits_rgb()
        _save_npy(p["images"], x)
        _save_npy(p["labels"], y)
        _write_json(p["data_meta"], {
            "version": VERSION, "recipe": DATA_RECIPE, "source": "sklearn.datasets.load_digits", "shape": list(x.shape),
            "heldout": HELDOUT, "sha256": {"images": sha256(p["images"]), "labels": sha256(p["labels"])},
        })


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """The cached demo images (memory-mapped read-only) and labels, built if needed."""
    ensure_data()
    p = paths()
    return np.load(p["images"], mmap_mode="r", allow_pickle=False), np.load(p["labels"], allow_pickle=False)
