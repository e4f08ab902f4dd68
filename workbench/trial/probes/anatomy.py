"""Where the memory of ``model.predict`` goes, measured one part at a time in a fresh process.

Run by :mod:`workbench.engine.anatomy` as the probe ``anatomy`` (:data:`workbench.trial.probes.PROBES`),
started like a trial in a fresh interpreter.

A trial measures the whole peak; this probe takes it apart. Every run first loads the bare
runtime (TensorFlow, Keras and an empty model predicted once: what any ``predict`` pays before
its own model), then measures one ``part`` in isolation, each figure the rise of the process's
resident memory (its kernel high-water mark, reset just before) above the level just before:

* ``model``: building the model (its weights, and the layer objects around them), its first
  ``predict`` on one batch (tracing the predict function), then a second one (the activations of
  one batch); also the layers' output shapes and the weights' sizes, for the arithmetic;
* ``data``: the whole data set decoded into one float32 array, as the in-memory pipeline does,
  then ``predict`` on it with a model that computes almost nothing (global average pooling, 3
  outputs an image), so the rise is the array and what Keras copies of it;
* ``outputs``: ``predict`` on N one-number inputs with a model that only widens them to the
  model's outputs (one Dense layer), so the rise is the outputs ``predict`` keeps and concatenates.

Each part runs in its own process, so what one part freed cannot hide another's rise.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from workbench.trial.probes.host import HostPeak, current_rss_bytes

PARTS = ("model", "data", "outputs")


def _elements(tensors: Any) -> int:
    """Values per image in a tensor (or a list of tensors), the batch axis left out."""
    if isinstance(tensors, list | tuple):
        return sum(_elements(t) for t in tensors)
    return int(np.prod([d for d in tensors.shape[1:]], dtype=np.int64))


def layer_sizes(model: Any) -> list[dict[str, Any]]:
    """Per layer: its name and the values per image it reads and writes (its output shapes)."""
    sizes = []
    for layer in model.layers:
        try:
            sizes.append({"name": layer.name, "inputs": _elements(layer.input), "outputs": _elements(layer.output)})
        except (AttributeError, ValueError, TypeError):  # a layer called several times: no single shape
            continue
    return sizes


def _rise(host: HostPeak, action: Any) -> tuple[int, Any]:
    """Run ``action``; the peak resident size during it above the size just before, and its value."""
    host.reset()
    before = current_rss_bytes()
    value = action()
    return host.peak() - before, value


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Load the runtime, then measure ``spec["part"]`` (one of :data:`PARTS`)."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import tensorflow as tf

    from workbench.config import DataSpec, ModelSpec
    from workbench.trial import models
    from workbench.trial.sources import build_source

    part, images, batch = spec["part"], int(spec["images"]), int(spec["batch_size"])
    host = HostPeak()
    empty_in = keras.Input(shape=(1,))
    empty = keras.Model(empty_in, keras.layers.Dense(1)(empty_in))
    empty.predict(np.zeros((1, 1), np.float32), verbose=0)
    out: dict[str, Any] = {"part": part, "runtime_bytes": current_rss_bytes(), "tf_version": tf.__version__,
                           "peak_method": host.method}
    if part == "model":
        model_spec = ModelSpec(spec["model"], image_size=tuple(spec["image_size"]) if spec.get("image_size") else None)
        out["weights_rise_bytes"], model = _rise(host, lambda: models.build_model(keras, model_spec))
        (h, w), channels = models.input_size(model)
        x = np.random.default_rng(0).uniform(0, 255, (batch, h, w, channels)).astype(np.float32)
        before = current_rss_bytes()
        out["first_call_rise_bytes"], _ = _rise(host, lambda: model.predict(x, batch_size=batch, verbose=0))
        out["tracing_bytes"] = current_rss_bytes() - before  # what the first call left behind
        out["activations_rise_bytes"], _ = _rise(host, lambda: model.predict(x, batch_size=batch, verbose=0))
        out["again_rise_bytes"], _ = _rise(host, lambda: model.predict(x, batch_size=batch, verbose=0))
        out.update(params=int(model.count_params()), image_shape=[h, w, channels],
                   weights=[[int(np.prod(v.shape)), str(v.dtype)] for v in model.weights],
                   layers=layer_sizes(model), outputs_per_image=_elements(model.output),
                   input_per_image=h * w * channels)
    elif part == "data":
        size = (int(spec["image_size"][0]), int(spec["image_size"][1]))
        before = current_rss_bytes()
        source = build_source(DataSpec("synthetic", count=images), size, 3)
        x = source.load()
        out["array_bytes"] = current_rss_bytes() - before  # the decoded set, once
        pool_in = keras.Input(shape=(*size, 3))
        pool = keras.Model(pool_in, keras.layers.GlobalAveragePooling2D()(pool_in))
        pool.predict(x[:batch], batch_size=batch, verbose=0)  # trace first: tracing is the model part's
        host.reset()
        pool.predict(x, batch_size=batch, verbose=0)
        out["held_bytes"] = host.peak() - before  # the array and Keras' copies, at their peak
        out.update(nbytes=int(x.nbytes), images=len(x))
    elif part == "outputs":
        units = int(spec["outputs"])
        wide_in = keras.Input(shape=(1,))
        wide = keras.Model(wide_in, keras.layers.Dense(units)(wide_in))
        x = np.ones((images, 1), np.float32)
        wide.predict(x[:batch], batch_size=batch, verbose=0)
        out["held_bytes"], y = _rise(host, lambda: wide.predict(x, batch_size=batch, verbose=0))
        out.update(result_bytes=int(y.nbytes), outputs=units, images=images)
    else:
        raise ValueError(f"unknown part {part!r}: choose from {', '.join(PARTS)}")
    host.close()
    return out
