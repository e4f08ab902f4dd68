"""What a dtype policy does to memory, and what ``load_model`` does to a dtype policy.

Run as the probe ``policies`` (:data:`workbench.trial.probes.PROBES`) by
:func:`workbench.engine.probe.run_probe` with a spawn launcher: a fresh interpreter each time.

Three parts (``spec["part"]``), each in a fresh process of its own: what a process freed before
changes what a later rise shows (a ``predict`` before a build hid most of the weights here), so
one measurement per process. A tiny model is built and predicted first, so the runtime's own
start-up is not counted.

* ``weights``: under ``spec["policy"]`` (``float32``, ``mixed_float16``, pure ``float16``...),
  build a keras.applications model with random weights; the resident memory it leaves (its
  weights and the layer objects around them) next to the bytes its variables hold by dtype.
* ``activations``: the peak rise of one ``predict`` of one batch (its activations, the trace
  of the predict function included), next to its layers' output shapes for the arithmetic.
* ``load_model``: the recipe ``set_global_policy(policy)`` then ``load_model(file saved in
  float32)``, run as a user would: the compute dtype of every loaded layer and the memory of its
  first ``predict``; then ``clone_model`` under the policy (which keeps the stored policies too)
  and a rebuild from the config with the stored policies rewritten
  (:func:`workbench.trial.models.rebuild`, what the workbench itself does); and, on a trained
  model, the outputs of all three against float32's.
"""

from __future__ import annotations

import ctypes
import gc
import os
from pathlib import Path
from typing import Any

import numpy as np

from workbench.trial.probes.host import HostPeak, current_rss_bytes

PARTS = ("weights", "activations", "load_model")


def variable_bytes(model: Any) -> tuple[int, list[str]]:
    """Bytes the model's variables hold (element count x the size of their dtype), and their dtypes."""
    total, dtypes = 0, set()
    for v in model.weights:
        dtype = np.dtype(str(v.dtype))
        total += int(np.prod(v.shape, dtype=np.int64)) * dtype.itemsize
        dtypes.add(dtype.name)
    return total, sorted(dtypes)


def compute_dtypes(model: Any) -> dict[str, int]:
    """How many of the model's layers with weights compute in each dtype (``{"float32": 12}``)."""
    counts: dict[str, int] = {}
    for layer in model.layers:
        if layer.weights:
            name = str(layer.dtype_policy.compute_dtype)
            counts[name] = counts.get(name, 0) + 1
    return counts


def output_compute_dtypes(model: Any) -> dict[str, str]:
    """The compute dtype of each layer producing one of the model's outputs (``{"predictions": "float32"}``),
    found from the model's output tensors, independently of the config the rebuild rewrote."""
    outputs = {id(t) for t in model.outputs}
    found: dict[str, str] = {}
    for layer in model.layers:
        try:
            produced = layer.output
        except (AttributeError, ValueError):  # a layer used at several nodes has no single output
            continue
        if any(id(t) in outputs for t in (produced if isinstance(produced, (list, tuple)) else [produced])):
            found[layer.name] = str(layer.dtype_policy.compute_dtype)
    return found


def activation_values(model: Any) -> list[int]:
    """Values per image in each layer's output (the batch axis left out)."""
    sizes = []
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        sizes.append(int(np.prod([d for d in shape[1:] if d is not None], dtype=np.int64)))
    return sizes


