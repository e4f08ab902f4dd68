"""Three ways to call a model on the same array, measured in a fresh process: ``predict``,
``predict_on_batch`` in a loop, and a compiled ``model(x, training=False)`` in a loop.

Run by :func:`workbench.engine.probe.run_probe` (``{"probe": "calls", ...}``), through the
engine's launcher like a trial. They are not the same call:

* ``predict``: one call per pass on the whole array. Keras wraps the array in a ``tf.data``
  pipeline of its own (a copy of the data), runs its traced predict step batch by batch and
  keeps every batch's outputs, concatenated at the end;
* ``predict_on_batch``: one call per batch, through the same traced predict step, without the
  data pipeline; each batch's outputs come back at once (here they are dropped after reaching
  the host, as a loop that writes them to disk would). Its step traces again for a batch of a
  new shape: the partial last batch;
* ``compiled``: one call per batch to ``tf.function(lambda x: model(x, training=False))`` with
  the batch dimension left open (``input_signature``): none of ``predict``'s machinery, and one
  trace for every batch size (the call ``stream_to_disk`` makes).

Every pass covers the same images at the same batch size; the resident size is read after each
pass (the creep across repeated calls), each batch is timed (the first batch and the first
partial batch carry their tracing), and the step's trace count is read after the first pass and
at the end. The host high-water mark is reset before the first pass (tracing included) and again
before the second (the steady passes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from workbench.config import DataSpec, ModelSpec
from workbench.spread import throughput_stats
from workbench.trial.probes.creep import creep_bytes_per_pass, is_creeping
from workbench.trial.probes.host import HostPeak, current_rss_bytes

CALLS = ("predict", "predict_on_batch", "compiled")
Pass = Callable[[], list[float]]  # one pass over the data: each batch's seconds, in order


def _passes(keras: Any, tf: Any, model: Any, x: np.ndarray, batch: int, call: str) -> tuple[Pass, Callable[[], int]]:
    """One pass of ``call`` over ``x``, and how many times its traced function has been traced."""
    from workbench.trial.pipelines import batch_timer, to_host

    slices = [slice(i, i + batch) for i in range(0, len(x), batch)]
    if call == "predict":
        def one_pass() -> list[float]:
            timer = batch_timer(keras, None)  # times each batch and forces its outputs to host
            model.predict(x, batch_size=batch, verbose=0, callbacks=[timer])  # keeps all outputs
            return timer.latencies

        return one_pass, lambda: _traces(model.predict_function)
    if call == "predict_on_batch":
        step: Callable[[np.ndarray], Any] = model.predict_on_batch
        traces = lambda: _traces(model.predict_function)  # noqa: E731  (predict_on_batch made it)
    elif call == "compiled":
        (h, w), c = x.shape[1:3], x.shape[3]
        fn = tf.function(lambda t: model(t, training=False),
                         input_signature=[tf.TensorSpec((None, h, w, c), tf.float32)])
        step, traces = fn, lambda: _traces(fn)
    else:
        raise ValueError(f"unknown call {call!r}: choose from {', '.join(CALLS)}")

    def loop() -> list[float]:
        seconds = []
        for sl in slices:
            t0 = time.perf_counter()
            to_host(step(x[sl]))  # the outputs reach the host, then go (nothing accumulates)
            seconds.append(time.perf_counter() - t0)
        return seconds

    return loop, traces


def _traces(fn: Any) -> int:
    """Traces of a ``tf.function`` so far (-1 when it is not one: run eagerly)."""
    count = getattr(fn, "experimental_get_tracing_count", None)
    return int(count()) if count is not None else -1


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Load the model and ``spec["data"]``, then time ``spec["passes"]`` passes of ``spec["call"]``."""
    import keras
    import tensorflow as tf

    from workbench.trial import models
    from workbench.trial.sources import build_source

    call, batch, passes = str(spec["call"]), int(spec["batch_size"]), int(spec["passes"])
    if call not in CALLS:
        raise ValueError(f"unknown call {call!r}: choose from {', '.join(CALLS)}")
    if passes < 2:
        raise ValueError("passes must be 2 or more: the first pass traces, the others are timed")
    host = HostPeak()
    model = models.build_model(keras, ModelSpec.from_dict(spec["model"]))
    image_size, channels = models.input_size(model)
    x = build_source(DataSpec.from_dict(spec["data"]), image_size, channels).load()
    one_pass, traces = _passes(keras, tf, model, x, batch, call)
    baseline = current_rss_bytes()

    rss, pass_s, latencies = [], [], []
    host.reset()
    for i in range(passes):
        if i == 1:
            first_peak, first_traces = host.peak(), traces()
            host.reset()  # the steady passes' own high-water mark
        t0 = time.perf_counter()
        latencies.append(one_pass())
        pass_s.append(time.perf_counter() - t0)
        rss.append(float(current_rss_bytes()))
    steady_peak = host.peak()
    host.close()
    steady_ips = [len(x) / s for s in pass_s[1:]]  # the first pass carries the tracing
    return {
        "call": call, "images": len(x), "batch_size": batch, "passes": passes,
        "decoded_bytes": int(x.nbytes), "tf_version": tf.__version__, "keras_version": keras.__version__,
        "peak_method": host.method, "host_baseline_bytes": baseline,
        "first_pass_peak_bytes": first_peak, "steady_peak_bytes": steady_peak,
        "host_rss_per_pass_bytes": rss, "host_creep_bytes_per_pass": creep_bytes_per_pass(rss),
        "host_creeping": is_creeping(rss, max(first_peak, steady_peak)),
        "pass_s": pass_s, "batch_s": latencies, "traces_after_first_pass": first_traces,
        "traces": traces(), "throughput_per_pass_ips": steady_ips, **throughput_stats(steady_ips),
    }
