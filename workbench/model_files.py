"""Read a saved model's architecture without TensorFlow: safe-mode checks before any trial.

A ``.keras`` file is a zip holding ``config.json``; a legacy ``.h5`` file keeps the same JSON
in its ``model_config`` attribute. Reading them here lets the parent refuse, in milliseconds
and with a clear message, a file Keras would refuse in every trial anyway (safe mode), or a
file that is not a model at all. A SavedModel folder holds a traced graph, not a config.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from .config import ModelSpec
from .errors import ConfigError

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
