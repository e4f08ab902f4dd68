"""How images reach ``predict``: one class per strategy, runs inside the worker.

Every pipeline offers the same three calls:

* ``warmup(batches)`` runs a few batches (the first call traces the model) and returns the
  seconds to the first prediction;
* ``run(hook)`` makes one timed pass over the data and returns the per-batch latencies and the
  number of images, with every batch's outputs forced to host memory; ``hook()`` is called
  after each batch (outside its latency) so a probe or a test can act inside the phase;
* ``predict(x)`` plain predictions of an array (for the drift phase).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from workbench.errors import ConfigError
from workbench.trial.sources import Source

Hook = Callable[[], None] | None


def to_host(outputs: Any) -> Any:
    """Force a batch's outputs into host memory as numpy arrays (waits for the device)."""
    if isinstance(outputs, dict):
        return {k: to_host(v) for k, v in outputs.items()}
    if isinstance(outputs, list | tuple):
        return [to_host(v) for v in outputs]
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

    def _warmup_slices(self, batches: int) -> list[slice]:
        """Full batches, then the dataset's partial last batch (its shape traces again)."""
        n, b = self.source.n, self.batch_size
        full = min(batches, max(n // b, 1))
        slices = [slice(0, min(full * b, n))]
        if n % b and n > b:
            slices.append(slice(n - n % b, n))
        return slices


class _BatchTimer:
    """Keras callback that times each predict batch and forces its outputs to host."""

    def __new__(cls, keras: Any, hook: Hook):
        class Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.latencies: list[float] = []
                self.first_end: float | None = None
                self._t0 = 0.0

            def on_predict_batch_begin(self, batch, logs=None):
                self._t0 = time.perf_counter()

            def on_predict_batch_end(self, batch, logs=None):
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
        source.load()  # the whole dataset decoded into one array, as the usual advice does

    def warmup(self, batches: int) -> float:
        t0 = time.perf_counter()
        first = None
        for sl in self._warmup_slices(batches):
            timer = _BatchTimer(self.keras, None)
            self.model.predict(self.source.x[sl], batch_size=self.batch_size, verbose=0, callbacks=[timer])
            first = first if first is not None else timer.first_end
        return (first or time.perf_counter()) - t0

    def run(self, hook: Hook = None) -> tuple[list[float], int]:
        timer = _BatchTimer(self.keras, hook)
        self.model.predict(self.source.x, batch_size=self.batch_size, verbose=0, callbacks=[timer])
        return timer.latencies, self.source.n


class BatchLoop(Pipeline):
    """The dataset in memory, a Python loop calling ``model.predict`` on one slice at a time
    and collecting the outputs (the usual advice's manual loop)."""

    name = "batch_loop"

    def __init__(self, keras: Any, model: Any, source: Source, batch_size: int) -> None:
        super().__init__(keras, model, source, batch_size)
        source.load()

    def _one(self, batch: np.ndarray) -> np.ndarray:
        return to_host(self.model.predict(batch, batch_size=len(batch), verbose=0))

    def warmup(self, batches: int) -> float:
        t0 = time.perf_counter()
        first = None
        for sl in self._warmup_slices(batches):
            x = self.source.x[sl]
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
    folders are decoded on tf.data's threads, ``.npy`` files read by a generator)."""

    name = "stream"

    def __init__(self, keras: Any, model: Any, source: Source, batch_size: int) -> None:
        super().__init__(keras, model, source, batch_size)
        if not source.streamable:
            raise ConfigError("the stream pipeline needs data on disk (a folder, a .npy file or demo)")

    def warmup(self, batches: int) -> float:
        t0 = time.perf_counter()
        timer = _BatchTimer(self.keras, None)
        self.model.predict(self.source.dataset(self.batch_size).take(max(batches, 1)),
                           verbose=0, callbacks=[timer])
        return (timer.first_end or time.perf_counter()) - t0

    def run(self, hook: Hook = None) -> tuple[list[float], int]:
        timer = _BatchTimer(self.keras, hook)
        self.model.predict(self.source.dataset(self.batch_size), verbose=0, callbacks=[timer])
        return timer.latencies, self.source.n


PIPELINE_CLASSES: dict[str, type[Pipeline]] = {cls.name: cls for cls in (InMemory, BatchLoop, Stream)}


def build_pipeline(name: str, keras: Any, model: Any, source: Source, batch_size: int) -> Pipeline:
    """The pipeline called ``name`` (``in_memory``, ``batch_loop`` or ``stream``) over ``source``."""
    try:
        cls = PIPELINE_CLASSES[name]
    except KeyError:
        raise ConfigError(f"unknown pipeline {name!r}: choose from {', '.join(PIPELINE_CLASSES)}") from None
    return cls(keras, model, source, batch_size)
