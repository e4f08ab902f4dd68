"""Model sources for the worker: keras.applications by name, built-in models, model files.

Runs inside the worker process (Keras is passed in, imported after the precision policy is
set). Sources:

* keras.applications by name, ``weights=None`` (no downloads), built under the global policy;
* ``tiny``: a small random CNN for fast tests; ``demo``: the CNN trained on the embedded
  digits, loaded from the cache that ``workbench.engine.prepare`` fills;
* a ``.keras`` file (safe mode on unless the spec allows unsafe loading), a legacy Keras 2
  ``.h5`` file, or a TensorFlow SavedModel folder (wrapped in a ``TFSMLayer``).

A loaded model keeps the dtype policies stored in its file, so for a mixed precision (or an
input size the user overrides) it is rebuilt from its config and given the same weights.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Protocol

from workbench.config import APPLICATIONS, BUILTIN_MODELS, ModelSpec
from workbench.engine.preflight import UNSAFE_HINT
from workbench.errors import ConfigError
from workbench.trial import demo_model, precision


class ModelFile(Protocol):
    """What the file loaders read of a model spec: a :class:`ModelSpec`, or the namespace that
    the standalone job of ``workbench script`` builds from its settings."""

    @property
    def name(self) -> str: ...
    @property
    def image_size(self) -> tuple[int, int] | None: ...
    @property
    def allow_unsafe(self) -> bool: ...
    @property
    def label(self) -> str: ...


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


def _set_input_size(config: dict[str, Any], size: tuple[int, int]) -> bool:
    """Point a saved config's top-level image input at ``size``; False when it has none."""
    found = False
    names = config.get("input_layers")
    inputs = {names[0]} if names and isinstance(names[0], str) else {n[0] for n in names or []}
    for layer in config.get("layers", []):
        cfg = layer.get("config", {})
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        is_input = layer.get("class_name") == "InputLayer" and (not inputs or cfg.get("name") in inputs)
        if (is_input or "batch_input_shape" in cfg) and shape and len(shape) == 4:
            key = "batch_shape" if "batch_shape" in cfg else "batch_input_shape"
            cfg[key] = [shape[0], size[0], size[1], shape[3]]
            found = True
    if isinstance(config.get("build_input_shape"), list) and len(config["build_input_shape"]) == 4:
        config["build_input_shape"] = [None, size[0], size[1], config["build_input_shape"][3]]
        found = True
    return found


def _strip_build_configs(config: Any) -> None:
    """Drop recorded build shapes, so every layer is built for the new input size."""
    if isinstance(config, dict):
        config.pop("build_config", None)
        for value in config.values():
            _strip_build_configs(value)
    elif isinstance(config, list):
        for value in config:
            _strip_build_configs(value)


def rebuild(keras: Any, model: Any, policy: str, image_size: tuple[int, int] | None, label: str) -> Any:
    """The same model and weights rebuilt from its config under ``policy`` and input size."""
    try:
        config = copy.deepcopy(model.get_config())
    except NotImplementedError:
        raise ConfigError(
            f"model {label!r} is a subclassed model without get_config(): it cannot be rebuilt for "
            f"{policy} or another input size; run it in float32 at its own size"
        ) from None
    if policy != "float32":
        precision.set_layer_policies(config, policy, keep_float32=precision.output_layer_names(config))
    if image_size is not None:
        if not _set_input_size(config, image_size):
            raise ConfigError(f"model {label!r} has no image input whose size can be changed")
        _strip_build_configs(config)
    try:
        new = type(model).from_config(config)
        new.set_weights(model.get_weights())
    except (ValueError, TypeError) as exc:
        if image_size is None:
            raise
        first = str(exc).strip().splitlines()[0][:200]
        raise ConfigError(
            f"model {label!r} does not accept {image_size[0]}x{image_size[1]} inputs ({first}): "
            f"leave the image size unset to use {input_size(model)[0]}"
        ) from None
    return new


def _load_keras_file(keras: Any, path: Path, allow_unsafe: bool) -> Any:
    try:
        return keras.saving.load_model(path, safe_mode=not allow_unsafe, compile=False)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "arbitrary code" in str(exc):
            raise ConfigError(f"model file {path.name!r} contains a Lambda layer: {UNSAFE_HINT}") from None
        raise


