"""The demo model: a small CNN trained here on the embedded real digits, cached on disk."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from workbench.atomic import atomic_write
from workbench.demo_assets import (
    CLASSES,
    DEMO_SIZE,
    EPOCHS,
    HELDOUT,
    LEARNING_RATE,
    MODEL_RECIPE,
    SEED,
    VERSION,
    DemoCacheError,
    _write_json,
    cache_dir,
    ensure_data,
    load_data,
    model_ready,
    paths,
    sha256,
)


def demo_cnn(keras: Any, size: int = DEMO_SIZE) -> Any:
    """The demo architecture (38k parameters): two strided convolutions, a small dense head
    and a float32 softmax. Chosen for about 98% held-out accuracy in ~10 s on 2 CPU cores."""
    layers = keras.layers
    inputs = keras.Input(shape=(size, size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(CLASSES, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="demo_cnn")


def train_model(keras: Any, epochs: int = EPOCHS) -> dict[str, Any]:
    """Train the demo model on the non-held-out images and cache it. Call under :func:`locked`."""
    ensure_data()
    p = paths()
    x, y = (np.asarray(a) for a in load_data())
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(SEED)
    model = demo_cnn(keras)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(x[HELDOUT:].astype(np.float32), y[HELDOUT:], batch_size=32, epochs=epochs, verbose=0)
    train_s = time.perf_counter() - t0
    probs = model.predict(x[:HELDOUT].astype(np.float32), batch_size=256, verbose=0)
    accuracy = float(np.mean(probs.argmax(1) == y[:HELDOUT]))
    atomic_write(p["model"], model.save)
    record = {
        "version": VERSION, "recipe": MODEL_RECIPE, "heldout_accuracy": accuracy, "heldout": HELDOUT, "epochs": epochs,
        "train_s": train_s, "keras_version": keras.__version__,
        "data_sha256": sha256(p["images"]), "sha256": {"model": sha256(p["model"])},
    }
    _write_json(p["model_meta"], record)
    return record


def load_model(keras: Any) -> Any:
    """The cached demo model (float32). Raises :class:`DemoCacheError` when not prepared."""
    if not model_ready():
        raise DemoCacheError(
            f"the demo model is not prepared in {cache_dir()}: run `python -m workbench.trial.prepare demo` "
            "(run_sweep does this before the first trial)"
        )
    return keras.saving.load_model(paths()["model"], safe_mode=True, compile=False)
