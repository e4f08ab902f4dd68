"""Pre-flight checks of the user's files, without TensorFlow, before any trial starts.

Models:
A ``.keras`` file is a zip holding ``config.json``; a legacy ``.h5`` file keeps the same JSON
in its ``model_config`` attribute. Reading them here lets the parent refuse, in milliseconds
and with a clear message, a file Keras would refuse in every trial anyway (safe mode), or a
file that is not a model at all. A SavedModel folder holds a traced graph, not a config.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.config import DataSpec, ModelSpec, user_path
from workbench.engine.folders import folder_listing, scan
from workbench.errors import ConfigError

UNSAFE_HINT = (
    "Keras safe mode refuses to load it because loading runs Python code stored in the file; "
    "if you trust the file, pass --allow-unsafe (ModelSpec(..., allow_unsafe=True))"
)


def read_model_config(path: str | Path) -> dict[str, Any] | None:
    """The architecture JSON of a ``.keras`` or ``.h5`` file; None for a SavedModel folder.

    Raises :class:`ConfigError` when the file cannot be a Keras model.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        return None
    suffix = path.suffix.lower()
    try:
        if suffix == ".keras":
            with zipfile.ZipFile(path) as zf:
                return json.loads(zf.read("config.json"))
        import h5py  # a dependency that does not import TensorFlow

        with h5py.File(path, "r") as fh:
            raw = fh.attrs.get("model_config")
            if raw is None:
                raise ConfigError(
                    f"model file {path.name!r} holds weights only (no model_config): save the whole "
                    "model with model.save('model.keras'), or model.save('model.h5') in Keras 2"
                )
            return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except ConfigError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        kind = "a .keras zip with config.json" if suffix == ".keras" else "an HDF5 Keras model"
        raise ConfigError(f"model file {path.name!r} is not {kind} ({type(exc).__name__}: {exc})") from None


def unsafe_layers(config: Any) -> list[str]:
    """Names of the layers whose loading would run Python code stored in the file.

    Keras 3 stores a Lambda's Python function as bytecode under ``"class_name": "__lambda__"``;
    Keras 2 ``.h5`` files mark it ``"function_type": "lambda"``.
    """
    found: list[str] = []

    def visit(obj: Any, layer: str | None) -> None:
        if isinstance(obj, dict):
            cfg = obj.get("config")
            name = cfg.get("name") if isinstance(cfg, dict) and isinstance(cfg.get("name"), str) else layer
            if obj.get("class_name") == "__lambda__" or obj.get("function_type") == "lambda":
                found.append(str(layer or name or "?"))
                return
            for value in obj.values():
                visit(value, name if obj.get("class_name") else layer)
        elif isinstance(obj, list):
            for value in obj:
                visit(value, layer)

    visit(config, None)
    return sorted(set(found))


def check_model_spec(spec: ModelSpec) -> None:
    """Refuse, before any trial starts, a model file that safe mode would refuse."""
    if spec.kind != "file":
        return
    config = read_model_config(spec.name)
    if config is None or spec.allow_unsafe:
        return
    unsafe = unsafe_layers(config)
    if unsafe:
        raise ConfigError(
            f"model file {Path(spec.name).name!r} contains Lambda layer(s) {', '.join(unsafe)}: {UNSAFE_HINT}"
        )


def is_saved_model(spec: ModelSpec) -> bool:
    """True when the spec names a TensorFlow SavedModel folder (a fixed, traced graph)."""
    return spec.kind == "file" and Path(spec.name).expanduser().is_dir()


# ------------------------------------------------------------------ data files


