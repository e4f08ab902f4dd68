#!/usr/bin/env python3
# @@HEADER@@
"""A standalone inference job written by ``workbench script``: needs only Keras, TensorFlow
and numpy.

It runs one model over one dataset with the pipeline, precision and batch size the workbench
measured, loading the model the way the workbench's trials do, and writes the outputs (one row
per image, in the data's order) as an ``(N, ...)`` ``.npy`` file. It prints one progress line;
on bad input it prints one line to stderr and exits with code 2.
"""
# template: this file is the template of that script (``workbench.engine.scriptgen`` fills it in): the
# template: block of workbench imports below is replaced by the source of those very functions, so
# template: the script loads and feeds the model with the code the workbench measured with. It is
# template: never imported; the generator drops these lines.

from __future__ import annotations

import copy  # noqa: F401  (used by the copied code)
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace, TracebackType  # noqa: F401  (TracebackType: the copied code)
from typing import Any

import numpy as np

SETTINGS: dict[str, Any] = {}  # @@SETTINGS@@
PREFETCH_BATCHES = 2  # the workbench's stream pipeline: batches tf.data prepares ahead


class ConfigError(Exception):
    """Bad input: reported as one line on stderr, exit code 2."""


ModelFile = SimpleNamespace  # the copied loaders take a spec; they read only its fields


# @@COPIED-BEGIN@@ the workbench's own code, copied in by `workbench script`
from workbench.engine.folders import IMAGE_SUFFIXES, scan  # noqa: E402, F401
from workbench.engine.preflight import UNSAFE_HINT  # noqa: E402, F401
from workbench.specs import APPLICATIONS  # noqa: E402, F401
from workbench.trial.models import (  # noqa: E402, F401
    _adapt,
    _load_keras_file,
    _load_saved_model,
    _set_input_size,
    _strip_build_configs,
    application,
    input_size,
    load_file,
    rebuild,
    tiny_cnn,
)
from workbench.trial.npy_writer import NpyAppender  # noqa: E402
from workbench.trial.precision import (  # noqa: E402, F401
    _policy_name,
    current_policy,
    output_layer_names,
    set_layer_policies,
)
from workbench.trial.sources import fit_channels, resize_batch  # noqa: E402

# @@COPIED-END@@

# The copied functions call precision.<name>, as in the workbench's trial modules.
precision = SimpleNamespace(set_layer_policies=set_layer_policies, output_layer_names=output_layer_names,
                            current_policy=current_policy, policy_name=_policy_name)


def fail(message: str) -> None:
    print(f"{Path(sys.argv[0]).name}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


# ----------------------------------------------------------------- inputs, checked before TF


def read_npy_header(path: Path) -> tuple[tuple[int, int, int, int], np.dtype, int]:
    """(N, H, W, C), dtype and data offset of an image ``.npy`` file, from its header only."""
    fmt = np.lib.format
    try:
        with path.open("rb") as fh:
            version = fmt.read_magic(fh)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = read(fh)
            offset = fh.tell()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path.name}: not a readable .npy file ({exc})") from None
    if len(shape) not in (3, 4) or dtype.kind not in "uif" or fortran:
        raise ConfigError(f"{path.name}: expected numbers shaped (N, H, W, C) or (N, H, W), got {dtype} {shape}")
    if path.stat().st_size < offset + int(np.prod(shape)) * dtype.itemsize:
        raise ConfigError(f"{path.name} is truncated: it is shorter than its header says")
    full = tuple(int(s) for s in shape) if len(shape) == 4 else (*map(int, shape), 1)
    return full, dtype, offset  # type: ignore[return-value]


def check_inputs() -> dict[str, Any]:
    """Every file the job needs, checked with numpy only, so bad input fails in milliseconds."""
    model, data = SETTINGS["model"], SETTINGS["data"]
    if model["path"] is not None and not Path(model["path"]).exists():
        raise ConfigError(f"model file {model['path']!r} does not exist")
    output = Path(SETTINGS["output"])
    if not output.parent.is_dir():
        raise ConfigError(f"the output folder {str(output.parent)!r} does not exist")
    path = Path(data["path"])
    if not path.exists():
        raise ConfigError(f"data {data['path']!r} does not exist")
    if data["kind"] == "folder":
        if not path.is_dir():
            raise ConfigError(f"data {data['path']!r} is not a folder")
        files, _ = scan(path)
        if not files:
            raise ConfigError(f"image folder {data['path']!r} has no .jpg/.jpeg/.png files")
        return {"files": files}
    shape, dtype, offset = read_npy_header(path)
    return {"shape": shape, "dtype": dtype, "offset": offset, "n": min(shape[0], data["count"] or shape[0])}