def _load_saved_model(keras: Any, path: Path, image_size: tuple[int, int] | None) -> Any:
    """A SavedModel's serving signature wrapped as a Keras model (float32, fixed graph)."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures.get("serving_default")
    if signature is None:
        raise ConfigError(f"SavedModel {path.name!r} has no 'serving_default' signature")
    specs = list(signature.structured_input_signature[1].values())
    if len(specs) != 1 or specs[0].shape.rank != 4:
        raise ConfigError(f"SavedModel {path.name!r} must take one (batch, height, width, channels) image input")
    _, h, w, c = specs[0].shape.as_list()
    if image_size is not None and (h, w) != (None, None) and (h, w) != tuple(image_size):
        raise ConfigError(f"SavedModel {path.name!r} takes only {h}x{w} inputs: leave the image size unset")
    if image_size is None and (h is None or w is None):
        raise ConfigError(f"SavedModel {path.name!r} accepts any image size: give one, e.g. --image-size 224")
    size = image_size or (h, w)
    inputs = keras.Input(shape=(*size, c))
    outputs = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")(inputs)
    if isinstance(outputs, dict):  # one named output per signature key: the first, in key order
        outputs = outputs[sorted(outputs)[0]]
    return keras.Model(inputs, outputs, name=path.name)


def load_file(keras: Any, spec: ModelFile) -> Any:
    """Load a model file or SavedModel folder under the current global policy."""
    path = Path(spec.name).expanduser()
    policy = precision.current_policy(keras)
    if path.is_dir():
        if policy != "float32":
            raise ConfigError(f"SavedModel {path.name!r} is a fixed float32 graph: run it in float32")
        return _load_saved_model(keras, path, spec.image_size)
    if spec.allow_unsafe:
        keras.config.enable_unsafe_deserialization()  # the rebuild below deserialises again
    return _adapt(keras, _load_keras_file(keras, path, spec.allow_unsafe), spec, policy)


def _adapt(keras: Any, model: Any, spec: ModelFile, policy: str) -> Any:
    """Rebuild a loaded model when the precision or the input size must change."""
    (h, w), _ = input_size(model, allow_any=True)
    size = spec.image_size
    if size is None and (h is None or w is None):
        raise ConfigError(f"model {spec.label!r} accepts any image size: give one, e.g. --image-size 224")
    if size is not None and (h, w) == tuple(size):
        size = None
    if policy == "float32" and size is None:
        return model
    return rebuild(keras, model, policy, size, spec.label)


def build_model(keras: Any, spec: ModelSpec) -> Any:
    """Build or load the model named by ``spec`` under the current global dtype policy."""
    kind, name = spec.kind, spec.name.strip().lower()
    if kind == "application":
        return application(keras, spec.name, spec.image_size)
    if kind == "builtin" and name == "tiny":
        return tiny_cnn(keras, spec.image_size or (BUILTIN_MODELS["tiny"],) * 2)
    if kind == "builtin" and name == "demo":
        return _adapt(keras, demo_model.load_model(keras), spec, precision.current_policy(keras))
    if kind == "file":
        return load_file(keras, spec)
    raise ConfigError(f"unknown model {spec.name!r}")


def input_size(model: Any, allow_any: bool = False) -> tuple[tuple[int, int], int]:
    """(height, width) and channels of a model's image input."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    if len(shape) != 4 or (not allow_any and (shape[1] is None or shape[2] is None)):
        raise ValueError(f"the model's input shape {shape} is not (batch, height, width, channels)")
    return (shape[1], shape[2]), int(shape[3])


def output_bytes_per_image(keras: Any, model: Any) -> float:
    """Bytes of the model's outputs for one image (every output, at its dtype): what
    ``model.predict`` and a loop collecting outputs keep for each image until the end. NaN
    where the model does not say (a subclassed model, an open output dimension)."""
    import numpy as np

    total = 0.0
    try:
        for tensor in model.outputs:
            dims = tuple(tensor.shape)[1:]
            if any(d is None for d in dims):
                return float("nan")
            name = keras.backend.standardize_dtype(tensor.dtype)
            itemsize = 2 if name == "bfloat16" else np.dtype(name).itemsize  # numpy has no bfloat16
            total += float(np.prod(dims, dtype=float)) * itemsize
    except (AttributeError, TypeError, ValueError):
        return float("nan")
    return total if total > 0 else float("nan")
