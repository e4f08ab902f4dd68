"""Helpers shared by the test tiers: fast trial settings, finding trial processes, real input
files (image folders, .npy arrays, a user's Keras model), and the checks that need TensorFlow.

Not a conftest: import what you need, e.g. ``from ..helpers import messy_folder``.

The test process must never import TensorFlow (tests check that the parent side stays free
of it), so checks that need TensorFlow are the ``probe_*`` functions at the end: :func:`run_probe`
runs one in a fresh process, where it writes what it saw to ``workdir/<probe>.json``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from workbench.config import TimingSpec

ROOT = Path(__file__).resolve().parent.parent

# Fast timing for tests: one warm-up batch, a couple of timed batches, one pass, no minimum duration.
FAST = TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0.0, min_passes=1, drift_samples=0)


def trial_processes(root_pid: int | None = None) -> list:
    """Live trial processes under ``root_pid`` (default: this process): spawned workers, or
    children forked by the fork server (they keep its command line; the server is no trial)."""
    import psutil

    found = []
    for p in psutil.Process(root_pid).children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            parent = p.parent()
            forked = parent is not None and "workbench.trial.forkserver" in " ".join(parent.cmdline())
            if forked or "workbench.trial.worker" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:  # it ended while we looked
            pass
    return found


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# Panel settings for fast trials of the tiny model (the CLI's option names).
FAST_PANEL = {"model": "tiny", "data": "synthetic:64", "batch_sizes": "8", "warmup_batches": 1, "min_batches": 2,
              "min_duration": 0.0, "drift_samples": 0}


def make_panel(tmp_path: Path, **settings: Any) -> Any:
    """A :class:`~workbench.ui.Workbench` on the tiny model, writing into ``tmp_path/runs``."""
    from workbench.ui import Workbench

    return Workbench(**{**FAST_PANEL, "out": str(tmp_path / "runs"), **settings})


# -- input files ---------------------------------------------------------------------------

# What messy_folder() writes: readable images, files that must be skipped, files ignored.
GOOD = {
    "cats/rgb.jpg": ("RGB", (40, 30)),
    "cats/rgba.png": ("RGBA", (50, 50)),
    "cats/palette.png": ("P", (20, 60)),
    "cats/gray.JPG": ("L", (33, 33)),
    "dogs/big.jpeg": ("RGB", (120, 90)),
    "dogs/gray_alpha.png": ("LA", (17, 25)),
}
BAD = ["cats/broken.jpg", "cats/truncated.jpg", "dogs/truncated.png", "dogs/gif_inside.png"]
IGNORED = ["cats/notes.txt", "cats/.DS_Store", "dogs/._big.jpeg", "README.md", "dogs/scan.tiff"]


def _image(mode: str, size: tuple[int, int], seed: int) -> Any:
    from PIL import Image

    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))
    return rgb.convert(mode)


def messy_folder(root: Path, classes: bool = True) -> Path:
    """A folder as users have it: JPEG/PNG of mixed sizes and modes (gray, RGBA, palette),
    broken, truncated and mislabelled files, and files that are not images at all."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)

    def place(rel: str) -> Path:
        path = root / (rel if classes else rel.split("/")[-1])
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    for seed, (rel, (mode, size)) in enumerate(GOOD.items()):
        _image(mode, size, seed).save(place(rel))
    place("cats/broken.jpg").write_bytes(os.urandom(2000))
    full = place("cats/truncated.jpg")
    _image("RGB", (64, 64), 99).save(full, quality=95)
    full.write_bytes(full.read_bytes()[:1500])
    png = place("dogs/truncated.png")
    _image("RGB", (64, 64), 98).save(png)
    png.write_bytes(png.read_bytes()[: len(png.read_bytes()) // 2])
    _image("RGB", (16, 16), 97).save(place("dogs/gif_inside.png"), format="GIF")
    place("cats/notes.txt").write_text("not an image")
    place("cats/.DS_Store").write_bytes(b"\0\1\2")
    place("dogs/._big.jpeg").write_bytes(b"AppleDouble junk")
    place("README.md").write_text("# my photos")
    Image.new("RGB", (8, 8)).save(place("dogs/scan.tiff"))
    return root


def write_npy(path: Path, n: int, size: int = 32, channels: int = 3, dtype: str = "float32", seed: int = 0) -> np.ndarray:
    """An (n, size, size, channels) array of pixel values in [0, 255], saved and returned."""
    rng = np.random.default_rng(seed)
    x = (rng.uniform(0, 255, size=(n, size, size, channels))).astype(dtype)
    np.save(path, x)
    return x


def small_cnn(keras: Any, size: int = 24, flatten: bool = False, lambda_layer: bool = False) -> Any:
    """A user's model: conv, (Lambda), pooling or flatten, a softmax over 5 classes."""
    layers = keras.layers
    inputs = keras.Input((size, size, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(6, 3, activation="relu")(x)
    if lambda_layer:
        x = layers.Lambda(lambda t: t * 2.0)(x)
    x = layers.Flatten()(x) if flatten else layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(5, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def run_probe(name: str, workdir: Path, timeout_s: float = 300.0) -> dict[str, Any]:
    """Run ``tests.helpers.<name>(workdir)`` (a ``probe_*`` below) in a fresh Python process (real TensorFlow)
    and return the JSON it writes; fail with the child's stderr if it fails."""
    import subprocess
    import sys

    from workbench.engine.launcher import worker_env

    out = workdir / f"{name}.json"
    code = f"from tests.helpers import {name}; {name}(__import__('pathlib').Path({str(workdir)!r}))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=worker_env(), capture_output=True,
                          text=True, timeout=timeout_s)
    if proc.returncode != 0 or not out.exists():
        raise AssertionError(f"probe {name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(out.read_text())


# -- checks that need TensorFlow (run in a fresh process by run_probe) -------------------

def _error(call: Callable[[], Any]) -> dict[str, str] | None:
    try:
        call()
    except Exception as exc:  # the probe reports what was raised, the test judges it
        return {"type": type(exc).__name__, "message": str(exc)}
    return None


def _inner_policies(model: Any) -> list[str]:
    """Policies of the layers between the input and the output layer."""
    return sorted({layer.dtype_policy.name for layer in model.layers[1:-1]})


def _write(workdir: Path, name: str, report: dict[str, Any]) -> None:
    (workdir / f"{name}.json").write_text(json.dumps(report, default=str))


def probe_models(workdir: Path) -> None:
    """Every model source, safe mode, precision rebuilds and input-size overrides."""
    import keras

    from workbench import demo_assets
    from workbench.config import PRECISIONS, ModelSpec
    from workbench.trial import models, precision

    keras.utils.set_random_seed(0)
    user = small_cnn(keras)
    user.save(workdir / "user.keras")
    user.save(workdir / "user.h5")  # legacy Keras 2 format
    user.export(str(workdir / "saved"))  # TensorFlow SavedModel
    small_cnn(keras, flatten=True).save(workdir / "flat.keras")
    lam = small_cnn(keras, lambda_layer=True)
    lam.save(workdir / "lambda.keras")
    lam.save(workdir / "lambda.h5")
    x = np.random.default_rng(0).uniform(0, 255, (8, 24, 24, 3)).astype(np.float32)
    reference = user.predict(x, verbose=0)
    report: dict[str, Any] = {}

    def build(name: str, policy: str = "float32", **kw: Any) -> Any:
        precision.apply_policy(keras, policy)
        return models.build_model(keras, ModelSpec(name, **kw))

    for fname in ("user.keras", "user.h5"):
        for policy in PRECISIONS:
            m = build(str(workdir / fname), policy)
            out = m.predict(x, verbose=0)
            report[f"{fname}:{policy}"] = {
                "inner_policies": _inner_policies(m), "output_policy": m.layers[-1].dtype_policy.name,
                "output_dtype": str(out.dtype), "max_diff": float(np.abs(out - reference).max()),
                "same_weights": all(np.array_equal(a, b) for a, b in zip(m.get_weights(), user.get_weights(), strict=True)),
                "input": models.input_size(m),
            }
    saved = build(str(workdir / "saved"))
    report["saved"] = {"input": models.input_size(saved),
                       "max_diff": float(np.abs(saved.predict(x, verbose=0) - reference).max())}
    report["saved_mixed_error"] = _error(lambda: build(str(workdir / "saved"), "mixed_float16"))
    for fname in ("lambda.keras", "lambda.h5"):
        report[f"{fname}:safe_error"] = _error(lambda f=fname: build(str(workdir / f)))
    unsafe = build(str(workdir / "lambda.keras"), allow_unsafe=True)
    report["lambda_unsafe_diff"] = float(np.abs(unsafe.predict(x, verbose=0) - lam.predict(x, verbose=0)).max())
    resized = build(str(workdir / "user.keras"), "mixed_bfloat16", image_size=40)
    report["resized"] = {"input": models.input_size(resized), "inner_policies": _inner_policies(resized),
                         "out_shape": list(resized.predict(np.zeros((2, 40, 40, 3), np.float32), verbose=0).shape)}
    report["flat_resize_error"] = _error(lambda: build(str(workdir / "flat.keras"), image_size=40))
    for policy in ("float32", "mixed_bfloat16"):
        app = build("mobilenet_v3_small", policy, image_size=32)
        report[f"application:{policy}"] = {
            "input": models.input_size(app), "params": int(app.count_params()),
            "conv_policies": sorted({la.dtype_policy.name for la in app.layers if "conv" in la.name.lower()}),
        }
    images, labels = (np.asarray(a) for a in demo_assets.load_data())
    held = slice(0, demo_assets.HELDOUT)
    for policy in ("float32", "mixed_float16"):
        demo = build("demo", policy)
        probs = demo.predict(images[held].astype(np.float32), verbose=0)
        report[f"demo:{policy}"] = {"input": models.input_size(demo), "inner_policies": _inner_policies(demo),
                                    "accuracy": float(np.mean(probs.argmax(1) == labels[held]))}
    _write(workdir, "probe_models", report)


def probe_data(workdir: Path) -> None:
    """Decoding folders and .npy files for in-memory use and for streaming, side by side."""
    from workbench.config import DataSpec
    from workbench.trial import sources as data

    report: dict[str, Any] = {}
    for name, size, channels in (("classes", (24, 24), 3), ("classes", (20, 28), 1), ("npy_small", (24, 24), 3)):
        kind = "npy" if name.startswith("npy") else "folder"
        path = workdir / (f"{name}.npy" if kind == "npy" else name)
        spec = DataSpec(kind=kind, path=str(path))
        loaded = data.build_source(spec, size, channels)
        x = loaded.load()
        streamed = data.build_source(spec, size, channels)
        batches = list(streamed.dataset(4).as_numpy_iterator())
        s = np.concatenate(batches)
        entry: dict[str, Any] = {
            "shape": list(x.shape), "dtype": str(x.dtype), "min": float(x.min()), "max": float(x.max()),
            "stream_shape": list(s.shape), "stream_vs_load": float(np.abs(s - x).max()),
            "batch_sizes": [len(b) for b in batches], "head_vs_load": float(np.abs(streamed.head(5) - x[:5]).max()),
        }
        # stream_to_disk's reader: one reused buffer, so each batch is copied before the next
        reused = [np.array(b) for b in data.build_source(spec, size, channels).reused_batches(4)]
        entry["reused_vs_load"] = float(np.abs(np.concatenate(reused) - x).max())
        entry["reused_batch_sizes"] = [len(b) for b in reused]
        if kind == "folder" and channels == 3:
            gray = [i for i, f in enumerate(loaded.files) if f.name == "gray.JPG"][0]
            entry["gray_channels_equal"] = bool(np.array_equal(x[gray, ..., 0], x[gray, ..., 2]))
        report[f"{name}:{size[0]}x{size[1]}x{channels}"] = entry
    _write(workdir, "probe_data", report)


def probe_save_models(workdir: Path) -> None:
    """A user's model saved as .keras and as a legacy .h5 file (nothing else)."""
    import keras


    keras.utils.set_random_seed(0)
    model = small_cnn(keras)
    model.save(workdir / "user.keras")
    model.save(workdir / "user.h5")
    _write(workdir, "probe_save_models", {"params": int(model.count_params())})


def probe_predict_reference(workdir: Path) -> None:
    """``model.predict`` of the saved user model on ``x.npy``: what a job's outputs must match."""
    import keras

    model = keras.saving.load_model(workdir / "user.keras", compile=False)
    x = np.load(workdir / "x.npy")
    np.save(workdir / "reference.npy", model.predict(x, batch_size=64, verbose=0))
    _write(workdir, "probe_predict_reference", {"n": len(x)})


def fake_trials(monkeypatch: Any) -> list[tuple[int | None, int]]:
    """Stand in for every trial a sweep runs (a real one needs TensorFlow): an ``ok`` result whose
    host peak grows with the batch and the images, with no process started. Returns the list the
    settings run are appended to, as (images, batch)."""
    import workbench.engine.runner as runner
    from workbench.results import Status, TrialResult

    ran: list[tuple[int | None, int]] = []

    def fake_trial(cfg: Any, *, cancel: Any = None, launcher: Any = None, **_: Any) -> TrialResult:
        result = TrialResult.for_trial(cfg)
        result.status, result.images = Status.OK, cfg.data.count
        result.host_peak_bytes = float(100 * 2**20 + cfg.data.count * 4000 + cfg.batch_size * 50_000)
        result.throughput_ips = 100.0 * cfg.batch_size
        ran.append((cfg.data.count, cfg.batch_size))
        return result

    monkeypatch.setattr(runner, "run_trial", fake_trial)
    return ran
