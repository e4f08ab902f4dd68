"""Configuration: small frozen dataclasses, validated on construction.

Everything a trial needs travels as one :class:`TrialConfig`, serialised to JSON for the
worker process. Nothing here imports TensorFlow: validation happens in the parent, before
any trial starts, so a user's typo costs milliseconds, not a TensorFlow import.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.parsing import (  # noqa: F401  (re-exported: the parsers' historical home)
    format_bytes,
    parse_bytes,
    parse_image_size,
    parse_int_list,
    parse_name_list,
    parse_target_images,
    path_exists,
    user_path,
    whole_number,
)
from workbench.specs import (  # noqa: F401  (re-exported: the specs' historical home)
    _S,
    APPLICATIONS,
    BACKENDS,
    BUILTIN_MODELS,
    DEFAULT_BACKEND,
    MAX_REPEAT,
    MODEL_FILE_SUFFIXES,
    Budget,
    DataSpec,
    ModelSpec,
    TimingSpec,
    _Serialisable,
)
from workbench.types import (  # noqa: F401  (the tuples are re-exported: their historical home)
    DATA_KINDS,
    FAULTS,
    NAMED_DATA,
    PIPELINES,
    PRECISIONS,
    DataKind,
    ModelKind,
    Pipeline,
    Precision,
)


def _check_keep_outputs(path: str, pipeline: Pipeline) -> None:
    if pipeline != "stream_to_disk":
        raise ConfigError(f"keep_outputs applies to the stream_to_disk pipeline only, not {pipeline}")
    target = Path(path).expanduser()
    if target.suffix.lower() != ".npy" or not target.parent.is_dir():
        raise ConfigError(f"keep_outputs {path!r} must be a .npy file in an existing folder")


def _spec(value: _S | dict[str, Any], cls: type[_S]) -> _S:
    return cls.from_dict(value) if isinstance(value, dict) else value


def _parts_from_dicts(config: TrialConfig | SweepConfig) -> None:
    """A trial's or sweep's model, data, budget and timing given as dicts (read from JSON)
    become their specs, each validated on construction."""
    object.__setattr__(config, "model", _spec(config.model, ModelSpec))
    object.__setattr__(config, "data", _spec(config.data, DataSpec))
    object.__setattr__(config, "budget", _spec(config.budget, Budget))
    object.__setattr__(config, "timing", _spec(config.timing, TimingSpec))


@dataclass(frozen=True)
class TrialConfig(_Serialisable):
    """One setting to measure, in one fresh process.

    ``fault`` injects a failure for tests and teaching (``hang``, ``sigkill``, ``sigsegv``,
    ``exit``, ``raise``, ``raise_oom``, ``alloc:BYTES`` for a short allocation inside the
    prediction phase). It is never set by a normal sweep.
    """

    model: ModelSpec
    data: DataSpec
    pipeline: Pipeline = "in_memory"
    precision: Precision = "float32"
    batch_size: int = 32
    budget: Budget = field(default_factory=Budget)
    timing: TimingSpec = field(default_factory=TimingSpec)
    backend: str = DEFAULT_BACKEND  # KERAS_BACKEND; in the key when not the default (old keys hold)
    fault: str | None = None
    # stream_to_disk only: keep its outputs at this .npy path (None: a scratch file, deleted
    # when the trial ends). Not part of the resume key: it changes nothing that is measured.
    keep_outputs: str | None = None
    # Which run of the same setting this is (0: the first; ``SweepConfig.repeat`` and the
    # search's confirmation run settings again). Part of the key from 1 on, so repeats differ.
    repeat: int = 0

    def __post_init__(self) -> None:
        _parts_from_dicts(self)
        if self.pipeline not in PIPELINES:
            raise ConfigError(f"unknown pipeline {self.pipeline!r}: choose from {', '.join(PIPELINES)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}: choose from {', '.join(PRECISIONS)}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}: choose from {', '.join(BACKENDS)}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch size {self.batch_size!r} is not allowed: use a whole number of 1 or more")
        if self.fault is not None:
            kind = self.fault.split(":", 1)[0]
            if kind not in FAULTS or (kind == "alloc" and parse_bytes(self.fault.split(":", 1)[-1]) <= 0):
                raise ConfigError(f"unknown fault {self.fault!r}")
        if self.keep_outputs is not None:
            _check_keep_outputs(self.keep_outputs, self.pipeline)
        repeat = whole_number(self.repeat)
        if repeat is None or repeat < 0:
            raise ConfigError(f"repeat {self.repeat!r} must be a whole number of 0 or more")
        object.__setattr__(self, "repeat", repeat)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["model"]["image_size"] is not None:
            d["model"]["image_size"] = list(d["model"]["image_size"])
        return d

    def key(self) -> str:
        """A stable identity for resuming: everything that changes what is measured."""
        d = self.to_dict()
        d["budget"].pop("timeout_s", None)
        d.pop("keep_outputs", None)
        if not d.get("repeat"):
            d.pop("repeat", None)  # the first run keeps the key it had before repeats existed
        if d.get("backend") == DEFAULT_BACKEND:
            d.pop("backend")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> str:
        again = f" | repeat {self.repeat + 1}" if self.repeat else ""
        return f"{self.model.label} | {self.data.label} | {self.pipeline} | {self.precision} | batch {self.batch_size}{again}"


@dataclass(frozen=True)
class SweepConfig(_Serialisable):
    """A sweep: one model and dataset, and the axes to cross (Keras backends x pipelines x
    precisions x batch sizes, and dataset sizes).

    ``images``: dataset sizes to measure, each run on the first K images of the data (synthetic
    data makes K images). None: the data's own count (``data.count``, or all of a file or folder).
    Memory grows with the number of images as well as the batch (predict keeps every batch's
    outputs; in-memory pipelines hold copies of the array), so two or more sizes let the memory
    model separate the two.

    ``target_images``: the number of images of the real job, the size the answers are for (the
    recommendation, the search and the report predict each setting's peak there). None: the
    full count of a folder or ``.npy``, or the largest size measured for synthetic and demo data.
    ``auto_sizes``: when the target (``target_images``, else a file's full count) is above the one dataset size the sweep measures, also run
    each pipeline x precision at a quarter and a half of that size (one batch size), so the
    memory model's N term is measured, not missing (:mod:`workbench.engine.sweep_sizes`).
    False: only the trials the axes name.
    ``repeat``: run every setting this many times, in interleaved order (the whole sweep once,
    then again), so a drift in the machine's speed touches every setting alike; the analysis
    takes the median of the repeats and their spread (:func:`workbench.analysis.aggregate_repeats`).
    """

    model: ModelSpec
    data: DataSpec
    pipelines: tuple[Pipeline, ...] = ("in_memory",)
    precisions: tuple[Precision, ...] = ("float32",)
    batch_sizes: tuple[int, ...] = (1, 8, 32)
    budget: Budget = field(default_factory=Budget)
    timing: TimingSpec = field(default_factory=TimingSpec)
    images: tuple[int, ...] | None = None
    target_images: int | None = None
    repeat: int = 1
    backends: tuple[str, ...] = (DEFAULT_BACKEND,)
    auto_sizes: bool = True

    def __post_init__(self) -> None:
        _parts_from_dicts(self)
        object.__setattr__(self, "pipelines", parse_name_list(self.pipelines, PIPELINES, "pipelines"))
        object.__setattr__(self, "precisions", parse_name_list(self.precisions, PRECISIONS, "precisions"))
        object.__setattr__(self, "batch_sizes", parse_int_list(self.batch_sizes, "batch sizes"))
        if self.images is not None and self.images != "":
            object.__setattr__(self, "images", tuple(sorted(parse_int_list(self.images, "images"))))
        else:
            object.__setattr__(self, "images", None)
        object.__setattr__(self, "target_images", parse_target_images(self.target_images))
        if not isinstance(self.auto_sizes, bool):
            raise ConfigError(f"auto_sizes {self.auto_sizes!r} must be True or False")
        repeat = whole_number(self.repeat)
        if repeat is None or not 1 <= repeat <= MAX_REPEAT:
            raise ConfigError(f"repeat {self.repeat!r} must be a whole number from 1 to {MAX_REPEAT}, e.g. --repeat 3")
        object.__setattr__(self, "repeat", repeat)
        chosen = parse_name_list(self.backends, BACKENDS, "backends")  # in BACKENDS' order, as the panel's
        object.__setattr__(self, "backends", tuple(b for b in BACKENDS if b in chosen))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("pipelines", "precisions", "batch_sizes", "backends"):
            d[key] = list(d[key])
        if d["images"] is not None:
            d["images"] = list(d["images"])
        if d["model"]["image_size"] is not None:
            d["model"]["image_size"] = list(d["model"]["image_size"])
        return d
