"""The backend axis: configs, the plan, the one-line error for a backend that is not installed,
the panel, old results keeping their keys, and the analysis per backend (no trial runs here)."""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pandas as pd
import pytest

from workbench import backends
from workbench.analysis import fit_memory_model, predict_peak
from workbench.analysis.target import series_name
from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, SweepConfig, TrialConfig
from workbench.errors import ConfigError
from workbench.plan import check_applicable, expand
from workbench.render.columns import REPORT, shown
from workbench.render.plots import series_keys
from workbench.results import TrialResult

MIB = 2**20


def trial(**kw) -> TrialConfig:
    return TrialConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=16), **kw)


def test_the_default_backend_keeps_the_key_results_had_before_the_axis():
    cfg = trial(batch_size=4)
    assert cfg.backend == "tensorflow"
    before = cfg.to_dict()  # what key() hashed before the backend field existed
    before.pop("backend")
    before.pop("keep_outputs")
    if not before.get("repeat"):
        before.pop("repeat", None)  # the first run of a setting keeps its key too
    before["budget"].pop("timeout_s")
    old_key = hashlib.sha256(json.dumps(before, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    assert cfg.key() == old_key
    assert trial(batch_size=4, backend="jax").key() not in (old_key, trial(batch_size=4, backend="torch").key())


def test_an_old_results_line_reads_as_tensorflow():
    record = TrialResult.for_trial(trial()).to_dict()
    record.pop("backend")
    assert TrialResult.from_dict(record).backend == "tensorflow"
    assert TrialResult.for_trial(trial(backend="jax")).backend == "jax"


def test_backends_are_validated_and_kept_in_one_order():
    sweep = SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=16), backends="torch, jax,tensorflow")
    assert sweep.backends == ("tensorflow", "jax", "torch")
    assert sweep.to_dict()["backends"] == ["tensorflow", "jax", "torch"]
    with pytest.raises(ConfigError, match="unknown backend 'mxnet': choose from tensorflow, jax, torch"):
        SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic"), backends="mxnet")
    with pytest.raises(ConfigError, match="unknown backend 'cntk'"):
        trial(backend="cntk")


def test_the_plan_runs_one_backend_after_the_other(monkeypatch):
    monkeypatch.setattr(backends, "_found", lambda module: True)  # every backend "installed"
    sweep = SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=16), batch_sizes=(8, 1),
                        precisions=("float32", "mixed_bfloat16"), backends=("jax", "tensorflow"))
    plan = [(t.backend, t.precision, t.batch_size) for t in expand(sweep)]
    assert plan == [("tensorflow", "float32", 1), ("tensorflow", "float32", 8),
                    ("tensorflow", "mixed_bfloat16", 1), ("tensorflow", "mixed_bfloat16", 8),
                    ("jax", "float32", 1), ("jax", "float32", 8), ("jax", "mixed_bfloat16", 1), ("jax", "mixed_bfloat16", 8)]


def test_a_backend_that_is_not_installed_is_one_line_naming_the_package(monkeypatch):
    asked: list[str] = []

    def find_spec(name):  # stands in for a machine without PyTorch
        asked.append(name)
        return None if name == "torch" else object()

    monkeypatch.setattr(backends.importlib.util, "find_spec", find_spec)
    imported_before = "torch" in sys.modules
    with pytest.raises(ConfigError) as info:
        expand(SweepConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=16), backends="tensorflow,torch"))
    message = str(info.value)
    assert "\n" not in message
    assert message == ("the torch backend needs torch, which is not installed here: pip install torch, "
                       "or leave torch out of --backends")
    assert "torch" in asked and ("torch" in sys.modules) == imported_before  # looked up, never imported


