"""The memory anatomy of ``model.predict``: the parts the probes measured, beside their arithmetic.

The probes (:mod:`workbench.engine.anatomy`) give raw figures per process; this module turns them
into one row per part, measured (the mean over the runs, with their spread: the largest minus the
smallest) and expected from arithmetic on the model's and the data's sizes:

* **runtime**: TensorFlow, Keras and an empty model (no arithmetic: it is the library);
* **weights**: the rise when the model is built, against parameters x bytes per parameter;
* **traced function**: what the first ``predict`` call keeps beyond its activations;
* **activations**: batch x bytes per image, the bytes per image measured as the slope between the
  first call's rise at two batch sizes, against an estimate from the layers' output shapes;
* **data held**: the array and Keras' copies of it, against N x bytes per image (one copy);
* **outputs**: what ``predict`` keeps of its outputs, against N x output bytes x 2 (every batch's
  outputs, then their concatenation);
* **creep**: what repeated passes added on top (from a trial's passes; no arithmetic).

Pure: no TensorFlow, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int8": 1,
               "uint8": 1, "bool": 1}
OUTPUT_COPIES = 2  # predict keeps every batch's outputs, then concatenates them: twice at the end
PARTS = ("runtime", "weights", "traced function", "activations", "data held", "outputs", "creep")
NAN = float("nan")


def dtype_bytes(dtype: str) -> int:
    """Bytes of one value of ``dtype`` (``"float32"``, ``"<dtype: 'float16'>"``, ...)."""
    name = str(dtype).replace("<dtype: '", "").rstrip("'>").strip()
    if name not in DTYPE_BYTES:
        raise ValueError(f"no byte size known for dtype {dtype!r}: one of {', '.join(DTYPE_BYTES)}")
    return DTYPE_BYTES[name]


def weights_bytes(weights: Sequence[Sequence[Any]]) -> int:
    """Parameters x bytes per parameter, summed over ``[(values, dtype), ...]`` (one per variable)."""
    return sum(int(count) * dtype_bytes(str(dtype)) for count, dtype in weights)


def activation_estimates(layers: Sequence[Mapping[str, Any]], bytes_per_value: int = 4) -> tuple[int, int]:
    """Bytes per image from the layers' shapes (``inputs`` / ``outputs``: values per image):
    the least any executor must hold (the largest layer's inputs and output alive together) and
    the most (every layer's output kept until the end)."""
    if not layers:
        return 0, 0
    least = max(int(layer["inputs"]) + int(layer["outputs"]) for layer in layers)
    most = sum(int(layer["outputs"]) for layer in layers)
    return least * bytes_per_value, most * bytes_per_value


def per_image_slope(rise_large: float, rise_small: float, large: int, small: int) -> float:
    """Bytes per image of a figure measured at two batch sizes (its slope); NaN when they are equal."""
    return (rise_large - rise_small) / (large - small) if large != small else NAN


def _summary(values: Sequence[float]) -> tuple[float, float]:
    """The mean of the runs and their spread (largest minus smallest; NaN with a single run)."""
    finite = [float(v) for v in values if not math.isnan(float(v))]
    if not finite:
        return NAN, NAN
    return sum(finite) / len(finite), (max(finite) - min(finite)) if len(finite) > 1 else NAN


def _per_run(runs: Sequence[Mapping[str, Any]], batch_size: int) -> dict[int, dict[str, float]]:
    """Each run's parts from its probes (the model at ``batch_size`` and at a smaller batch)."""
    parts: dict[int, dict[str, float]] = {}
    for run in sorted({int(r["run"]) for r in runs}):
        mine = [r for r in runs if int(r["run"]) == run]
        big = next(r for r in mine if r["part"] == "model" and int(r["batch_size"]) == batch_size)
        small = next(r for r in mine if r["part"] == "model" and int(r["batch_size"]) != batch_size)
        slope = per_image_slope(big["first_call_rise_bytes"], small["first_call_rise_bytes"], batch_size,
                                int(small["batch_size"]))
        activations = slope * batch_size
        parts[run] = {
            "runtime": float(big["runtime_bytes"]),
            "weights": float(big["weights_rise_bytes"]),
            "traced function": float(big["first_call_rise_bytes"]) - activations,
            "activations": activations,
            "data held": float(next(r for r in mine if r["part"] == "data")["held_bytes"]),
            "outputs": float(next(r for r in mine if r["part"] == "outputs")["held_bytes"]),
        }
    return parts


def anatomy_parts(runs: Sequence[Mapping[str, Any]], batch_size: int, images: int,
                  creep: Sequence[float] = ()) -> pd.DataFrame:
    """One row per part (index: :data:`PARTS`): ``measured_bytes`` (mean over runs),
    ``spread_bytes``, ``arithmetic_bytes`` (NaN where there is none) and ``arithmetic`` (how).

    ``runs``: the probes' dicts (:func:`workbench.engine.anatomy.measure_parts`); ``creep``: what
    repeated passes added in each trial run (peak over all passes minus the first pass's)."""
    per_run = _per_run(runs, batch_size)
    model = next(r for r in runs if r["part"] == "model")
    least, most = activation_estimates(model["layers"])
    image_bytes = int(model["input_per_image"]) * 4  # float32, as every pipeline feeds the model
    output_bytes = int(model["outputs_per_image"]) * 4
    arithmetic = {
        "weights": (weights_bytes(model["weights"]), f"{int(model['params']):,} parameters x their bytes"),
        "activations": (batch_size * least, f"batch {batch_size} x {least / 1e3:.0f} kB an image (the largest "
                        f"layer's inputs and output; every layer's output kept: {most / 1e3:.0f} kB)"),
        "data held": (images * image_bytes, f"{images:,} images x {image_bytes / 1e3:.1f} kB (one copy)"),
        "outputs": (OUTPUT_COPIES * images * output_bytes,
                    f"{images:,} x {output_bytes / 1e3:.1f} kB of outputs x {OUTPUT_COPIES} (kept, concatenated)"),
    }
    rows = {}
    for part in PARTS:
        values = list(creep) if part == "creep" else [p[part] for p in per_run.values()]
        measured, spread = _summary(values)
        expected, how = arithmetic.get(part, (NAN, "none"))
        rows[part] = {"measured_bytes": measured, "spread_bytes": spread, "arithmetic_bytes": float(expected),
                      "arithmetic": how}
    return pd.DataFrame.from_dict(rows, orient="index")
