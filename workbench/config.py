"""Configuration: small frozen dataclasses, validated on construction.

Everything a trial needs travels as one :class:`TrialConfig`, serialised to JSON for the
worker process. Nothing here imports TensorFlow: validation happens in the parent, before
any trial starts, so a user's typo costs milliseconds, not a TensorFlow import.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

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

BACKENDS = ("tensorflow", "jax", "torch")  # Keras 3 backends (KERAS_BACKEND); the first is the default
DEFAULT_BACKEND = BACKENDS[0]
MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")
MAX_REPEAT = 100  # runs of one setting in a sweep

# keras.applications constructors by the names users type (lower case, underscores).
# value: (constructor name in keras.applications, default input size, smallest input size)
APPLICATIONS: dict[str, tuple[str, int, int]] = {
    "mobilenet": ("MobileNet", 224, 32),
    "mobilenet_v2": ("MobileNetV2", 224, 32),
    "mobilenet_v3_small": ("MobileNetV3Small", 224, 32),
    "mobilenet_v3_large": ("MobileNetV3Large", 224, 32),
    "resnet50": ("ResNet50", 224, 32),
    "resnet101": ("ResNet101", 224, 32),
    "resnet50_v2": ("ResNet50V2", 224, 32),
    "efficientnet_b0": ("EfficientNetB0", 224, 32),
    "efficientnet_b1": ("EfficientNetB1", 240, 32),
    "efficientnet_v2_b0": ("EfficientNetV2B0", 224, 32),
    "densenet121": ("DenseNet121", 224, 32),
    "vgg16": ("VGG16", 224, 32),
    "xception": ("Xception", 299, 71),
    "inception_v3": ("InceptionV3", 299, 75),
    "convnext_tiny": ("ConvNeXtTiny", 224, 32),
    "nasnet_mobile": ("NASNetMobile", 224, 224),
}
# Built-in models: "tiny" is a small random CNN for fast tests, "demo" is trained locally.
BUILTIN_MODELS: dict[str, int] = {"tiny": 32, "demo": 32}

_S = TypeVar("_S", bound="_Serialisable")


class _Serialisable:
    """``to_dict`` / ``from_dict`` for the frozen dataclasses below."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # set by @dataclass on each subclass

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[_S], data: dict[str, Any]) -> _S:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass(frozen=True)
class ModelSpec(_Serialisable):
    """Which model to run.

    ``name`` is a keras.applications name (``mobilenet_v2``), ``tiny`` (a small random CNN for
    tests), ``demo`` (a small CNN trained locally on the embedded real images), or a path to a
    ``.keras`` / ``.h5`` file or a SavedModel directory. ``image_size`` is (height, width); None
    means the model's own size (or the application's default).
    """

    name: str
    image_size: tuple[int, int] | None = None
    allow_unsafe: bool = False  # load .keras files with safe_mode=False (only for files you trust)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("model: give a keras.applications name, 'demo', 'tiny' or a model file path")
        object.__setattr__(self, "image_size", parse_image_size(self.image_size))
        if self.kind == "file":
            path = user_path(self.name, "model file")
            if not path.exists():
                raise ConfigError(
                    f"model file {self.name!r} does not exist: give a .keras/.h5 file, a SavedModel "
                    f"folder, or one of: {', '.join(sorted([*BUILTIN_MODELS, *APPLICATIONS]))}"
                )
            if path.is_dir() and not (path / "saved_model.pb").exists():
                raise ConfigError(f"model folder {self.name!r} is not a SavedModel (no saved_model.pb inside)")
            if path.is_file() and path.suffix.lower() not in MODEL_FILE_SUFFIXES:
                raise ConfigError(
                    f"model file {self.name!r} has an unsupported type: use .keras, .h5 or a SavedModel folder"
                )
        elif self.kind == "unknown":
            raise ConfigError(
                f"unknown model {self.name!r}: choose one of {', '.join(sorted([*BUILTIN_MODELS, *APPLICATIONS]))}, "
                "or give the path of a .keras/.h5 file or SavedModel folder"
            )
        if self.kind == "application" and self.image_size is not None:
            smallest = APPLICATIONS[self.name.lower()][2]
            if min(self.image_size) < smallest:
                raise ConfigError(f"{self.name} needs an input of at least {smallest}x{smallest} pixels")

    @property
    def kind(self) -> ModelKind:
        """``application``, ``builtin``, ``file`` or ``unknown``."""
        key = self.name.strip().lower()
        if key in APPLICATIONS:
            return "application"
        if key in BUILTIN_MODELS:
            return "builtin"
        if key.endswith(MODEL_FILE_SUFFIXES) or "/" in self.name or "\\" in self.name or path_exists(self.name):
            return "file"
        return "unknown"

    @property
    def label(self) -> str:
        return Path(self.name).name if self.kind == "file" else self.name.lower()


