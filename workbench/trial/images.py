"""A folder of images as users have them: JPEG and PNG of mixed sizes and modes, class
subfolders or none, other files lying around, some of them broken.

* Only ``.jpg``, ``.jpeg`` and ``.png`` files are read (any case); other files and hidden
  ones (``.DS_Store``, ``._photo.jpg``) are ignored, not counted.
* Every candidate is decoded once with Pillow first; a corrupt or truncated file, or one whose
  content is not JPEG or PNG, is skipped and reported in ``skipped_files`` as
  ``"relative/path (reason)"``, and the trial goes on with the rest.
* The good files are decoded by TensorFlow (``tf.io.decode_image``, converted to the model's
  channels: grayscale, RGBA and palette images become RGB) and resized to the model's input,
  through the same ``tf.data`` steps for every pipeline, so all of them see the same pixels.
* Labels: when every image sits in a subfolder, the subfolders are the classes, numbered in
  sorted name order (as ``keras.utils.image_dataset_from_directory`` does); a flat folder has
  no labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workbench.engine.folders import scan
from workbench.engine.preflight import check_image
from workbench.errors import ConfigError
from workbench.trial.sources import PREFETCH_BATCHES, Source


class FolderSource(Source):
    """The good images of a folder, decoded on demand (all at once, or batch by batch)."""

    load_chunk = 64  # decoded images are large: smaller steps while filling the array

    def __init__(self, path: str | Path, image_size: tuple[int, int], channels: int,
                 count: int | None = None) -> None:
        self.root = Path(path).expanduser()
        if channels not in (1, 3, 4):
            raise ConfigError(f"the model takes {channels}-channel images; a folder gives 1, 3 or 4")
        files, classes = scan(self.root)
        good: list[Path] = []
        skipped: list[str] = []
        for f in files:
            if count is not None and len(good) >= count:
                break
            reason = check_image(f)
            if reason is None:
                good.append(f)
            else:
                skipped.append(f"{f.relative_to(self.root).as_posix()} ({reason})")
        if not good:
            found = f"{len(files)} image file(s), all unreadable" if files else "no .jpg/.jpeg/.png files"
            raise ConfigError(f"image folder {str(self.root)!r} has {found}")
        self.files = good
        self.classes = classes
        labels = None
        if classes:
            index = {name: i for i, name in enumerate(classes)}
            labels = np.array([index[f.relative_to(self.root).parts[0]] for f in good], dtype=np.int64)
        super().__init__(n=len(good), image_size=image_size, channels=channels,
                         labels=labels, skipped_files=skipped)

    @property
    def streamable(self) -> bool:
        return True

    def _decode(self, path: Any) -> Any:
        import tensorflow as tf

        image = tf.io.decode_image(tf.io.read_file(path), channels=self.channels, expand_animations=False)
        image = tf.image.resize(image, self.image_size, method="bilinear", antialias=True)
        return tf.ensure_shape(image, (*self.image_size, self.channels))

    def dataset(self, batch_size: int) -> Any:
        """Decode, resize and batch on tf.data's threads, a bounded number of batches ahead."""
        import tensorflow as tf

        paths = tf.data.Dataset.from_tensor_slices([str(f) for f in self.files])
        images = paths.map(self._decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return images.batch(batch_size).prefetch(PREFETCH_BATCHES)

    def reused_batches(self, batch_size: int, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Each batch's files decoded one by one, eagerly, into one reused buffer: no tf.data
        queue of decoded batches, so memory does not depend on how many images pass."""
        stop = self.n if stop is None else stop
        buf = np.empty((batch_size, *self.image_size, self.channels), dtype=np.float32)
        for i in range(start, stop, batch_size):
            files = self.files[i:min(i + batch_size, stop)]
            for j, path in enumerate(files):
                buf[j] = self._decode(str(path)).numpy()
            yield buf[:len(files)]

    def iter_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        if self.x is not None:
            yield from super().iter_batches(batch_size)
            return
        yield from self.dataset(batch_size).as_numpy_iterator()
