"""An image folder's files, listed without TensorFlow, and a listing kept while the folder is unchanged.

A folder of a million images takes seconds to minutes to list, and a sweep asks about its data
several times before its first trial (the size plan, the dataset-size check of each trial list,
the file checks) and once after (the answer at the full count). :func:`folder_listing` lists a
folder once and answers again from memory as long as the folder is unchanged, which a ``stat``
of each of its directories tells: adding, removing or renaming a file changes the modification
time of the directory that holds it, and stat-ing the root and its class subfolders is far
cheaper than listing their files. A changed folder is listed again.

Kept in memory only, and small: the count, the class names and a few files spread over the
folder, not the million paths (those would hold about 400 bytes each for as long as the process
lives). The trial processes list the folder themselves with :func:`scan` (a fresh process, and
the trial reads every file anyway).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FOLDER_SAMPLE = 8  # images decoded before the first trial (all of them only if these all fail)
# A directory changed this recently may change again within the same tick of its file system's
# clock (FAT keeps 2 s; Linux stamps at the kernel's tick) and keep the same time, so a listing
# of it is not kept: only folders left alone for longer are answered from memory.
SETTLED_NS = 2_000_000_000
KEPT = 8  # folders remembered (a sweep uses one; the panel may switch between a few)


def scan(root: Path, walked: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """Image files under ``root`` in sorted order, and the class names (empty: flat folder).
    ``walked``, when given, receives the path of ``root`` and of every subdirectory looked in
    (one that cannot be read included)."""
    files: list[Path] = []
    if walked is not None:
        walked.append(str(root))
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if walked is not None:
            walked.extend(os.path.join(dirpath, d) for d in dirnames)
        files.extend(
            Path(dirpath) / f for f in sorted(filenames)
            if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES)
        )
    top_level = [f for f in files if f.parent == root]
    classes = [] if top_level or not files else sorted({f.relative_to(root).parts[0] for f in files})
    return files, classes


@dataclass(frozen=True)
class FolderListing:
    """What the parent needs of a folder's listing: ``count`` image files, the ``classes``
    (empty: flat folder) and ``sample``, up to :data:`FOLDER_SAMPLE` files spread over it."""

    count: int
    classes: tuple[str, ...]
    sample: tuple[Path, ...]


# (directory, device, inode, mtime_ns, ctime_ns) of each directory: the ctime also moves when a
# folder that could not be read is made readable (chmod leaves its mtime alone).
Stamp = tuple[tuple[str, int, int, int, int], ...]
_kept: dict[str, tuple[Stamp, FolderListing]] = {}
_lock = threading.Lock()  # the panel validates a form while a sweep runs in a thread


def _stamp(dirs: list[str]) -> Stamp | None:
    """The stat of each directory; None when one is gone (the folder changed)."""
    try:
        stats = [(d, os.stat(d)) for d in dirs]
    except OSError:
        return None
    return tuple((d, s.st_dev, s.st_ino, s.st_mtime_ns, s.st_ctime_ns) for d, s in stats)


def folder_listing(root: Path) -> FolderListing:
    """The listing of the image folder ``root`` (see the module's docstring): listed with
    :func:`scan` unless a listing of it is kept and none of its directories changed since."""
    key = os.path.abspath(root)
    with _lock:
        kept = _kept.get(key)
    if kept is not None and _stamp([d for d, *_ in kept[0]]) == kept[0]:
        return kept[1]
    started = time.time_ns()
    walked: list[str] = []
    files, classes = scan(root, walked)
    step = max(len(files) // FOLDER_SAMPLE, 1)
    listing = FolderListing(len(files), tuple(classes), tuple(files[::step][:FOLDER_SAMPLE]))
    # Stat-ed after the listing, so kept only when every directory was last changed well before
    # the listing began: one changed during or after it differs from this stamp next time.
    stamp = _stamp(walked)
    if stamp is not None and all(s[3] < started - SETTLED_NS for s in stamp):
        with _lock:
            _kept.pop(key, None)
            _kept[key] = (stamp, listing)
            while len(_kept) > KEPT:
                del _kept[next(iter(_kept))]
    return listing
