"""Files written whole or not at all: written beside their final name, then renamed over it.

Whoever reads them (the parent waiting for a trial's result, a second sweep reading the demo
cache, a browser opening the report) sees the old file or the new one, never half of one: a
rename within one folder is atomic. The temporary name carries the process id, so two
processes writing the same file at once never write into one temporary file, and it keeps the
final suffix (``np.save`` and ``model.save`` choose the format by it). Used by both sides of
the process boundary: nothing here imports more than the standard library.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place: the same folder and suffix."""
    return path.with_name(f"{path.stem}.tmp-{os.getpid()}{path.suffix}")


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Have ``write`` write the file at a temporary path beside ``path`` (its folder created if
    missing), then rename it to ``path``. If ``write`` fails, the temporary file is removed and
    ``path`` is left as it was."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(final)
    try:
        write(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
