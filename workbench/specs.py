"""The parts of a trial's configuration: which model, which images, what limits, how long to
time. Small frozen dataclasses, validated on construction, serialised with ``to_dict`` /
``from_dict``. :mod:`workbench.config` builds trials and sweeps from them and re-exports them.
"""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from workbench.errors import ConfigError
from workbench.parsing import (
    parse_bytes,
    parse_image_size,
    path_exists,
    user_path,
    whole_number,
)
from workbench.types import DATA_KINDS, NAMED_DATA, DataKind, ModelKind

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


