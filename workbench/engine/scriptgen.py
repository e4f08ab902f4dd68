"""From answer to action: a standalone Python script that runs the real job for one setting.

``workbench script`` (and the panel) write a script that needs only Keras, TensorFlow and
numpy and runs the setting the workbench measured: the same model loading (the precision
policy applied by rebuilding a saved model's layers, not just by a global policy that a loaded
model ignores), the same pipeline and batch size, with the outputs written as an ``(N, ...)``
``.npy``. The script is :mod:`workbench.trial.job_template` with its settings filled in and its block
of workbench imports replaced by the source of those functions, so it feeds the model with
the very code that was measured. At its top, comments give the measured peak (from a results
folder) and the predicted peak for the data's size, or say they are not known.

Everything a user typed reaches the script as a Python literal written by :func:`ascii` (quotes,
newlines and non-ASCII characters escaped), never as code; the script has no eval, exec or
pickle. Parent side: nothing here imports TensorFlow.
"""

from __future__ import annotations

import ast
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.config import DataSpec, TrialConfig, format_bytes
from workbench.errors import ConfigError
from workbench.results import is_ok, load_results

_PACKAGE = Path(__file__).resolve().parents[1]  # the workbench package folder
TEMPLATE = _PACKAGE / "trial" / "job_template.py"  # read as text, never imported here
NAN = float("nan")


def literal(value: Any) -> str:
    """``value`` (str, int, bool, None, and lists, tuples and dicts of them) as an ASCII Python
    literal: whatever characters a string holds, the text parses back to the same value."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return repr(value)
    if isinstance(value, str):
        return ascii(value)
    if isinstance(value, list | tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if isinstance(value, tuple) and len(value) == 1 else (
            f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no safe literal for {type(value).__name__}")


def _model_settings(cfg: TrialConfig) -> dict[str, Any]:
    from workbench import demo_assets
    from workbench.config import APPLICATIONS

    spec = cfg.model
    kind = spec.kind
    name = spec.name.strip().lower()
    settings: dict[str, Any] = {"kind": kind, "name": name, "path": None, "label": spec.label,
                                "image_size": list(spec.image_size) if spec.image_size else None,
                                "allow_unsafe": bool(spec.allow_unsafe)}
    if kind == "application":
        settings["name"] = name if name in APPLICATIONS else spec.name
    elif kind == "builtin":
        settings["kind"] = name  # "tiny" or "demo"
        if name == "demo":
            settings["path"] = str(demo_assets.paths()["model"].resolve())
    else:
        settings["kind"] = "file"
        settings["path"] = str(Path(spec.name).expanduser().resolve())
    return settings


def _data_settings(data: DataSpec) -> dict[str, Any]:
    from workbench import demo_assets

    if data.kind == "synthetic":
        raise ConfigError("a script runs the real job on your data: give --data a folder, a .npy file or demo")
    if data.kind == "demo":
        return {"kind": "npy", "path": str(demo_assets.paths()["images"].resolve()), "count": data.count}
    return {"kind": data.kind, "path": str(Path(data.path or "").expanduser().resolve()), "count": data.count}


def data_count(data: DataSpec) -> int:
    """How many images the job will read (a folder: its image files, before any is found broken)."""
    from workbench import demo_assets
    from workbench.engine.folders import folder_listing
    from workbench.engine.preflight import npy_info

    if data.kind == "folder":
        total = folder_listing(Path(data.path or "").expanduser()).count
    else:
        path = demo_assets.paths()["images"] if data.kind == "demo" else Path(data.path or "").expanduser()
        total = npy_info(path).count
    return min(total, data.count or total)


def copied_source(template: str) -> str:
    """The source of every name the template imports from the workbench, in import order."""
    tree = ast.parse(template)
    chunks: list[str] = []
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("workbench"):
            continue
        module = node.module or ""
        module_path = _PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
        source = module_path.read_text(encoding="utf-8")
        defs = _top_level(ast.parse(source))
        for alias in node.names:
            if alias.name not in defs:
                raise RuntimeError(f"{module}.{alias.name} is not a top-level definition to copy")
            segment = ast.get_source_segment(source, defs[alias.name])
            chunks.append(f"# copied: {module}.{alias.name}\n{segment}\n")
    return "\n\n".join(chunks)


def _top_level(tree: ast.Module) -> dict[str, ast.stmt]:
    found: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            found[node.name] = node
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found[node.targets[0].id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found[node.target.id] = node
    return found


def _peak_text(peak: float) -> str:
    return "not measured" if peak is None or (isinstance(peak, float) and math.isnan(peak)) else format_bytes(peak)


def render_script(cfg: TrialConfig, output: str, *, target_images: int | None = None,
                  measured_bytes: float = NAN, measured_images: int | None = None,
                  predicted_bytes: float = NAN, results_dir: str | None = None) -> str:
    """The script's text for ``cfg`` writing its outputs to ``output`` (no checks of files)."""
    settings = {"model": _model_settings(cfg), "data": _data_settings(cfg.data), "pipeline": cfg.pipeline,
                "precision": cfg.precision, "batch_size": cfg.batch_size,
                "output": str(Path(output).expanduser().resolve())}
    source = f"results in {ascii(str(results_dir))}" if results_dir else "no results folder given"
    measured = _peak_text(measured_bytes)
    if measured_images is not None and not math.isnan(measured_bytes):
        measured += f" at {measured_images:,} images"
    header = [
        f"# Written by `workbench script` (tf-memory-workbench {__version__}) on "
        f"{datetime.now(timezone.utc).date().isoformat()}.",
        f"# Setting: {ascii(cfg.model.label)} | {ascii(cfg.data.label)} | {cfg.pipeline} | {cfg.precision} | "
        f"batch {cfg.batch_size}",
        f"# Host peak measured by the workbench (VmHWM of the trial process; {source}): {measured}",
        f"# Host peak predicted for {target_images:,} images (this job's data): {_peak_text(predicted_bytes)}"
        if target_images else f"# Host peak predicted for this job's data: {_peak_text(predicted_bytes)}",
    ]
    if cfg.model.kind == "application":
        header.append("# keras.applications runs with weights=None, as measured: load your weights to use it.")
    template = TEMPLATE.read_text(encoding="utf-8")
    lines = [ln for ln in template.splitlines() if not ln.startswith("# template:")]
    text = "\n".join(lines) + "\n"
    begin, end = text.index("# @@COPIED-BEGIN@@"), text.index("# @@COPIED-END@@")
    block_end = text.index("\n", end) + 1
    text = text[:begin] + copied_source(text[begin:block_end]) + text[block_end:]
    text = text.replace("# @@HEADER@@", "\n".join(header), 1)
    text = text.replace("SETTINGS: dict[str, Any] = {}  # @@SETTINGS@@",
                        f"SETTINGS: dict[str, Any] = {literal(settings)}", 1)
    return text


