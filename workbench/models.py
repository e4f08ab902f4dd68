"""Model sources for the worker: keras.applications by name, built-in models, files.

Runs inside the worker process (imports Keras lazily, after the precision policy is set).
"""

from __future__ import annotations

from typing import Any

from .config import APPLICATIONS, BUILTIN_MODELS, ModelSpec


def tiny_cnn(keras: Any, image_size: tuple[int, int], channels: int = 3, classes: int = 10) -> Any:
    """A small CNN (about 3k parameters) for fast tests: real layers, real activations."""
    layers = keras.layers
    inputs = keras.Input(shape=(*image_size, channels))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="tiny_cnn")


def application(keras: Any, name: str, image_size: tuple[int, int] | None) -> Any:
    """A keras.applications model with random weights (no downloads are possible)."""
    ctor_name, default_size, _ = APPLICATIONS[name.lower()]
    size = image_size or (default_size, default_size)
    ctor = getattr(keras.applications, ctor_name)
    return ctor(weights=None, input_shape=(*size, 3), classes=1000)


def build_model(keras: Any, spec: ModelSpec) -> Any:
    """Build or load the model named by ``spec`` under the current global dtype policy."""
    kind = spec.kind
    if kind == "application":
        return application(keras, spec.name, spec.image_size)
    if kind == "builtin" and spec.name.lower() == "tiny":
        return tiny_cnn(keras, spec.image_size or (BUILTIN_MODELS["tiny"],) * 2)
    raise NotImplementedError(f"model {spec.name!r} ({kind}) is not available yet")


def input_size(model: Any) -> tuple[tuple[int, int], int]:
    """(height, width) and channels of a model's image input."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        raise ValueError(f"the model's input shape {shape} is not (batch, height, width, channels)")
    return (int(shape[1]), int(shape[2])), int(shape[3])
