"""What the teaching notebooks (notebooks/02-05) share: text written from a run's numbers,
claims checked against them, one line per finished trial, and the filter of ok trials
(:func:`workbench.results.is_ok`, re-exported).

A teaching notebook states its conclusions through :func:`claim`: the sentence is shown with
its check, and the notebook stops when this run's numbers contradict it, so a notebook that
runs to the end is one whose story matched the measurement. Nothing here imports TensorFlow;
IPython is imported on first use, so the module loads wherever the package does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.config import format_bytes
from workbench.results import is_ok  # noqa: F401  (the notebooks' filter of ok trials, re-exported)

if TYPE_CHECKING:
    from workbench.engine.runner import TrialEvent

CHECKED = "**✔ checked:** "
CONTRADICTED = "**✘ contradicted by this run:** "


def random_images_npy(path: Path, images: int, image_size: int, *, slice_rows: int = 128, seed: int = 0) -> int:
    """Write ``images`` random float32 RGB images (0-255) of ``image_size`` px a side to the
    ``.npy`` file ``path``, unless it exists; its size in bytes. Written a slice at a time, so
    the kernel never holds the whole set (the same pixels for the same arguments)."""
    shape = (images, image_size, image_size, 3)
    if not path.exists():
        pixels = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
        rng = np.random.default_rng(seed)
        for start in range(0, images, slice_rows):
            pixels[start:start + slice_rows] = rng.uniform(0, 255, size=pixels[start:start + slice_rows].shape)
        pixels.flush()
        del pixels
    return int(np.prod(shape)) * 4


class ClaimContradicted(AssertionError):
    """A notebook's sentence that this run's numbers do not support.

    An ``AssertionError``, so a notebook stops on it as on a failed ``assert``; unlike an
    ``assert`` statement it is raised under ``python -O`` too.
    """


def say(text: str) -> None:
    """Show ``text`` (Markdown, usually written from this run's numbers) as the cell's output."""
    from IPython.display import Markdown, display  # a notebook dependency, needed only here

    display(Markdown(text))


def claim(holds: bool, text: str) -> None:
    """Show a claim about this run's numbers with its check; raise when the numbers contradict it.

    ``holds`` is the check itself (``per_image > input_bytes``), ``text`` the sentence it
    supports. The sentence is shown either way, marked checked or contradicted, so a reader of
    a failed run sees which sentence no longer holds; then :class:`ClaimContradicted` stops the
    notebook with the sentence in its message.
    """
    holds = bool(holds)  # numpy booleans too
    say((CHECKED if holds else CONTRADICTED) + text)
    if not holds:
        raise ClaimContradicted("the measurement contradicts the notebook's text: " + text)


def progress(event: TrialEvent) -> None:
    """A sweep's ``progress`` callback: one printed line per finished trial, with its status,
    throughput and host peak (``n/a`` where a figure is missing)."""
    if event.kind != "end" or event.result is None:
        return
    r = event.result
    print(f"{event.index + 1}/{event.total} {r.pipeline:10} {r.precision:14} batch {r.batch_size:4}: "
          f"{str(r.status):11} {r.throughput_ips:7.0f} images/s  peak host {format_bytes(r.host_peak_bytes)}",
          flush=True)
