"""The user's real dataset size (the *target* N) and where it comes from.

The answers (recommendation, search, report, panel) are for the number of images of the real
job, not for the sample the trials measured: memory grows with N (``model.predict`` keeps
every batch's outputs; in-memory pipelines hold copies of the array). The target is, in
order: what the user gave (``--target-images``, ``target_images=``); the sweep's or search's
own target, recorded in the results header; the full count of a folder or ``.npy`` (read
without TensorFlow, from the file's header or a folder scan); else None, and the answers are
for the largest size measured, as for synthetic and demo data.

Parent side: no TensorFlow.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from workbench.config import DataSpec, parse_target_images
from workbench.engine.preflight import available_images
from workbench.errors import ConfigError

SAMPLE_IMAGES = 2000  # a search's probes run on at most this many images unless told otherwise
MIN_SAMPLE = 16  # the smallest sample whose quarter, half and whole tell the N term apart
PARTS = (4, 2, 1)  # the sample's quarter, half and whole: the sizes that measure the N term


def default_target(data: DataSpec | None, count: int | None = None) -> int | None:
    """The full count of a folder or ``.npy`` file (``count`` where the caller already read it);
    None for synthetic and demo data (their answers are for the largest size measured) or when
    the file cannot be read any more."""
    if data is None or data.kind not in ("folder", "npy"):
        return None
    if count is not None:
        return count
    try:
        return available_images(replace_count(data, None))
    except ConfigError:
        return None


def replace_count(data: DataSpec, count: int | None) -> DataSpec:
    """``data`` with another image count (None: all of it)."""
    return DataSpec(kind=data.kind, count=count, path=data.path, seed=data.seed)


def resolve_target(target_images: Any, data: DataSpec | None, count: int | None = None) -> tuple[int | None, str]:
    """``(N, where it came from)``: the given target (validated), else the data's full count
    (folder or ``.npy``; ``count`` where the caller already read it), else ``(None, ...)``:
    answer for the largest size measured."""
    given = parse_target_images(target_images)
    if given is not None:
        return given, "the target you gave"
    full = default_target(data, count)
    if full is not None:
        return full, f"the full count of {data.label.split('[')[0] if data else 'the data'}"
    return None, "the largest size measured (synthetic or demo data, no target given)"


def _header_parts(df: pd.DataFrame) -> tuple[Any, DataSpec | None]:
    """The target recorded in the results header and the data it ran on (None where absent)."""
    sweep = df.attrs.get("sweep") or {}
    if "search" in sweep:
        search = sweep.get("search") or {}
        target, data = search.get("target_images"), (search.get("template") or {}).get("data")
    else:
        target, data = sweep.get("target_images"), sweep.get("data")
    try:
        spec = DataSpec.from_dict(data) if isinstance(data, dict) else None
    except (ConfigError, TypeError):
        spec = None  # the file moved since the trials ran: no full count to default to
    return target, spec


def target_for_results(df: pd.DataFrame, target_images: Any = None) -> tuple[int | None, str]:
    """The target N for a results table: the given one, the one recorded with the sweep or
    search, the full count of the folder or ``.npy`` it ran on, else None."""
    given = parse_target_images(target_images)
    if given is not None:
        return given, "the target you gave"
    recorded, data = _header_parts(df)
    if parse_target_images(recorded) is not None:
        return parse_target_images(recorded), "the target the trials were run for"
    return resolve_target(None, data)


def growth_sizes(sample: int) -> list[int]:
    """The dataset sizes that measure how memory grows with the number of images: a quarter, a
    half and the whole of ``sample``, smallest first (shared by the search's size trials and the
    sizes a sweep adds for its target: :mod:`workbench.engine.sweep_sizes`)."""
    return sorted({max(int(sample) // part, 1) for part in PARTS})


def sample_size(data: DataSpec, sample_images: int | None = None) -> int:
    """How many images a search's probes predict: ``sample_images`` when given (checked against
    what the data holds), else the data's own count, capped at :data:`SAMPLE_IMAGES` for a
    folder, a ``.npy`` or the demo set (synthetic data makes exactly its count)."""
    have = data.count if data.kind == "synthetic" else available_images(data)
    if have is not None and data.count:
        have = min(have, data.count)
    if sample_images is not None:
        if isinstance(sample_images, bool) or int(sample_images) < 1:
            raise ConfigError(f"sample images {sample_images!r} must be a whole number of 1 or more")
        if data.kind != "synthetic" and have is not None and int(sample_images) > have:
            raise ConfigError(f"a sample of {int(sample_images):,} images asked for, but {data.label} holds "
                              f"{have:,}: choose at most {have:,}")
        return int(sample_images)
    assert have is not None  # synthetic data always has a count
    return have if data.kind == "synthetic" else min(have, SAMPLE_IMAGES)