# ----------------------------------------------------------------- model and data


def build_model(keras: Any) -> Any:
    """The model, built or loaded under the precision policy as the workbench's trials do."""
    m = SETTINGS["model"]
    size = tuple(m["image_size"]) if m["image_size"] else None
    keras.mixed_precision.set_global_policy(SETTINGS["precision"])
    if m["kind"] == "application":
        return application(keras, m["name"], size)
    if m["kind"] == "tiny":
        return tiny_cnn(keras, size or (32, 32))
    spec = SimpleNamespace(name=m["path"], image_size=size, allow_unsafe=m["allow_unsafe"], label=m["label"])
    if m["kind"] == "demo":
        loaded = keras.saving.load_model(m["path"], safe_mode=True, compile=False)
        return _adapt(keras, loaded, spec, current_policy(keras))
    return load_file(keras, spec)


def npy_batches(info: dict[str, Any], batch_size: int, size: tuple[int, int], channels: int) -> Any:
    """Batches read with ``file.readinto`` into one reused buffer (a batch is overwritten by
    the next), converted to float32, channels fitted and resized to the model's input."""
    shape, dtype, n = info["shape"], info["dtype"], info["n"]
    per_image = int(np.prod(shape[1:])) * dtype.itemsize
    raw = np.empty((batch_size, *shape[1:]), dtype=dtype)
    f32 = raw if dtype == np.float32 else np.empty(raw.shape, dtype=np.float32)
    with Path(SETTINGS["data"]["path"]).open("rb", buffering=0) as fh:
        fh.seek(info["offset"])
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            if fh.readinto(raw[:count].data.cast("B")) != count * per_image:
                raise ConfigError("the data file is shorter than its header says (truncated)")
            if f32 is not raw:
                np.copyto(f32[:count], raw[:count], casting="unsafe")
            batch = fit_channels(f32[:count], channels)
            yield np.asarray(resize_batch(batch, size)) if tuple(shape[1:3]) != tuple(size) else batch


