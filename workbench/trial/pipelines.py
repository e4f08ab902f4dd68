"""How images reach ``predict``: one class per strategy, runs inside the worker.

Every pipeline offers the same three calls:

* ``warmup(batches)`` runs a few batches (the first call traces the model) and returns the
  seconds to the first prediction;
* ``run(hook)`` makes one timed pass over the data and returns the per-batch latencies and the
  number of images, with every batch's outputs forced to host memory; ``hook()`` is called
  after each batch (outside its latency) so a probe or a test can act inside the phase;
* ``predict(x)`` plain predictions of an array (for the drift phase);
* ``close()`` releases what the pipeline holds on disk (``stream_to_disk``'s output file).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from workbench.errors import ConfigError
from workbench.trial.npy_writer import NpyAppender
from workbench.trial.sources import Source
from workbench.types import Pipeline as PipelineName  # the name: Pipeline is the base class below

Hook = Callable[[], None] | None


def to_host(outputs: Any) -> Any:
    """Force a batch's outputs into host memory as numpy arrays (waits for the device)."""
    if isinstance(outputs, dict):
        return {k: to_host(v) for k, v in outputs.items()}
    if isinstance(outputs, list | tuple):
        return [to_host(v) for v in outputs]
    if hasattr(outputs, "detach"):  # a PyTorch tensor (on the GPU, or bfloat16): Keras converts it
        import keras

        return keras.ops.convert_to_numpy(outputs)
    return np.asarray(outputs)


