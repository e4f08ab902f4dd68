"""Shared helpers for the input tests (models, data, pipelines): real files made in the test.

Not a conftest: import what you need, e.g. ``from ..inputs_helpers import messy_folder``.

The test process must never import TensorFlow (other tests check that the parent side stays
free of it), so checks that need TensorFlow run in a fresh process: :func:`run_probe` runs
one of the ``probe_*`` functions of :mod:`tests.inputs_probes` there and returns its JSON.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

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
    """Run ``tests.inputs_probes.<name>(workdir)`` in a fresh Python process (real TensorFlow)
    and return the JSON it writes; fail with the child's stderr if it fails."""
    import json
    import subprocess
    import sys

    from workbench.engine.launcher import worker_env

    root = Path(__file__).resolve().parent.parent
    out = workdir / f"{name}.json"
    code = f"from tests.inputs_probes import {name}; {name}(__import__('pathlib').Path({str(workdir)!r}))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=worker_env(), capture_output=True,
                          text=True, timeout=timeout_s)
    if proc.returncode != 0 or not out.exists():
        raise AssertionError(f"probe {name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(out.read_text())
