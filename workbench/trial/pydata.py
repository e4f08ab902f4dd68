"""Batches read from disk for ``predict`` without TensorFlow: a ``keras.utils.PyDataset``.

The ``stream`` pipeline feeds a TensorFlow-backend model a ``tf.data`` pipeline; on the JAX and
PyTorch backends a ``.npy`` (and the demo set, a ``.npy`` too) is read through this instead, so
those trials run where TensorFlow is not installed and never load its libraries. One worker,
no multiprocessing: each batch is read from the file when ``predict`` asks for it, so only
the batch in hand is in memory (``tf.data``'s prefetch holds two more).
"""

from __future__ import annotations

import math
from typing import Any

from workbench.trial.sources import NpySource


def batch_dataset(keras: Any, source: NpySource, batch_size: int, limit: int | None = None) -> Any:
    """A ``keras.utils.PyDataset`` of ``source``'s images in batches of ``batch_size`` (the
    first ``limit`` batches only, when given: the warm-up)."""

    class NpyBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)

        def __len__(self) -> int:
            batches = math.ceil(source.n / batch_size)
            return min(batches, limit) if limit else batches

        def __getitem__(self, index: int) -> Any:
            start = index * batch_size
            if not 0 <= start < source.n:
                raise IndexError(f"batch {index} is past the {source.n} images")
            return (source.read_batch(start, min(batch_size, source.n - start)),)

    return NpyBatches()