class Pipeline:
    name = "base"

    def __init__(self, keras: Any, model: Any, source: Source, batch_size: int) -> None:
        self.keras = keras
        self.model = model
        self.source = source
        self.batch_size = batch_size

    def warmup(self, batches: int) -> float:
        raise NotImplementedError

    def run(self, hook: Hook = None) -> tuple[list[float], int]:
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x, batch_size=self.batch_size, verbose=0)

    def close(self) -> None:
        """Release what the pipeline keeps outside memory (nothing, for most)."""

    def _warmup_slices(self, batches: int) -> list[slice]:
        """Full batches, then the dataset's partial last batch (its shape traces again)."""
        n, b = self.source.n, self.batch_size
        full = min(batches, max(n // b, 1))
        slices = [slice(0, min(full * b, n))]
        if n % b and n > b:
            slices.append(slice(n - n % b, n))
        return slices


class BatchTimer(Protocol):
    """What a pipeline reads of :func:`batch_timer` (a Keras callback) after ``predict``."""

    latencies: list[float]  # seconds per batch, in order
    first_end: float | None  # ``time.perf_counter()`` when the first batch ended


def batch_timer(keras: Any, hook: Hook) -> BatchTimer:
    """A Keras callback that times each predict batch and forces its outputs to host. Its class
    derives from ``keras.callbacks.Callback``, which exists only once Keras is imported (here,
    inside the worker)."""

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.latencies: list[float] = []
            self.first_end: float | None = None
            self._t0 = 0.0

        def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self._t0 = time.perf_counter()

        def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if logs and "outputs" in logs:
                to_host(logs["outputs"])
            end = time.perf_counter()
            self.latencies.append(end - self._t0)
            if self.first_end is None:
                self.first_end = end
            if hook is not None:
                hook()

    return Timer()


class InMemory(Pipeline):
    """The whole dataset in one array, then ``model.predict(x, batch_size=b)``."""

    name = "in_memory"

    def __init__(self, keras: Any, model: Any, source: Source, batch_size: int) -> None:
        super().__init__(keras, model, source, batch_size)
        self.x = source.load()  # the whole dataset decoded into one array, as the usual advice does

    def warmup(self, batches: int) -> float:
        t0 = time.perf_counter()
        first = None
        for sl in self._warmup_slices(batches):
            timer = batch_timer(self.keras, None)
            self.model.predict(self.x[sl], batch_size=self.batch_size, verbose=0, callbacks=[timer])
            first = first if first is not None else timer.first_end
        return (first or time.perf_counter()) - t0

    def run(self, hook: Hook = None) -> tuple[list[float], int]:
        timer = batch_timer(self.keras, hook)
        self.model.predict(self.x, batch_size=self.batch_size, verbose=0, callbacks=[timer])
        return timer.latencies, self.source.n


class BatchLoop(Pipeline):
    """The dataset in memory, a Python loop calling ``model.predict`` on one slice at a time
    and collecting the outputs (the usual advice's manual loop)."""

    name = "batch_loop"

    def __init__(self, keras: Any, model: Any, source: Source, batch_size: int) -> None:
        super().__init__(keras, model, source, batch_size)
        self.x = source.load()

    def _one(self, batch: np.ndarray) -> np.ndarray:
        return to_host(self.model.predict(batch, batch_size=len(batch), verbose=0))

    def warmup(self, batches: int) -> float:
        t0 = time.perf_counter()
        first = None
        for sl in self._warmup_slices(batches):
            x = self.x[sl]
            for start in range(0, len(x), self.batch_size):
                self._one(x[start:start + self.batch_size])
                first = first if first is not None else time.perf_counter()
        return (first or time.perf_counter()) - t0

    def run(self, hook: Hook = None) -> tuple[list[float], int]:
        latencies, outputs = [], []
        for batch in self.source.iter_batches(self.batch_size):
            t0 = time.perf_counter()
            outputs.append(self._one(batch))
            latencies.append(time.perf_counter() - t0)
            if hook is not None:
                hook()
        return latencies, self.source.n


class Stream(Pipeline):
    """Images read from disk batch by batch through ``tf.data`` with a bounded prefetch, so only
    a few batches live in memory (the modern form of the old ``ImageDataGenerator`` advice:
    folders are decoded on tf.data's threads, ``.npy`` files read by a generator). On the JAX and
    PyTorch backends a ``.npy`` is read through a ``keras.utils.PyDataset`` instead (no
    TensorFlow needed); a folder still goes through ``tf.data``, so it needs TensorFlow."""

    name = "stream"

    def __init__(self, keras: Any, model: Any, source: Source, batch_size: int) -> None:
        super().__init__(keras, model, source, batch_size)
        if not source.streamable:
            raise ConfigError("the stream pipeline needs data on disk (a folder, a .npy file or demo)")

    def _batches(self, limit: int | None = None) -> Any:
        """``tf.data`` on the TensorFlow backend (and for folders), else a PyDataset."""
        from workbench.trial.sources import NpySource

        if self.keras.backend.backend() == "tensorflow" or not isinstance(self.source, NpySource):
            ds = self.source.dataset(self.batch_size)
            return ds.take(limit) if limit else ds
        from workbench.trial.pydata import batch_dataset

        return batch_dataset(self.keras, self.source, self.batch_size, limit)

    def warmup(self, batches: int) -> float:
        t0 = time.perf_counter()
        timer = batch_timer(self.keras, None)
        self.model.predict(self._batches(max(batches, 1)), verbose=0, callbacks=[timer])
        return (timer.first_end or time.perf_counter()) - t0

    def run(self, hook: Hook = None) -> tuple[list[float], int]:
        timer = batch_timer(self.keras, hook)
        self.model.predict(self._batches(), verbose=0, callbacks=[timer])
        return timer.latencies, self.source.n


class StreamToDisk(Pipeline):
    """Host memory flat in the number of images: each batch is read from disk into one reused
    buffer (``file.readinto`` for ``.npy``, eager decoding for folders), predicted, and its
    outputs appended to an ``(N, ...)`` ``.npy`` file with plain writes; nothing accumulates.

    The call is a ``tf.function``-compiled ``model(x, training=False)`` with a batch dimension
    left open (one trace serves the partial last batch too): it stayed flatter than
    ``predict_on_batch`` here (docs/inputs.md). ``call="predict_on_batch"`` keeps the other for
    comparison, and is the call on the JAX and PyTorch backends (Keras' own compiled predict
    step on JAX; eager on PyTorch). The output file is deleted by :meth:`close` unless ``keep``.
    """

    name = "stream_to_disk"

    def __init__(self, keras: Any, model: Any, source: Source, batch_size: int,
                 outputs_path: str | Path | None = None, keep: bool = False, call: str = "compiled") -> None:
        super().__init__(keras, model, source, batch_size)
        if not source.streamable:
            raise ConfigError("the stream_to_disk pipeline needs data on disk (a folder, a .npy file or demo)")
        if outputs_path is None:
            import tempfile

            fd, name = tempfile.mkstemp(prefix="workbench-outputs-", suffix=".npy")
            os.close(fd)
            outputs_path = name
        self.outputs_path, self.keep = Path(outputs_path), keep
        compiled = call == "compiled" and keras.backend.backend() == "tensorflow"
        self._call = self._compiled() if compiled else self._on_batch

    def _compiled(self) -> Callable[[np.ndarray], Any]:
        import tensorflow as tf

        (h, w), c = self.source.image_size, self.source.channels
        spec = tf.TensorSpec((None, h, w, c), tf.float32)
        fn = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])
        return lambda batch: self._single(to_host(fn(batch)))

    def _on_batch(self, batch: np.ndarray) -> np.ndarray:
        return self._single(to_host(self.model.predict_on_batch(batch)))

    @staticmethod
    def _single(outputs: Any) -> np.ndarray:
        if not isinstance(outputs, np.ndarray):
            raise ConfigError("stream_to_disk writes one output array, and this model has several: use stream")
        return outputs

    def warmup(self, batches: int) -> float:
        t0 = time.perf_counter()
        first = None
        for sl in self._warmup_slices(batches):
            for batch in self.source.reused_batches(self.batch_size, sl.start, sl.stop):
                self._call(batch)
                first = first if first is not None else time.perf_counter()
        return (first or time.perf_counter()) - t0

    def run(self, hook: Hook = None) -> tuple[list[float], int]:
        """One pass; a batch's latency covers reading it, predicting and writing its outputs."""
        latencies: list[float] = []
        with NpyAppender(self.outputs_path, self.source.n) as out:
            batches = self.source.reused_batches(self.batch_size)
            while True:
                t0 = time.perf_counter()
                batch = next(batches, None)
                if batch is None:
                    break
                out.append(self._call(batch))
                latencies.append(time.perf_counter() - t0)
                if hook is not None:
                    hook()
        return latencies, self.source.n

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The same compiled call, batch by batch (for the drift phase)."""
        return np.concatenate([self._call(x[i:i + self.batch_size]) for i in range(0, len(x), self.batch_size)])

    def close(self) -> None:
        if not self.keep:
            self.outputs_path.unlink(missing_ok=True)


PIPELINE_CLASSES: dict[str, type[Pipeline]] = {
    cls.name: cls for cls in (InMemory, BatchLoop, Stream, StreamToDisk)
}


def build_pipeline(name: PipelineName, keras: Any, model: Any, source: Source, batch_size: int,
                   **options: Any) -> Pipeline:
    """The pipeline called ``name`` (``in_memory``, ``batch_loop``, ``stream`` or
    ``stream_to_disk``) over ``source``; ``options`` go to ``stream_to_disk`` only
    (``outputs_path``, ``keep``)."""
    try:
        cls = PIPELINE_CLASSES[name]
    except KeyError:
        raise ConfigError(f"unknown pipeline {name!r}: choose from {', '.join(PIPELINE_CLASSES)}") from None
    if cls is StreamToDisk:
        return StreamToDisk(keras, model, source, batch_size, **options)
    return cls(keras, model, source, batch_size)