def measured_peak(results_dir: str | os.PathLike[str], cfg: TrialConfig, images: int) -> tuple[float, int | None, Any]:
    """(host peak, images, results table) of the ok trial of this setting in a results folder:
    the one at ``images`` if measured, else the one at the most images; NaN when none."""
    df = load_results(results_dir)
    rows = df[is_ok(df) & (df["model"] == cfg.model.label)
              & (df["dataset"] == cfg.data.label) & (df["pipeline"] == cfg.pipeline)
              & (df["precision"] == cfg.precision) & (df["batch_size"] == cfg.batch_size)]
    if cfg.model.image_size is not None and "image_height" in rows:
        rows = rows[(rows["image_height"] == cfg.model.image_size[0]) & (rows["image_width"] == cfg.model.image_size[1])]
    if "backend" in rows:
        rows = rows[rows["backend"] == cfg.backend]
    rows = rows.dropna(subset=["host_peak_bytes"])
    if rows.empty:
        return NAN, None, df
    exact = rows[rows["images"] == images]
    row = (exact if not exact.empty else rows.sort_values("images")).iloc[-1]
    return float(row["host_peak_bytes"]), int(row["images"]), df


def predicted_peak(df: Any, cfg: TrialConfig, images: int) -> float:
    """The memory model's host peak for this setting at ``images`` (``workbench.predict_peak``,
    with the dataset-size term); NaN where it cannot say or this workbench has no such model."""
    from workbench.analysis.memory_model import predict_peak

    try:
        return float(predict_peak(df, pipeline=cfg.pipeline, precision=cfg.precision,
                             batch_size=cfg.batch_size, images=images, model=cfg.model.label,
                             backend=cfg.backend))
    except (TypeError, KeyError, ValueError):
        return NAN


def write_script(cfg: TrialConfig, output: str, path: str | os.PathLike[str],
                 results_dir: str | os.PathLike[str] | None = None) -> Path:
    """Check the setting and its files, then write the job script to ``path`` (executable).

    Raises :class:`ConfigError` for a setting that cannot run (synthetic data, a pipeline that
    does not apply, a missing or refused file, an output that is not ``.npy``).
    """
    from workbench.engine.prepare import prepare
    from workbench.plan import check_applicable

    if not str(output).lower().endswith(".npy"):
        raise ConfigError(f"--output {output!r} must name a .npy file (the outputs are one (N, ...) array)")
    target = Path(path).expanduser()
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write the script to {str(target)!r}: its folder does not exist")
    _data_settings(cfg.data)  # synthetic data has no real job
    check_applicable(cfg)
    prepare(cfg.model, cfg.data)  # file checks; the demo model and data are built if missing
    images = data_count(cfg.data)
    measured, measured_images, predicted = NAN, None, NAN
    if results_dir is not None:
        if not Path(results_dir).is_dir():
            raise ConfigError(f"results folder {str(results_dir)!r} does not exist")
        measured, measured_images, df = measured_peak(results_dir, cfg, images)
        predicted = predicted_peak(df, cfg, images)
    text = render_script(cfg, output, target_images=images, measured_bytes=measured,
                         measured_images=measured_images, predicted_bytes=predicted,
                         results_dir=str(results_dir) if results_dir is not None else None)
    target.write_text(text, encoding="utf-8")
    target.chmod(0o755)
    return target