def read_npy_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, data offset) of a ``.npy`` file, reading only its header."""
    fmt = np.lib.format
    try:
        with path.open("rb") as fh:
            version = fmt.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            offset = fh.tell()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path.name}: not a readable .npy file ({exc})") from None
    if dtype.hasobject:
        raise ConfigError(f"{path.name}: not a plain numeric .npy array (it holds Python objects)")
    return tuple(shape), bool(fortran), dtype, offset


@dataclass(frozen=True)
class NpyInfo:
    """What a ``.npy`` image file holds, read from its header: ``shape`` is (N, H, W, C)."""

    shape: tuple[int, int, int, int]
    dtype: np.dtype
    offset: int  # where the data starts

    @property
    def count(self) -> int:
        return int(self.shape[0])


def npy_info(path: Path) -> NpyInfo:
    """Parse and check a ``.npy`` image file's header: numbers shaped (N, H, W[, C]), C order,
    not truncated. Raises :class:`ConfigError` naming the problem."""
    path = Path(path).expanduser()
    shape, fortran, dtype, offset = read_npy_header(path)
    if len(shape) not in (3, 4) or dtype.kind not in "uif":
        raise ConfigError(f"{path.name}: expected numbers shaped (N, H, W, C) or (N, H, W), got {dtype} {shape}")
    if fortran:
        raise ConfigError(f"{path.name} is stored in Fortran order: save np.ascontiguousarray(x)")
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if path.stat().st_size < expected:
        raise ConfigError(
            f"{path.name} is truncated: its header promises {expected} bytes, the file has {path.stat().st_size}"
        )
    full = shape if len(shape) == 4 else (*shape, 1)
    if full[0] == 0:
        raise ConfigError(f"{path.name} holds no images (its shape is {shape}): give a .npy with at least one image")
    if full[3] not in IMAGE_CHANNELS:
        raise ConfigError(f"{path.name} holds {full[3]}-channel images (shape {shape}): images have 1 (gray), "
                          "3 (RGB) or 4 (RGBA) channels; save the array as (N, H, W, 3) or (N, H, W)")
    return NpyInfo(shape=(int(full[0]), int(full[1]), int(full[2]), int(full[3])), dtype=dtype, offset=offset)


IMAGE_CHANNELS = (1, 3, 4)
DECODABLE_FORMATS = ("JPEG", "MPO", "PNG")  # MPO: the JPEG variant many cameras write


def check_image(path: Path) -> str | None:
    """None when Pillow decodes the whole image as JPEG or PNG, else the reason it cannot."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.format not in DECODABLE_FORMATS:
                return f"{img.format or 'unknown'} content, not JPEG or PNG"
            img.load()  # the full decode: a truncated file fails here, not at open
    except Exception as exc:  # untrusted files fail in many ways; none may stop a sweep
        message = str(exc).replace(str(path), path.name).strip()[:120]
        return f"{type(exc).__name__}: {message or 'unreadable'}"
    return None


def available_images(data: DataSpec) -> int | None:
    """How many images the data holds, read without TensorFlow: a ``.npy`` header, a folder
    scan (image files by name; corrupt ones are skipped later, in the trial; listed once while
    the folder is unchanged: :func:`~workbench.engine.folders.folder_listing`), the demo set's
    known size. None for synthetic data, which makes as many as asked for."""
    if data.kind == "npy":
        return npy_info(Path(data.path or "")).count
    if data.kind == "folder":
        count = folder_listing(Path(data.path or "").expanduser()).count
        if not count:
            raise ConfigError(f"image folder {data.path!r} has no .jpg/.jpeg/.png files")
        return count
    if data.kind == "demo":
        from workbench.demo_assets import IMAGES

        return IMAGES
    return None


def check_image_counts(data: DataSpec, counts: tuple[int, ...] | None = None) -> None:
    """Refuse, before any trial, a dataset size above what the data holds.

    ``counts`` are a sweep's dataset sizes (``--images``); without them, the data's own count
    (``demo:5000``) is checked. Each size runs on the first K images, so K must exist.
    """
    wanted = [k for k in (counts or ((data.count,) if data.count else ())) if k]
    if not wanted or data.kind == "synthetic":
        return
    have = available_images(data)
    if have is None or max(wanted) <= have:
        return
    what = {"npy": f"the .npy file {Path(data.path or '').name!r}", "folder": f"the folder {data.path!r}",
            "demo": "the demo set"}[data.kind]
    raise ConfigError(f"{max(wanted):,} images asked for, but {what} holds {have:,}: "
                      f"choose sizes of at most {have:,} (e.g. --images {max(have // 4, 1)},{have})")


def check_data_spec(data: DataSpec) -> None:
    """Cheap checks of data on disk before any trial: a .npy header, a folder with images,
    and a count the data can supply."""
    available_images(data)
    check_image_counts(data)
    if data.kind == "folder":
        check_some_readable(Path(data.path or "").expanduser(), str(data.path))


def check_some_readable(root: Path, label: str) -> None:
    """Refuse a folder none of whose images Pillow can decode (a trial would find nothing to
    predict). A few files spread over the folder are decoded first; only when every one of
    those fails are the others tried, stopping at the first good one."""
    listing = folder_listing(root)
    sample = listing.sample
    reasons = [check_image(f) for f in sample]
    if any(r is None for r in reasons):
        return
    if listing.count > len(sample):
        # Listed again, whole: only a folder whose spread sample is all broken gets here, and
        # the listing kept holds the sample, not the million paths.
        picked = set(sample)
        for f in scan(root)[0]:
            if f not in picked and check_image(f) is None:
                return
    raise ConfigError(f"image folder {label!r}: none of its {listing.count} image file(s) can be decoded "
                      f"(e.g. {sample[0].name}: {reasons[0]}); give a folder of readable JPEG or PNG images")


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Refuse, before any work, a results folder that cannot be one: an existing file, a path
    under a file, or a place this user cannot write."""
    shown = str(out_dir)[:120]
    path = user_path(str(out_dir), "results folder")
    if path.exists() and not path.is_dir():
        raise ConfigError(f"results folder {shown!r} is an existing file: give a folder (--out) for the results")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"results folder {shown!r} lies under {str(parent)!r}, a file: give a folder (--out)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"results folder {shown!r}: no permission to write in {str(parent)!r}; give another --out")
    return path
