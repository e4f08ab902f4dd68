"""Write an ``(N, ...)`` ``.npy`` file front to back, one batch of rows at a time.

The number of rows is known before the first batch (the dataset's size), the row shape and
dtype from the first batch; the header is written then, for the final shape, and every batch
is appended with a plain ``file.write`` of its bytes. Nothing is kept: the written pages belong
to the kernel's page cache, not to this process. (A writable memory map would be simpler, but
its dirty pages count as this process's resident memory until they are written back.)
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import numpy as np


class NpyAppender:
    """``with NpyAppender(path, rows) as out: out.append(batch) ...``; checks the row count."""

    def __init__(self, path: str | os.PathLike[str], rows: int) -> None:
        self.path = Path(path)
        self.rows = rows
        self.written = 0
        self.row_shape: tuple[int, ...] | None = None
        self.dtype: np.dtype | None = None
        self._fh = self.path.open("wb")

    def append(self, batch: np.ndarray) -> None:
        """Write the rows of ``batch`` (the first call also writes the header)."""
        batch = np.ascontiguousarray(batch)
        if batch.dtype.kind not in "biuf":  # bfloat16 (ml_dtypes) has no portable .npy type
            batch = batch.astype(np.float32)
        if self.row_shape is None:
            self.row_shape, self.dtype = tuple(batch.shape[1:]), batch.dtype
            header = {"descr": np.lib.format.dtype_to_descr(batch.dtype), "fortran_order": False,
                      "shape": (self.rows, *self.row_shape)}
            np.lib.format.write_array_header_2_0(self._fh, header)
        elif tuple(batch.shape[1:]) != self.row_shape or batch.dtype != self.dtype:
            raise ValueError(f"batch of {batch.dtype} {batch.shape[1:]} after rows of {self.dtype} {self.row_shape}")
        if self.written + len(batch) > self.rows:
            raise ValueError(f"more than the {self.rows} rows the header promises")
        self._fh.write(batch.reshape(-1).view(np.uint8).data)  # ndarray.data: its memoryview
        self.written += len(batch)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> NpyAppender:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
        if kind is None and self.written != self.rows:
            raise ValueError(f"wrote {self.written} rows, the header promises {self.rows}")