def test_the_cli_refuses_a_missing_backend_before_any_trial(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(backends, "_found", lambda module: module != "jaxlib")  # jax without its jaxlib
    code = main(["sweep", "--model", "tiny", "--data", "synthetic:16", "--backends", "tensorflow,jax",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not (tmp_path / "out").exists()
    assert err == ("workbench sweep: error: the jax backend needs jaxlib, which is not installed here: "
                   "pip install 'jax[cpu]' (or 'jax[cuda12]' where there is an NVIDIA GPU), or leave jax out of --backends")


def test_what_needs_tensorflow_itself_is_refused_at_planning_on_other_backends(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "_found", lambda module: True)
    saved = tmp_path / "graph"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ConfigError, match="SavedModel 'graph' is a TensorFlow graph and cannot run on the jax backend"):
        check_applicable(TrialConfig(model=ModelSpec(str(saved)), data=DataSpec("synthetic", count=4), backend="jax"))
    check_applicable(TrialConfig(model=ModelSpec(str(saved)), data=DataSpec("synthetic", count=4)))  # fine on TF
    folder = tmp_path / "images"
    folder.mkdir()
    on_torch = TrialConfig(model=ModelSpec("tiny"), data=DataSpec("folder", path=str(folder)), backend="torch")
    check_applicable(on_torch)  # TensorFlow installed: tf.data decodes the folder for a torch model too
    monkeypatch.setattr(backends, "_found", lambda module: module != "tensorflow")
    with pytest.raises(ConfigError, match="image folders are decoded with TensorFlow, which is not installed here"):
        check_applicable(on_torch)
    # .npy and synthetic data need no TensorFlow on another backend (a PyDataset streams them)
    check_applicable(trial(backend="torch", pipeline="batch_loop"))


def test_the_panel_ticks_backends_like_precisions(monkeypatch):
    pytest.importorskip("ipywidgets")
    from workbench.ui import Workbench

    monkeypatch.setattr(backends, "_found", lambda module: module != "torch")
    wb = Workbench(model="tiny", data="synthetic:16", backends="tensorflow,jax")
    assert wb.config().backends == ("tensorflow", "jax")
    assert [n for n, box in wb.form.backends.items() if box.value] == ["tensorflow", "jax"]
    wb.form.backends["torch"].value = True
    sweep, errors = wb.form.validate()
    assert sweep is None and list(errors) == ["backends"]
    assert errors["backends"].startswith("the torch backend needs torch, which is not installed here")
    wb.form.backends["torch"].value = False
    for box in wb.form.backends.values():
        box.value = False
    assert wb.form.validate()[1] == {"backends": "backends: choose at least one of tensorflow, jax, torch"}


def two_backends() -> pd.DataFrame:
    """Planted results: the same setting on two backends, jax holding 100 MiB less fixed and
    half as much per image."""
    rows = []
    for backend, fixed, per_image in (("tensorflow", 600 * MIB, 4 * MIB), ("jax", 500 * MIB, 2 * MIB)):
        for batch in (8, 16, 32, 64):
            peak = fixed + per_image * batch
            rows.append({"model": "tiny", "dataset": "synthetic:256", "backend": backend, "pipeline": "in_memory",
                         "precision": "float32", "batch_size": batch, "status": "ok", "images": 256,
                         "host_peak_bytes": float(peak), "host_peak_all_bytes": float(peak),
                         "throughput_ips": 100.0 * batch, "gpu_peak_bytes": np.nan, "gpu_peak_all_bytes": np.nan,
                         "gpu_device_peak_bytes": np.nan})
    return pd.DataFrame(rows)


def test_the_memory_model_fits_per_backend_where_several_were_measured():
    df = two_backends()
    fits = fit_memory_model(df).set_index("backend")
    assert fits.loc["tensorflow", "fixed_bytes"] == pytest.approx(600 * MIB)
    assert fits.loc["jax", "per_image_bytes"] == pytest.approx(2 * MIB)
    assert series_name(fits.reset_index().iloc[0]) == "tiny · jax · in_memory · float32"
    assert predict_peak(df, pipeline="in_memory", precision="float32", batch_size=128, images=256,
                        backend="jax") == pytest.approx(756 * MIB)
    with pytest.raises(ConfigError, match=r"several backends \(jax, tensorflow\): say which with backend="):
        predict_peak(df, pipeline="in_memory", precision="float32", batch_size=128, images=256)
    one = df[df["backend"] == "tensorflow"]  # one backend: no backend key, names as before the axis
    assert "backend" not in fit_memory_model(one).columns
    assert series_name(fit_memory_model(one).iloc[0]) == "tiny · in_memory · float32"


def test_tables_and_plots_name_the_backend_only_where_it_varies():
    df = two_backends()
    assert "backend" in [c.name for c in shown(df, REPORT)]
    assert "backend" not in [c.name for c in shown(df[df["backend"] == "jax"], REPORT)]
    assert series_keys(df) == [("jax", "in_memory", "float32"), ("tensorflow", "in_memory", "float32")]
    assert series_keys(df[df["backend"] == "jax"]) == [("in_memory", "float32")]