def decode(tf: Any, path: Any, size: tuple[int, int], channels: int) -> Any:
    """One image file as the workbench decodes it: any JPEG/PNG mode to the model's channels,
    bilinear antialiased resize to its input."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
    image = tf.image.resize(image, size, method="bilinear", antialias=True)
    return tf.ensure_shape(image, (*size, channels))


def readable_files(tf: Any, files: list[Path], channels: int) -> tuple[list[Path], list[str]]:
    """The files that are JPEG or PNG inside and decode whole (at most the data's count, as the
    workbench's trials take them), and the ones skipped."""
    count = SETTINGS["data"]["count"]
    good: list[Path] = []
    skipped: list[str] = []
    for f in files:
        if count is not None and len(good) >= count:
            break
        try:
            with f.open("rb") as fh:
                magic = fh.read(8)
            if not magic.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")):
                raise ValueError("not JPEG or PNG content")
            tf.io.decode_image(tf.io.read_file(str(f)), channels=channels, expand_animations=False)
            good.append(f)
        except (OSError, ValueError, tf.errors.InvalidArgumentError, tf.errors.NotFoundError):
            skipped.append(str(f))
    if not good:
        raise ConfigError("no image in the folder could be decoded")
    return good, skipped


def folder_batches(tf: Any, files: list[Path], batch_size: int, size: tuple[int, int], channels: int) -> Any:
    """Each batch's files decoded one by one into one reused buffer."""
    buf = np.empty((batch_size, *size, channels), dtype=np.float32)
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        for j, f in enumerate(chunk):
            buf[j] = decode(tf, str(f), size, channels).numpy()
        yield buf[:len(chunk)]


# ----------------------------------------------------------------- the job


class Progress:
    """The one line the job prints, rewritten in place."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.monotonic()

    def add(self, count: int) -> None:
        self.done += count
        rate = self.done / max(time.monotonic() - self.t0, 1e-9)
        print(f"\rpredicted {self.done}/{self.total} images ({rate:.0f}/s)", end="", flush=True)


def stream_dataset(tf: Any, info: dict[str, Any], size: tuple[int, int], channels: int) -> Any:
    """The workbench's stream pipeline: tf.data with a bounded prefetch; folders decoded on
    tf.data's threads, .npy files read by a generator."""
    b = SETTINGS["batch_size"]
    if "files" in info:
        names = tf.data.Dataset.from_tensor_slices([str(f) for f in info["files"]])
        images = names.map(lambda p: decode(tf, p, size, channels), num_parallel_calls=tf.data.AUTOTUNE,
                           deterministic=True)
        return images.batch(b).prefetch(PREFETCH_BATCHES)
    h, w = info["shape"][1:3]
    spec = tf.TensorSpec((None, h, w, channels), tf.float32)
    fresh = lambda: (np.array(x) for x in npy_batches(info, b, (h, w), channels))  # noqa: E731
    ds = tf.data.Dataset.from_generator(fresh, output_signature=spec)
    if (h, w) != tuple(size):
        ds = ds.map(lambda x: resize_batch(x, size))
    return ds.prefetch(PREFETCH_BATCHES)


def run(tf: Any, model: Any, info: dict[str, Any], output: Path) -> int:
    """The measured pipeline over the data, the outputs written to ``output``; returns N."""
    pipeline, b = SETTINGS["pipeline"], SETTINGS["batch_size"]
    size, channels = input_size(model)
    n = len(info["files"]) if "files" in info else info["n"]
    batches = (folder_batches(tf, info["files"], b, size, channels) if "files" in info
               else npy_batches(info, b, size, channels))
    progress = Progress(n)
    if pipeline == "stream_to_disk":
        spec = tf.TensorSpec((None, *size, channels), tf.float32)
        call = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        with NpyAppender(output, n) as out:
            for batch in batches:
                result = call(batch)
                if isinstance(result, dict | list | tuple):
                    raise ConfigError("this model has several outputs; stream_to_disk writes one")
                out.append(np.asarray(result))
                progress.add(len(batch))
        return n
    if pipeline == "stream":
        outputs = model.predict(stream_dataset(tf, info, size, channels), verbose=0)
    else:
        x = np.empty((n, *size, channels), dtype=np.float32)
        start = 0
        for batch in batches:  # the whole dataset decoded into one array, batch by batch
            x[start:start + len(batch)] = batch
            start += len(batch)
        if pipeline == "in_memory":
            outputs = model.predict(x, batch_size=b, verbose=0)
        else:  # batch_loop: one predict call per slice, outputs collected
            parts = []
            for i in range(0, n, b):
                parts.append(np.asarray(model.predict(x[i:i + b], batch_size=b, verbose=0)))
                progress.add(len(parts[-1]))
            outputs = np.concatenate(parts)
    if isinstance(outputs, dict | list | tuple):
        raise ConfigError("this model has several outputs; the job writes one array")
    np.save(output, np.asarray(outputs))
    if pipeline != "batch_loop":
        progress.add(n)
    return n


def import_tensorflow() -> tuple[Any, Any]:
    """Keras and TensorFlow, imported with TensorFlow's start-up chatter on stderr silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ logs; Python errors still show
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras
        import tensorflow as tf
    except ImportError as exc:
        os.dup2(saved, 2)
        fail(f"this job needs TensorFlow and Keras ({exc}): pip install tensorflow")
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
    return keras, tf


def main() -> int:
    try:
        info = check_inputs()
    except ConfigError as exc:
        fail(str(exc))
    keras, tf = import_tensorflow()

    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)  # as the workbench's trials run
    output = Path(SETTINGS["output"])
    try:
        model = build_model(keras)
    except (ConfigError, OSError, ValueError) as exc:
        fail(f"cannot load the model: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
    try:
        if "files" in info:
            info["files"], info["skipped"] = readable_files(tf, info["files"], input_size(model)[1])
        n = run(tf, model, info, output)
    except ConfigError as exc:
        fail(str(exc))
    if "files" in info:  # which file each row is, and which files could not be read
        import json

        listing = {"files": [str(f) for f in info["files"]], "skipped": info["skipped"]}
        output.with_suffix(".files.json").write_text(json.dumps(listing, indent=1))
    print(f"\rpredicted {n} images -> {output}" + " " * 20, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
