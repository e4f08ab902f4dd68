"""The panel's pickers: every option of ``workbench sweep``, with the config dataclasses' defaults.

The form builds the configs (:class:`~workbench.config.ModelSpec`, ``DataSpec``, ``Budget``,
``TimingSpec`` and the ``SweepConfig`` they make) from its widgets directly, with the parsing
helpers of :mod:`workbench.config`. Its defaults are the dataclasses' field defaults, as the CLI's
are; ``tests/unit/test_parity.py`` checks both against the fields. Settings are named like the
CLI's options (``batch_sizes``, ``host_budget``), so ``workbench sweep --help`` documents them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W

from workbench.config import (
    BACKENDS,
    PIPELINES,
    PRECISIONS,
    Budget,
    DataSpec,
    SweepConfig,
    TimingSpec,
    parse_bytes,
    parse_int_list,
    parse_target_images,
)
from workbench.engine.targets import resolve_target
from workbench.errors import ConfigError
from workbench.ui.checks import DATA_LABELS, check_sweep
from workbench.ui.defaults import (
    AUTO_SIZES,
    DEFAULT_DATA,
    DEFAULTS,
    GROUPS,
    MODEL_FILE,
    MODEL_NAMES,
    powers_of_two,
)

_STYLE = {"description_width": "110px"}


def _wide() -> W.Layout:
    return W.Layout(width="420px")  # a fresh Layout each: hiding one widget must not hide another


def _shown(widget: W.Widget, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


class SweepForm:
    """Widgets for model, data, axes, budgets, output folder and timing, and their validation.

    ``settings`` are named as in :data:`DEFAULTS` (the CLI's option names); values are typed
    (``batch_sizes=(1, 8)``, ``data=DataSpec("demo")``) or written as on the command line
    (``batch_sizes="1,8"``, ``data="synthetic:64"``, ``host_budget="2GB"``).
    """

    def __init__(self, **settings: Any) -> None:
        self.model = W.Dropdown(options=[*[(n, n) for n in MODEL_NAMES], ("your model file…", MODEL_FILE)],
                                description="model", style=_STYLE)
        self.model_path = W.Text(placeholder="path to a .keras / .h5 file or a SavedModel folder",
                                 description="model file", style=_STYLE, layout=_wide())
        self.allow_unsafe = W.Checkbox(description="I trust this file (load with safe_mode off)", indent=False)
        self.image_size = W.Text(placeholder="the model's own; or 96, or 96x128", description="input size",
                                 style=_STYLE)
        self.data_kind = W.Dropdown(options=[(label, kind) for kind, label in DATA_LABELS.items()],
                                    description="dataset", style=_STYLE)
        self.data_count = W.BoundedIntText(min=0, max=10**8, description="images", style=_STYLE,
                                           layout=W.Layout(width="220px"))
        self.data_path = W.Text(placeholder="folder of images, or a .npy file", description="data path",
                                style=_STYLE, layout=_wide())
        self.pipelines: dict[str, W.Checkbox] = {n: W.Checkbox(description=n, indent=False, layout=W.Layout(width="130px")) for n in PIPELINES}
        self.precisions: dict[str, W.Checkbox] = {n: W.Checkbox(description=n, indent=False, layout=W.Layout(width="150px")) for n in PRECISIONS}
        self.backends: dict[str, W.Checkbox] = {n: W.Checkbox(description=n, indent=False, layout=W.Layout(width="130px")) for n in BACKENDS}
        self.batch_mode = W.ToggleButtons(options=[("list", "list"), ("powers of two", "pow2")],
                                          style={"button_width": "130px"})
        self.images = W.Text(description="dataset sizes", style=_STYLE, layout=_wide(),
                             placeholder="the data's own count; or e.g. 1000,4000,16000")
        self.target_images = W.Text(description="target size", style=_STYLE, layout=_wide(),
                                    placeholder="images of the real job, e.g. 1200000 (default: all of a folder or .npy)")
        self.auto_sizes = W.Checkbox(description=AUTO_SIZES, indent=False)
        self.batch_list = W.Text(description="batch sizes", style=_STYLE, placeholder="e.g. 1,8,32")
        self.batch_min = W.BoundedIntText(value=1, min=1, max=2**20, description="from", layout=W.Layout(width="150px"))
        self.batch_max = W.BoundedIntText(value=256, min=1, max=2**20, description="to", layout=W.Layout(width="150px"))
        self.host_budget = W.Text(placeholder="none; e.g. 2GB or 1.5GiB", description="host budget", style=_STYLE)
        self.gpu_budget = W.Text(placeholder="none; e.g. 8GB", description="GPU budget", style=_STYLE)
        self.out = W.Text(description="results folder", style=_STYLE, layout=_wide())
        self.timeout = W.FloatText(description="timeout (s)", style=_STYLE, layout=W.Layout(width="220px"))
        self.warmup_batches = W.IntText(description="warm-up batches", style=_STYLE, layout=W.Layout(width="220px"))
        self.min_batches = W.IntText(description="min batches", style=_STYLE, layout=W.Layout(width="220px"))
        self.min_duration = W.FloatText(description="min seconds", style=_STYLE, layout=W.Layout(width="220px"))
        self.drift_samples = W.IntText(description="drift images", style=_STYLE, layout=W.Layout(width="220px"))
        self.retry_failed = W.Checkbox(description="run failed trials again", indent=False)
        self.executor = W.Dropdown(options=[("this machine", "local"), ("a Ray cluster", "ray")],
                                   description="run trials on", style=_STYLE)
        self.ray_address = W.Text(placeholder="HOST:PORT of the head, or local", description="Ray address",
                                  style=_STYLE)
        self.messages = {g: W.HTML(layout=W.Layout(margin="0 0 0 8px")) for g in GROUPS}
        for group, widget in self.controls().items():
            widget.add_class(f"wb-{group.replace('_', '-')}")
        self.data_kind.observe(self._on_data_kind, "value")
        self.model.observe(lambda _: self._sync_visibility(), "value")
        self.executor.observe(lambda _: self._sync_visibility(), "value")
        self.batch_mode.observe(lambda _: self._sync_visibility(), "value")
        self.set_values(**{**DEFAULTS, **settings})

    # -- setting values ----------------------------------------------------------------------

    def controls(self) -> dict[str, W.Widget]:
        """The main widget of each option, for tests and CSS classes."""
        return {
            "model": self.model, "model_path": self.model_path, "allow_unsafe": self.allow_unsafe,
            "image_size": self.image_size, "data_kind": self.data_kind, "data_count": self.data_count,
            "data_path": self.data_path, "images": self.images, "target_images": self.target_images,
            "auto_sizes": self.auto_sizes,
            "batch_mode": self.batch_mode, "batch_sizes": self.batch_list,
            "batch_min": self.batch_min, "batch_max": self.batch_max, "host_budget": self.host_budget,
            "gpu_budget": self.gpu_budget, "out": self.out, "timeout": self.timeout,
            "warmup_batches": self.warmup_batches, "min_batches": self.min_batches,
            "min_duration": self.min_duration, "drift_samples": self.drift_samples,
            "retry_failed": self.retry_failed, "executor": self.executor, "ray_address": self.ray_address,
            **{f"pipeline_{n}": w for n, w in self.pipelines.items()},
            **{f"precision_{n}": w for n, w in self.precisions.items()},
            **{f"backend_{n}": w for n, w in self.backends.items()},
        }

    def set_values(self, **values: Any) -> None:
        """Set controls from typed or command-line values (``batch_sizes=(1, 8)`` or ``"1,8"``)."""
        unknown = set(values) - set(DEFAULTS)
        if unknown:
            raise ConfigError(f"Workbench: unknown setting(s) {', '.join(sorted(unknown))}; "
                              f"use the CLI's option names: {', '.join(sorted(DEFAULTS))}")
        if "model" in values:
            name = str(values["model"])
            if name.lower() in MODEL_NAMES:
                self.model.value = name.lower()
            else:
                self.model.value, self.model_path.value = MODEL_FILE, name
        if "data" in values:
            data = values["data"]
            if isinstance(data, DataSpec):
                self._set_data_spec(data)
            else:
                self._set_data(str(data))
        for key in ("image_size", "host_budget", "gpu_budget"):
            if key in values:
                v = values[key]
                getattr(self, key).value = "" if v is None else ("x".join(map(str, v)) if isinstance(v, tuple | list) else str(v))
        for key, boxes in (("pipelines", self.pipelines), ("precisions", self.precisions), ("backends", self.backends)):
            if key in values:
                chosen = values[key].split(",") if isinstance(values[key], str) else list(values[key])
                for name, box in boxes.items():
                    box.value = name in {c.strip() for c in chosen}
        if "images" in values:
            v = values["images"]
            self.images.value = "" if v is None else (v if isinstance(v, str) else ",".join(map(str, v)))
        if "target_images" in values:
            v = values["target_images"]
            self.target_images.value = "" if v is None else str(v)
        if "batch_sizes" in values:
            v = values["batch_sizes"]
            self.batch_mode.value = "list"
            self.batch_list.value = v if isinstance(v, str) else ",".join(map(str, v))
        for key in ("allow_unsafe", "auto_sizes", "out", "timeout", "warmup_batches", "min_batches",
                    "min_duration", "drift_samples", "retry_failed", "executor"):
            if key in values:
                getattr(self, key).value = values[key]
        if "ray_address" in values:
            self.ray_address.value = values["ray_address"] or ""
        self._sync_visibility()

    def _set_data_spec(self, spec: DataSpec) -> None:
        self.data_kind.value = spec.kind
        if spec.kind in ("synthetic", "demo"):
            self.data_count.value = spec.count or 0  # demo without a count: all of it (0)
        else:
            self.data_path.value = spec.path or ""

    def _set_data(self, text: str) -> None:
        # Lenient on purpose: a path that does not exist yet is shown, with its error.
        head, _, tail = text.strip().partition(":")
        if head in ("synthetic", "demo"):
            self.data_kind.value = head
            self.data_count.value = int(tail) if tail.isdigit() else (0 if head == "demo" else DEFAULT_DATA.count)
        else:
            self.data_kind.value = "npy" if text.strip().lower().endswith(".npy") else "folder"
            self.data_path.value = text.strip()

    def _on_data_kind(self, change: dict[str, Any]) -> None:
        # demo's natural size is "all of it" (0); synthetic needs a count.
        if change["new"] == "demo" and change["old"] == "synthetic":
            self.data_count.value = 0
        elif change["new"] == "synthetic" and self.data_count.value == 0:
            self.data_count.value = DEFAULT_DATA.count
        self._sync_visibility()

    def _sync_visibility(self) -> None:
        is_file = self.model.value == MODEL_FILE
        _shown(self.model_path, is_file)
        _shown(self.allow_unsafe, is_file)
        kind = self.data_kind.value
        _shown(self.data_count, kind in ("synthetic", "demo"))
        self.data_count.description = "images (0: all)" if kind == "demo" else "images"
        _shown(self.data_path, kind in ("folder", "npy"))
        _shown(self.ray_address, self.executor.value == "ray")
        pow2 = self.batch_mode.value == "pow2"
        _shown(self.batch_list, not pow2)
        _shown(self.batch_min, pow2)
        _shown(self.batch_max, pow2)

    # -- configs from the widgets (each raises ConfigError naming the problem) ---------------

    def model_name(self) -> str:
        """The model picked: a built-in or keras.applications name, or the file's path."""
        return self.model_path.value.strip() if self.model.value == MODEL_FILE else self.model.value

    def data_spec(self) -> DataSpec:
        """The dataset picked; a path must be of the dataset type picked."""
        kind = self.data_kind.value
        if kind == "synthetic":
            return DataSpec(kind, count=self.data_count.value)
        if kind == "demo":
            return DataSpec(kind, count=self.data_count.value or None)  # 0: all of it
        text = self.data_path.value.strip()
        if not text:
            raise ConfigError(f"data: give the path of {'an image folder' if kind == 'folder' else 'a .npy file'}")
        spec = DataSpec.parse(text)
        if spec.kind != kind:
            raise ConfigError(f"data path {text!r} is {DATA_LABELS[spec.kind]!r}, not {DATA_LABELS[kind]!r}: "
                              "pick the matching dataset type")
        return spec

    def ticked(self, boxes: dict[str, W.Checkbox]) -> tuple[str, ...]:
        """The names whose box is ticked, in the order shown."""
        return tuple(name for name, box in boxes.items() if box.value)

    def batch_sizes(self) -> tuple[int, ...]:
        """The batch sizes typed, or the powers of two in the range picked."""
        if self.batch_mode.value == "pow2":
            return powers_of_two(self.batch_min.value, self.batch_max.value)
        return parse_int_list(self.batch_list.value, "batch sizes")

    def dataset_sizes(self) -> tuple[int, ...] | None:
        """The dataset sizes typed (each trial runs on the first K images), or None: the data's own."""
        text = self.images.value.strip()
        return parse_int_list(text, "dataset sizes") if text else None

    def where(self) -> tuple[str, str | None]:
        """(executor name, Ray address or None): where the trials run (docs/ray.md)."""
        address = self.ray_address.value.strip() or None
        return self.executor.value, (address if self.executor.value == "ray" else None)

    def target_size(self) -> int | None:
        """The real job's number of images typed, or None (blank)."""
        return parse_target_images(self.target_images.value)

    def target(self) -> int | None:
        """The size the answers are for: the target typed, else the full count of a folder or
        ``.npy`` picked, else None (the largest size measured); None while either is invalid."""
        try:
            return resolve_target(self.target_size(), self.data_spec())[0]
        except ConfigError:
            return None

    def timing(self) -> TimingSpec:
        return TimingSpec(warmup_batches=self.warmup_batches.value, min_batches=self.min_batches.value,
                          min_duration_s=self.min_duration.value, drift_samples=self.drift_samples.value)

    def budget(self) -> Budget:
        return Budget(host_bytes=_optional_bytes(self.host_budget.value),
                      gpu_bytes=_optional_bytes(self.gpu_budget.value), timeout_s=self.timeout.value)

    def budgets(self) -> tuple[int | None, int | None]:
        """(host, GPU) budget in bytes; None where blank or malformed."""
        out = []
        for text in (self.host_budget.value, self.gpu_budget.value):
            try:
                out.append(_optional_bytes(text))
            except ConfigError:
                out.append(None)
        return out[0], out[1]

    # -- validation ------------------------------------------------------------------------

    def validate(self) -> tuple[SweepConfig | None, dict[str, str]]:
        """The sweep config, or None and a message for each group of controls at fault."""
        return check_sweep(self)

    def show_errors(self, errors: dict[str, str], notes: dict[str, str] | None = None) -> None:
        """Put each message next to the control that caused it; clear the others. ``notes``
        are advice that does not block a run (shown where there is no error)."""
        notes = notes or {}
        for group, label in self.messages.items():
            if errors.get(group):
                label.value = f"<span class='wb-error' style='color:#b00020'>⚠ {_escape(errors[group])}</span>"
            elif notes.get(group):
                label.value = f"<span class='wb-note' style='color:#8a6d00'>{_escape(notes[group])}</span>"
            else:
                label.value = ""

    def observe(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever any option changes."""
        for widget in self.controls().values():
            widget.observe(lambda _change: callback(), "value")

    # -- layout ------------------------------------------------------------------------------

    def sections(self) -> dict[str, W.Widget]:
        """The form laid out in titled sections (the panel arranges them)."""
        m = self.messages
        row = W.HBox
        return {
            "Model and data": W.VBox([
                row([self.model, m["model"]]), self.model_path, self.allow_unsafe,
                row([self.image_size, m["image_size"]]),
                row([self.data_kind, self.data_count, m["data"]]), self.data_path,
                row([self.images, m["images"]]), row([self.target_images, self.auto_sizes, m["target_images"]]),
            ]),
            "What to compare": W.VBox([
                row([W.Label("pipelines", layout=W.Layout(width="110px")), *self.pipelines.values(), m["pipelines"]]),
                row([W.Label("precisions", layout=W.Layout(width="110px")), *self.precisions.values(), m["precisions"]]),
                row([W.Label("backends", layout=W.Layout(width="110px")), *self.backends.values(), m["backends"]]),
                row([W.Label("batch sizes", layout=W.Layout(width="110px")), self.batch_mode]),
                row([self.batch_list, self.batch_min, self.batch_max, m["batch_sizes"]]),
            ]),
            "Budgets and output": W.VBox([
                row([self.host_budget, m["host_budget"]]), row([self.gpu_budget, m["gpu_budget"]]),
                row([self.out, m["out"]]),
            ]),
            "Timing": W.VBox([
                row([self.warmup_batches, self.min_batches, self.min_duration]),
                row([self.drift_samples, self.timeout, self.retry_failed]), m["timing"],
            ]),
            "Where trials run": W.VBox([row([self.executor, self.ray_address])]),
        }


def _optional_bytes(text: str) -> int | None:
    """A budget: None when blank."""
    return parse_bytes(text) if text.strip() else None


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)
