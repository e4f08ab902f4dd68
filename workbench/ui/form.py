"""The panel's pickers: every option of ``workbench sweep``, with the CLI's defaults.

The form speaks the CLI's language. Its defaults are what the CLI's own parser produces,
:meth:`SweepForm.namespace` returns the ``argparse.Namespace`` that ``workbench sweep`` would
parse, and the config is built by the CLI's own conversion
(:func:`workbench.cli.options.sweep_config`). So the panel, the CLI and the config
dataclasses cannot drift apart; ``tests/unit/test_parity.py`` checks that they do not.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from workbench.cli import sweep as sweep_command
from workbench.config import (
    APPLICATIONS,
    BUILTIN_MODELS,
    PIPELINES,
    PRECISIONS,
    DataSpec,
    SweepConfig,
    parse_bytes,
)
from workbench.errors import ConfigError
from workbench.ui.checks import DATA_LABELS, check_options

DEFAULT_MODEL = "demo"  # the CLI requires --model; the panel starts on the trained demo model
DEFAULT_OUT = "runs/workbench"
MODEL_FILE = "__file__"  # the model picker's "your model file" entry
MODEL_NAMES = (*sorted(BUILTIN_MODELS, key=lambda n: n != "demo"), *sorted(APPLICATIONS))
# Messages are shown next to these groups of controls ("general" sits under the buttons).
GROUPS = ("model", "image_size", "data", "pipelines", "precisions", "batch_sizes",
          "host_budget", "gpu_budget", "timing", "out", "general")
_STYLE = {"description_width": "110px"}


def _wide() -> W.Layout:
    return W.Layout(width="420px")  # a fresh Layout each: hiding one widget must not hide another


def cli_defaults(model: str = DEFAULT_MODEL, out: str = DEFAULT_OUT) -> dict[str, Any]:
    """The options ``workbench sweep --model MODEL --out OUT`` parses to, as a dict."""
    parser = argparse.ArgumentParser()
    sweep_command.prepare_parser(parser)
    return vars(parser.parse_args(["--model", model, "--out", out]))


def powers_of_two(low: int, high: int) -> tuple[int, ...]:
    """Powers of two from ``low`` to ``high`` inclusive (a ConfigError when there are none)."""
    if low < 1 or high < 1:
        raise ConfigError("batch sizes: the range must start at 1 or more")
    if low > high:
        raise ConfigError(f"batch sizes: the range {low} to {high} is empty; put the smaller number first")
    values = tuple(2**k for k in range(math.ceil(math.log2(low)), math.floor(math.log2(high)) + 1))
    if not values:
        raise ConfigError(f"batch sizes: there is no power of two between {low} and {high}")
    return values


def _shown(widget: W.Widget, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


class SweepForm:
    """Widgets for model, data, axes, budgets, output folder and timing, and their validation.

    ``settings`` are CLI option names with CLI-style values, e.g. ``model="tiny"``,
    ``data="synthetic:64"``, ``batch_sizes="1,8"``, ``host_budget="2GB"``.
    """

    def __init__(self, **settings: Any) -> None:
        d = cli_defaults()
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
        self.pipelines = {n: W.Checkbox(description=n, indent=False, layout=W.Layout(width="130px")) for n in PIPELINES}
        self.precisions = {n: W.Checkbox(description=n, indent=False, layout=W.Layout(width="150px")) for n in PRECISIONS}
        self.batch_mode = W.ToggleButtons(options=[("list", "list"), ("powers of two", "pow2")],
                                          style={"button_width": "130px"})
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
        self.messages = {g: W.HTML(layout=W.Layout(margin="0 0 0 8px")) for g in GROUPS}
        for group, widget in self.controls().items():
            widget.add_class(f"wb-{group.replace('_', '-')}")
        self.data_kind.observe(self._on_data_kind, "value")
        self.model.observe(lambda _: self._sync_visibility(), "value")
        self.batch_mode.observe(lambda _: self._sync_visibility(), "value")
        self.set_values(**{**d, **settings})

    # -- values in the CLI's language ------------------------------------------------------

    def controls(self) -> dict[str, W.Widget]:
        """The main widget of each option (by CLI name), for tests and CSS classes."""
        return {
            "model": self.model, "model_path": self.model_path, "allow_unsafe": self.allow_unsafe,
            "image_size": self.image_size, "data_kind": self.data_kind, "data_count": self.data_count,
            "data_path": self.data_path, "batch_mode": self.batch_mode, "batch_sizes": self.batch_list,
            "batch_min": self.batch_min, "batch_max": self.batch_max, "host_budget": self.host_budget,
            "gpu_budget": self.gpu_budget, "out": self.out, "timeout": self.timeout,
            "warmup_batches": self.warmup_batches, "min_batches": self.min_batches,
            "min_duration": self.min_duration, "drift_samples": self.drift_samples,
            "retry_failed": self.retry_failed,
            **{f"pipeline_{n}": w for n, w in self.pipelines.items()},
            **{f"precision_{n}": w for n, w in self.precisions.items()},
        }

    def set_values(self, **values: Any) -> None:
        """Set controls from CLI-style values (``batch_sizes="1,8"``, ``data="demo:100"``)."""
        unknown = set(values) - set(cli_defaults())
        if unknown:
            raise ConfigError(f"Workbench: unknown setting(s) {', '.join(sorted(unknown))}; "
                              f"use the CLI's option names: {', '.join(sorted(cli_defaults()))}")
        if "model" in values:
            name = str(values["model"])
            if name.lower() in MODEL_NAMES:
                self.model.value = name.lower()
            else:
                self.model.value, self.model_path.value = MODEL_FILE, name
        if "data" in values:
            self._set_data(str(values["data"]))
        for key in ("image_size", "host_budget", "gpu_budget"):
            if key in values:
                v = values[key]
                getattr(self, key).value = "" if v is None else ("x".join(map(str, v)) if isinstance(v, tuple | list) else str(v))
        for key, boxes in (("pipelines", self.pipelines), ("precisions", self.precisions)):
            if key in values:
                chosen = values[key].split(",") if isinstance(values[key], str) else list(values[key])
                for name, box in boxes.items():
                    box.value = name in {c.strip() for c in chosen}
        if "batch_sizes" in values:
            v = values["batch_sizes"]
            self.batch_mode.value = "list"
            self.batch_list.value = v if isinstance(v, str) else ",".join(map(str, v))
        for key in ("allow_unsafe", "out", "timeout", "warmup_batches", "min_batches",
                    "min_duration", "drift_samples", "retry_failed"):
            if key in values:
                getattr(self, key).value = values[key]
        self._sync_visibility()

    def _set_data(self, text: str) -> None:
        head, _, tail = text.strip().partition(":")
        if head in ("synthetic", "demo"):
            self.data_kind.value = head
            self.data_count.value = int(tail) if tail.isdigit() else (0 if head == "demo" else 256)
        else:
            self.data_kind.value = "npy" if text.strip().lower().endswith(".npy") else "folder"
            self.data_path.value = text.strip()

    def _on_data_kind(self, change: dict[str, Any]) -> None:
        # demo's natural size is "all of it" (0); synthetic needs a count.
        if change["new"] == "demo" and change["old"] == "synthetic":
            self.data_count.value = 0
        elif change["new"] == "synthetic" and self.data_count.value == 0:
            self.data_count.value = DataSpec.parse(cli_defaults()["data"]).count or 256
        self._sync_visibility()

    def _sync_visibility(self) -> None:
        is_file = self.model.value == MODEL_FILE
        _shown(self.model_path, is_file)
        _shown(self.allow_unsafe, is_file)
        kind = self.data_kind.value
        _shown(self.data_count, kind in ("synthetic", "demo"))
        self.data_count.description = "images (0: all)" if kind == "demo" else "images"
        _shown(self.data_path, kind in ("folder", "npy"))
        pow2 = self.batch_mode.value == "pow2"
        _shown(self.batch_list, not pow2)
        _shown(self.batch_min, pow2)
        _shown(self.batch_max, pow2)

    def data_text(self) -> str:
        """The dataset as the CLI's ``--data`` writes it."""
        kind = self.data_kind.value
        if kind == "synthetic":
            return f"synthetic:{self.data_count.value}"
        if kind == "demo":
            return "demo" if self.data_count.value == 0 else f"demo:{self.data_count.value}"
        return self.data_path.value.strip()

    def batch_text(self) -> str:
        if self.batch_mode.value == "pow2":
            return ",".join(map(str, powers_of_two(self.batch_min.value, self.batch_max.value)))
        return self.batch_list.value

    def namespace(self) -> argparse.Namespace:
        """The options as ``workbench sweep`` would parse them (no validation beyond types)."""
        try:
            batch = self.batch_text()
        except ConfigError:
            batch = ""
        return argparse.Namespace(
            model=self.model_path.value.strip() if self.model.value == MODEL_FILE else self.model.value,
            image_size=self.image_size.value.strip() or None,
            allow_unsafe=bool(self.allow_unsafe.value),
            data=self.data_text(),
            host_budget=self.host_budget.value.strip() or None,
            gpu_budget=self.gpu_budget.value.strip() or None,
            timeout=float(self.timeout.value),
            warmup_batches=int(self.warmup_batches.value),
            min_batches=int(self.min_batches.value),
            min_duration=float(self.min_duration.value),
            drift_samples=int(self.drift_samples.value),
            out=self.out.value.strip(),
            batch_sizes=batch,
            precisions=",".join(n for n, b in self.precisions.items() if b.value),
            pipelines=",".join(n for n, b in self.pipelines.items() if b.value),
            retry_failed=bool(self.retry_failed.value),
        )

    def budgets(self) -> tuple[int | None, int | None]:
        """(host, GPU) budget in bytes; None where blank or malformed."""
        out = []
        for text in (self.host_budget.value, self.gpu_budget.value):
            try:
                out.append(parse_bytes(text) if text.strip() else None)
            except ConfigError:
                out.append(None)
        return out[0], out[1]

    # -- validation ------------------------------------------------------------------------

    def validate(self) -> tuple[SweepConfig | None, dict[str, str]]:
        """The sweep config, or None and a message for each group of controls at fault."""
        return check_options(self.namespace(), data_kind=self.data_kind.value, batch_text=self.batch_text)

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
            ]),
            "What to compare": W.VBox([
                row([W.Label("pipelines", layout=W.Layout(width="110px")), *self.pipelines.values(), m["pipelines"]]),
                row([W.Label("precisions", layout=W.Layout(width="110px")), *self.precisions.values(), m["precisions"]]),
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
        }


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)
