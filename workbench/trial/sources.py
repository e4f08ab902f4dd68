"""Data sources for the worker: images as float32 arrays of the model's input size.

A source knows how many images it has (``n``), their labels where they exist and the files it
had to skip. It can decode everything into one array (:meth:`Source.load`, for ``in_memory``
and ``batch_loop``) or, when its images live on disk, hand out a ``tf.data`` pipeline that
reads them batch by batch (:meth:`Source.dataset`, for ``stream``; on the JAX and PyTorch
backends a ``.npy`` is streamed through a ``keras.utils.PyDataset`` instead, :mod:`.pydata`).
Pixel values are not rescaled: a model gets what a decoded 8-bit image holds (0..255) and
preprocesses as it was built to. Runs inside the worker process; TensorFlow is imported lazily,
there, and only where a step needs it (tf.data, folder decoding, resizing on its backend).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench import demo_assets
from workbench.config import DataSpec
from workbench.engine.preflight import npy_info
from workbench.errors import ConfigError

PREFETCH_BATCHES = 2  # batches tf.data prepares ahead of the model: bounded, so memory is too


@dataclass
class Source:
    """Images ready for ``predict``: (N, H, W, C) float32, optional integer labels."""

    n: int
    image_size: tuple[int, int]
    channels: int
    x: np.ndarray | None = None
    labels: np.ndarray | None = None
    skipped_files: list[str] = field(default_factory=list)

    @property
    def streamable(self) -> bool:
        """True when the images can be read from disk batch by batch."""
        return False

    @property
    def decoded_bytes_per_image(self) -> int:
        """Size of one image decoded into the float32 array the in-memory pipelines load."""
        return self.image_size[0] * self.image_size[1] * self.channels * 4

    @property
    def decoded_bytes(self) -> int:
        """Size of the whole dataset decoded into one float32 array."""
        return self.n * self.decoded_bytes_per_image

    load_chunk = 256  # images read at a time while decoding the whole set

    def load(self) -> np.ndarray:
        """Decode every image into one array (kept in ``x``) and return it; sources on disk
        fill it batch by batch from :meth:`iter_batches`, so no second copy is ever held."""
        if self.x is None:
            x = np.empty((self.n, *self.image_size, self.channels), dtype=np.float32)
            start = 0
            for batch in self.iter_batches(self.load_chunk):
                x[start:start + len(batch)] = batch
                start += len(batch)
            self.x = x
        return self.x

    def iter_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Batches in order; sources on disk override this to read lazily."""
        if self.x is None:
            raise NotImplementedError("this source cannot be iterated")
        for start in range(0, self.n, batch_size):
            yield self.x[start:start + batch_size]

    def reused_batches(self, batch_size: int, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Images ``start:stop`` in batches, each one held in the same reused buffer: a batch is
        overwritten by the next, so use it first. Sources on disk read into the buffer; here,
        slices of the loaded array."""
        x = self.load()
        stop = self.n if stop is None else stop
        for i in range(start, stop, batch_size):
            yield x[i:min(i + batch_size, stop)]

    def dataset(self, batch_size: int) -> Any:
        """A ``tf.data.Dataset`` of batches read from disk (only for sources on disk)."""
        raise ConfigError("this data lives only in memory and cannot be streamed: use in_memory or batch_loop")

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


def fit_channels(batch: np.ndarray, channels: int) -> np.ndarray:
    """(B, H, W, c) -> (B, H, W, channels): gray to RGB, RGBA to RGB, RGB to gray."""
    have = batch.shape[-1]
    if have == channels:
        return batch
    if have == 1:
        return np.repeat(batch, channels, axis=-1)
    if have == 4 and channels == 3:
        return batch[..., :3]
    if have in (3, 4) and channels == 1:
        return (batch[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    raise ConfigError(f"images have {have} channels but the model takes {channels}")


def resize_batch(batch: Any, size: tuple[int, int]) -> Any:
    """Bilinear, antialiased resize of a (B, H, W, C) batch, eagerly or inside a tf.data graph;
    on another Keras backend with ``keras.ops`` (the same resize, no TensorFlow needed)."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        import keras

        resized = keras.ops.image.resize(batch, size, interpolation="bilinear", antialias=True)
        return keras.ops.convert_to_numpy(resized)
    import tensorflow as tf

    return tf.image.resize(batch, size, method="bilinear", antialias=True)


class NpySource(Source):
    """An (N, H, W[, C]) ``.npy`` file read with plain file reads, a batch at a time.

    Not a memory map: pages of a mapped file count as resident memory as they are touched, so
    streaming through ``np.load(mmap_mode='r')`` would grow to the whole file. Only the header
    is parsed up front; each batch is read into a fresh array that is freed once used.
    """

    def __init__(self, path: str | Path, image_size: tuple[int, int], channels: int,
                 count: int | None = None, labels: np.ndarray | None = None) -> None:
        self.path = Path(path).expanduser()
        info = npy_info(self.path)
        self.file_shape, self.dtype, self.offset = info.shape, info.dtype, info.offset
        n = min(self.file_shape[0], count or self.file_shape[0])
        super().__init__(n=n, image_size=image_size, channels=channels,
                         labels=None if labels is None else np.asarray(labels)[:n])

    @property
    def streamable(self) -> bool:
        return True

    def _raw_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """float32 batches at the file's size, channels fitted; read, never mapped."""
        per_image = int(np.prod(self.file_shape[1:])) * self.dtype.itemsize
        with self.path.open("rb", buffering=0) as fh:
            fh.seek(self.offset)
            for start in range(0, self.n, batch_size):
                count = min(batch_size, self.n - start)
                raw = np.empty((count, *self.file_shape[1:]), dtype=self.dtype)
                if fh.readinto(raw.data.cast("B")) != count * per_image:
                    raise ConfigError(f"{self.path.name} is shorter than its header says (truncated file)")
                yield fit_channels(raw.astype(np.float32, copy=False), self.channels)

    def reused_batches(self, batch_size: int, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Batches read with ``file.readinto`` into one buffer allocated once (and one float32
        buffer when the file holds another type): memory stays flat however many images pass."""
        stop = self.n if stop is None else stop
        per_image = int(np.prod(self.file_shape[1:])) * self.dtype.itemsize
        raw = np.empty((batch_size, *self.file_shape[1:]), dtype=self.dtype)
        f32 = raw if self.dtype == np.float32 else np.empty(raw.shape, dtype=np.float32)
        with self.path.open("rb", buffering=0) as fh:
            fh.seek(self.offset + start * per_image)
            for i in range(start, stop, batch_size):
                count = min(batch_size, stop - i)
                if fh.readinto(raw[:count].data.cast("B")) != count * per_image:
                    raise ConfigError(f"{self.path.name} is shorter than its header says (truncated file)")
                if f32 is not raw:
                    np.copyto(f32[:count], raw[:count], casting="unsafe")
                batch = fit_channels(f32[:count], self.channels)
                yield np.asarray(resize_batch(batch, self.image_size)) if self._needs_resize() else batch

    def read_batch(self, start: int, count: int) -> np.ndarray:
        """Images ``start:start+count`` at the model's size, read from the file (random access,
        for a ``keras.utils.PyDataset``)."""
        per_image = int(np.prod(self.file_shape[1:])) * self.dtype.itemsize
        raw = np.empty((count, *self.file_shape[1:]), dtype=self.dtype)
        with self.path.open("rb", buffering=0) as fh:
            fh.seek(self.offset + start * per_image)
            if fh.readinto(raw.data.cast("B")) != count * per_image:
                raise ConfigError(f"{self.path.name} is shorter than its header says (truncated file)")
        batch = fit_channels(raw.astype(np.float32, copy=False), self.channels)
        return np.asarray(resize_batch(batch, self.image_size)) if self._needs_resize() else batch

    def _needs_resize(self) -> bool:
        return tuple(self.file_shape[1:3]) != tuple(self.image_size)

    def iter_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        if self.x is not None:
            yield from super().iter_batches(batch_size)
            return
        for batch in self._raw_batches(batch_size):
            yield np.asarray(resize_batch(batch, self.image_size)) if self._needs_resize() else batch

    def dataset(self, batch_size: int) -> Any:
        import tensorflow as tf

        h, w = self.file_shape[1:3]
        spec = tf.TensorSpec(shape=(None, h, w, self.channels), dtype=tf.float32)
        ds = tf.data.Dataset.from_generator(lambda: self._raw_batches(batch_size), output_signature=spec)
        if self._needs_resize():
            ds = ds.map(lambda b: resize_batch(b, self.image_size))
        return ds.prefetch(PREFETCH_BATCHES)


def demo_source(spec: DataSpec, image_size: tuple[int, int], channels: int) -> NpySource:
    """The embedded digits, from the cached ``.npy`` (built here if missing: no training)."""
    demo_assets.ensure_data()
    labels = np.load(demo_assets.paths()["labels"], allow_pickle=False)
    return NpySource(demo_assets.paths()["images"], image_size, channels, count=spec.count, labels=labels)


def synthetic(spec: DataSpec, image_size: tuple[int, int], channels: int) -> Source:
    """Random images with pixel values in [0, 255], like decoded 8-bit images."""
    rng = np.random.default_rng(spec.seed)
    n = int(spec.count or 256)
    x = rng.uniform(0.0, 255.0, size=(n, *image_size, channels)).astype(np.float32)
    return Source(n=n, image_size=image_size, channels=channels, x=x)


def build_source(spec: DataSpec, image_size: tuple[int, int], channels: int) -> Source:
    """The data source for a trial, sized for a model with this input. Nothing is decoded
    yet for data on disk: the pipeline decides between :meth:`Source.load` and streaming."""
    if spec.kind == "synthetic":
        return synthetic(spec, image_size, channels)
    if spec.kind == "demo":
        return demo_source(spec, image_size, channels)
    if spec.kind == "npy":
        return NpySource(spec.path or "", image_size, channels, count=spec.count)
    if spec.kind == "folder":
        from workbench.trial.images import FolderSource  # it builds on Source, defined above

        return FolderSource(spec.path or "", image_size, channels, count=spec.count)
    raise ConfigError(f"unknown data kind {spec.kind!r}")