@dataclass(frozen=True)
class DataSpec(_Serialisable):
    """Which images to feed.

    ``kind``: ``synthetic`` (random images of the model's input size, ``count`` of them),
    ``demo`` (the embedded real labelled set), ``folder`` (a directory of images), ``npy``
    (an (N, H, W, C) array file). ``count`` limits how many images are used (None: all).
    """

    kind: DataKind
    count: int | None = None
    path: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise ConfigError(f"unknown data kind {self.kind!r}: choose from {', '.join(DATA_KINDS)}")
        if self.count is not None:
            count = whole_number(self.count)
            if count is None or count < 1:
                raise ConfigError(f"data: image count {self.count!r} must be 1 or more (a whole number)")
            object.__setattr__(self, "count", count)
        if self.kind == "synthetic" and self.count is None:
            object.__setattr__(self, "count", 256)
        if self.kind in ("folder", "npy"):
            if not self.path:
                raise ConfigError(f"data: {self.kind} needs a path")
            path = user_path(self.path, "data path")
            if not path.exists():
                raise ConfigError(f"data path {self.path!r} does not exist: give an image folder or a .npy file")
            if self.kind == "folder" and not path.is_dir():
                raise ConfigError(f"data path {self.path!r} is not a folder")
            if self.kind == "npy" and (not path.is_file() or path.suffix.lower() != ".npy"):
                raise ConfigError(f"data path {self.path!r} is not a .npy file")

    @classmethod
    def parse(cls, text: str) -> DataSpec:
        """``synthetic:64``, ``synthetic``, ``demo``, ``demo:500``, a folder path or a ``.npy`` path."""
        text = text.strip()
        if not text:
            raise ConfigError("data: give synthetic:COUNT, demo, an image folder or a .npy file")
        head, _, tail = text.partition(":")
        if head in NAMED_DATA:
            count = None
            if tail:
                count = whole_number(tail) if tail.isdigit() else None  # no sign, no spaces
                if count is None:
                    raise ConfigError(f"data {text!r}: the count after ':' must be a whole number, e.g. {head}:64")
            return cls(kind=head, count=count)
        path = user_path(text, "data")
        if text.lower().endswith(".npy"):
            return cls(kind="npy", path=str(path))
        if path.is_dir():
            return cls(kind="folder", path=str(path))
        if not path.exists():
            raise ConfigError(
                f"data {text!r} does not exist: write synthetic:COUNT, demo, an image folder or a .npy file"
            )
        raise ConfigError(f"data {text!r} is neither an image folder nor a .npy file")

    @property
    def label(self) -> str:
        if self.kind in NAMED_DATA:
            return f"{self.kind}:{self.count}" if self.count else self.kind
        first = f"[:{self.count}]" if self.count else ""  # the first COUNT images of the file
        return f"{self.kind}:{Path(self.path or '').name}{first}"


@dataclass(frozen=True)
class Budget(_Serialisable):
    """Limits for one trial. None means no limit.

    ``host_bytes``: peak resident memory of the trial process; the parent kills the trial when
    it passes this. ``gpu_bytes``: a simulated GPU (a logical device with this memory limit),
    so a large card can rehearse a smaller one. ``timeout_s``: wall-clock limit per trial.
    """

    host_bytes: int | None = None
    gpu_bytes: int | None = None
    timeout_s: float | None = 600.0

    def __post_init__(self) -> None:
        for name in ("host_bytes", "gpu_bytes"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, parse_bytes(value))
        if self.timeout_s is not None:
            try:
                timeout = float(self.timeout_s)
            except (TypeError, ValueError):
                timeout = -1.0
            if isinstance(self.timeout_s, bool) or not timeout > 0:
                raise ConfigError(f"timeout {self.timeout_s!r} must be a positive number of seconds")
            object.__setattr__(self, "timeout_s", timeout)


@dataclass(frozen=True)
class TimingSpec(_Serialisable):
    """How long to measure: warm-up batches (tracing, not timed), then whole passes over the
    data until at least ``min_passes`` passes, ``min_batches`` batches and ``min_duration_s``
    seconds were timed. The throughput is the median of the passes, with their spread; while
    their coefficient of variation is above ``max_cv`` the trial is re-measured with more passes,
    up to ``remeasure_factor`` times as long as the minimum took (1: never), and marked unstable
    if it stays noisy.

    Why 5 passes and 3 s: one short pass is noise here (the same setting read 722 and 1,344-1,406
    images/s); timed for 1 s the workbench read 0.74-0.96 of a bare ``model.predict`` loop,
    timed for 3 s 1.02 (``bench/bench_overhead.py``). Five passes give a median that one
    outlying pass barely moves, an IQR, and the creep verdict; 3 s costs 2 s a trial more than
    the old 1 s, and the re-measure at most doubles the timed phase, only for noisy trials.
    """

    warmup_batches: int = 2
    min_batches: int = 10
    min_duration_s: float = 3.0
    drift_samples: int = 256  # images compared against float32 (0 turns drift off)
    min_passes: int = 5
    max_cv: float = 0.05  # spread (CV of the per-pass throughputs) above which a trial is re-measured
    remeasure_factor: float = 2.0

    def __post_init__(self) -> None:
        # normalise types so equal settings serialise (and hash) the same: 0 and 0.0, "2" and 2
        for name, kind in (("warmup_batches", int), ("min_batches", int), ("min_duration_s", float),
                           ("drift_samples", int), ("min_passes", int), ("max_cv", float),
                           ("remeasure_factor", float)):
            try:
                object.__setattr__(self, name, kind(getattr(self, name)))
            except (TypeError, ValueError, OverflowError):
                raise ConfigError(f"{name} must be a number, not {getattr(self, name)!r}") from None
        if int(self.warmup_batches) < 1:
            raise ConfigError("warm-up needs at least 1 batch (the first call traces the model)")
        if int(self.min_batches) < 1:
            raise ConfigError("min_batches must be 1 or more")
        if not float(self.min_duration_s) >= 0:
            raise ConfigError("min_duration_s must be 0 or more")
        if int(self.drift_samples) < 0:
            raise ConfigError("drift_samples must be 0 or more")
        if int(self.min_passes) < 1:
            raise ConfigError("min_passes must be 1 or more (5 give a median and a spread)")
        if not 0 < float(self.max_cv) < float("inf"):
            raise ConfigError(f"max_cv {self.max_cv!r} must be a positive fraction, e.g. 0.05 for 5 %")
        if not 1 <= float(self.remeasure_factor) < float("inf"):
            raise ConfigError(f"remeasure_factor {self.remeasure_factor!r} must be 1 (never re-measure) or more")


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
