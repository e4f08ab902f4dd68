"""Data sources for the worker: images as float32 arrays of the model's input size.

A source either holds its images in memory (``x``) or can read them batch by batch from disk
(``iter_batches``) for the streaming pipeline. Runs inside the worker process.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .config import DataSpec


@dataclass
class Source:
    """Images ready for ``predict``: (N, H, W, C) float32, optional integer labels."""

    n: int
    image_size: tuple[int, int]
    channels: int
    x: np.ndarray | None = None
    labels: np.ndarray | None = None
    skipped_files: list[str] = field(default_factory=list)

    def iter_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Batches in order; sources on disk override this to read lazily."""
        if self.x is None:
            raise NotImplementedError("this source cannot be iterated")
        for start in range(0, self.n, batch_size):
            yield self.x[start:start + batch_size]

    def head(self, count: int) -> np.ndarray:
        """The first ``count`` images as one array (for the drift phase)."""
        if self.x is not None:
            return self.x[:count]
        parts, total = [], 0
        for batch in self.iter_batches(min(count, 256)):
            parts.append(np.array(batch, copy=True))
            total += len(batch)
            if total >= count:
                break
        return np.concatenate(parts)[:count]


def synthetic(spec: DataSpec, image_size: tuple[int, int], channels: int) -> Source:
    """Random images with pixel values in [0, 255], like decoded 8-bit images."""
    rng = np.random.default_rng(spec.seed)
    n = int(spec.count or 256)
    x = rng.uniform(0.0, 255.0, size=(n, *image_size, channels)).astype(np.float32)
    return Source(n=n, image_size=image_size, channels=channels, x=x)


def build_source(spec: DataSpec, image_size: tuple[int, int], channels: int) -> Source:
    """The data source for a trial, sized for a model with this input."""
    if spec.kind == "synthetic":
        return synthetic(spec, image_size, channels)
    raise NotImplementedError(f"data kind {spec.kind!r} is not available yet")
