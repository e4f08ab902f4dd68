"""One sweep (or search) at a time per results folder.

Two sweeps appending to one ``results.jsonl`` would each run the trials the other has not
finished yet (duplicating them) and interleave their headers. The first takes an exclusive
``fcntl.flock`` on ``OUT/.workbench.lock`` for as long as it runs; a second stops at once with a
message naming the folder and the holder. Stopping, not waiting: a sweep can take hours, a
waiting command looks hung, and a second sweep into the same folder is nearly always a mistake
(another ``--out`` runs both side by side). The kernel drops the lock when its holder exits, even
when killed, so a stale lock never blocks anyone. On systems without ``fcntl`` nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from workbench.errors import WorkbenchError

LOCK_FILE = ".workbench.lock"


@contextlib.contextmanager
def folder_lock(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the results folder ``out_dir`` (created if missing) for the duration of the block.

    Raises :class:`WorkbenchError` at once when another process (or another sweep in this one)
    holds it.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield Path(out_dir)
        return
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise WorkbenchError(
                f"results folder {str(out_dir)!r} is in use by another sweep or search ({holder}): "
                "wait until it ends, or give another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}".encode(), 0)
        yield folder
    finally:
        os.close(fd)  # closing the descriptor releases the lock
