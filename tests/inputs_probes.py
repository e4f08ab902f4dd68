"""Checks that need TensorFlow, run in a fresh process by ``inputs_helpers.run_probe``.

Each ``probe_*`` function builds real models and data in ``workdir``, exercises the worker-side
modules with real TensorFlow, and writes what it saw to ``workdir/<probe>.json`` for the test
process (which never imports TensorFlow) to assert on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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

    from tests.inputs_helpers import small_cnn
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

    from tests.inputs_helpers import small_cnn

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