def settled_rss_bytes() -> int:
    """Resident memory once the garbage is collected and malloc has handed its free pages back
    (``malloc_trim``, glibc only), so that a rise measured from it does not depend on what the
    process freed before: freed pages reused later count again, as on a fresh heap."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the rise may be lower where freed memory is reused
    return current_rss_bytes()


def _warm_up(keras: Any) -> None:
    """Build and predict a tiny model, so the runtime's first-use allocations come before any rise."""
    inputs = keras.Input(shape=(4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).predict(np.zeros((2, 4), np.float32), verbose=0)


def measure_weights(keras: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The ``weights`` part: what building ``spec["model"]`` under ``spec["policy"]`` leaves resident."""
    from workbench.trial import models

    _warm_up(keras)
    keras.mixed_precision.set_global_policy(spec["policy"])
    before = settled_rss_bytes()
    model = models.application(keras, spec["model"], (int(spec["image_size"]),) * 2)
    rise = settled_rss_bytes() - before
    held, dtypes = variable_bytes(model)
    return {"part": "weights", "policy": spec["policy"], "model": spec["model"], "rise_bytes": rise,
            "variable_bytes": held, "variable_dtypes": dtypes, "parameters": int(model.count_params()),
            "compute_dtypes": compute_dtypes(model)}


def _images(batch: int, size: int) -> np.ndarray:
    """The same random batch in every process (seeded), in float32, scaled to [-1, 1] as
    MobileNetV2's own preprocessing does."""
    return np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)


def _predict_rise(model: Any, x: np.ndarray) -> tuple[int, np.ndarray]:
    """The peak rise of resident memory during the first ``predict`` of ``x`` in one batch
    (activations, tracing and the outputs), and the outputs."""
    host = HostPeak()
    before = settled_rss_bytes()
    host.reset()
    outputs = np.asarray(model.predict(x, batch_size=len(x), verbose=0))
    rise = host.peak() - before
    host.close()
    return rise, outputs


def measure_activations(keras: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The ``activations`` part: the peak rise of one ``predict`` of one batch under ``spec["policy"]``.

    With ``save_model`` (a path), the model is saved after the measurement, for the ``load_model`` part."""
    from workbench.trial import models

    batch, size = int(spec["batch_size"]), int(spec["image_size"])
    _warm_up(keras)
    keras.mixed_precision.set_global_policy(spec["policy"])
    model = models.application(keras, spec["model"], (size, size))
    x = _images(batch, size)
    rise, outputs = _predict_rise(model, x)
    if spec.get("save_model"):
        model.save(spec["save_model"])
    values = activation_values(model)
    return {"part": "activations", "policy": spec["policy"], "model": spec["model"], "batch_size": batch,
            "rise_bytes": rise, "compute_dtypes": compute_dtypes(model), "largest_layer_values": max(values),
            "layer_values": sum(values), "input_bytes": int(x.nbytes), "output_bytes": int(outputs.nbytes),
            "output_dtype": outputs.dtype.name}


def _against(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Largest difference from the float32 outputs, and how often the top class agrees."""
    a, b = outputs.astype(np.float64), reference.astype(np.float64)
    return {"max_abs_diff": float(np.max(np.abs(a - b))), "top1_agreement": float(np.mean(a.argmax(1) == b.argmax(1)))}


def _drift(keras: Any, path: Path, x: np.ndarray, policy: str) -> dict[str, Any]:
    """A trained float32 file loaded three ways under ``policy``: its outputs against the float32 ones."""
    from workbench.trial import models

    def load() -> Any:
        return keras.saving.load_model(path, safe_mode=True, compile=False)

    keras.mixed_precision.set_global_policy("float32")
    reference = np.asarray(load().predict(x, verbose=0))
    keras.mixed_precision.set_global_policy(policy)
    loaded = load()
    cloned = keras.models.clone_model(loaded)
    cloned.set_weights(loaded.get_weights())
    report = {}
    for name, model in (("loaded", loaded), ("cloned", cloned),
                        ("rebuilt", models.rebuild(keras, loaded, policy, None, path.name))):
        report[name] = {"compute_dtypes": compute_dtypes(model),
                        **_against(np.asarray(model.predict(x, verbose=0)), reference)}
    return report


def measure_load_model(keras: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The ``load_model`` part: the seed's recipe on files saved in float32, and two ways round it.

    ``set_global_policy(policy)``, then ``load_model(spec["model_path"])``: the loaded layers'
    compute and variable dtypes and the peak rise of its first ``predict`` (comparable with the
    ``activations`` part's), measured first, on a fresh heap. Then ``clone_model`` under the same
    policy and the workbench's rebuild with the stored policies rewritten (their compute dtypes, and
    those of the rebuilt model's output layers).
    With ``drift_model_path`` (a trained float32 file, such as the demo model) and its images,
    the outputs of the loaded, cloned and rebuilt models against float32's: a random model's
    saturated outputs cannot show rounding, a trained one's do.
    """
    from workbench.trial import models

    path, policy = Path(spec["model_path"]), str(spec["policy"])
    _warm_up(keras)
    keras.mixed_precision.set_global_policy(policy)  # the seed's recipe: the policy first, then load
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    rise, _ = _predict_rise(loaded, _images(int(spec["batch_size"]), int(spec["image_size"])))
    rebuilt = models.rebuild(keras, loaded, policy, None, path.name)
    report: dict[str, Any] = {
        "part": "load_model", "policy": policy, "global_policy": str(keras.mixed_precision.global_policy().name),
        "loaded": {"compute_dtypes": compute_dtypes(loaded), "variable_dtypes": variable_bytes(loaded)[1],
                   "rise_bytes": rise},
        "cloned": {"compute_dtypes": compute_dtypes(keras.models.clone_model(loaded))},
        "rebuilt": {"compute_dtypes": compute_dtypes(rebuilt), "output_compute_dtypes": output_compute_dtypes(rebuilt)},
    }
    if spec.get("drift_model_path"):
        images = np.load(spec["drift_images_path"], mmap_mode="r", allow_pickle=False)
        x = np.asarray(images[: int(spec.get("drift_images", 600))], dtype=np.float32)
        report["drift"] = _drift(keras, Path(spec["drift_model_path"]), x, policy)
    return report


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec["part"]`` (one of :data:`PARTS`) and return its figures."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras

    part = spec.get("part")
    if part == "weights":
        return measure_weights(keras, spec)
    if part == "activations":
        return measure_activations(keras, spec)
    if part == "load_model":
        return measure_load_model(keras, spec)
    raise ValueError(f"unknown part {part!r}: choose from {', '.join(PARTS)}")
