"""The demo: a sweep over the embedded digits with the locally trained model shows accuracy and
drift columns that mean something (a trained model, held-out images, real precisions)."""

from __future__ import annotations

import re

import pytest

from workbench.config import DataSpec, ModelSpec, SweepConfig, TimingSpec
from workbench.engine.runner import run_sweep
from workbench.render.table import results_table
from workbench.results import load_results

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep_df(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-sweep")
    sweep = SweepConfig(ModelSpec("demo"), DataSpec.parse("demo"), pipelines=("stream",),
                        precisions=("float32", "mixed_bfloat16"), batch_sizes=(64,),
                        timing=TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0.0, min_passes=1, drift_samples=256))
    run_sweep(sweep, out)  # prepares (trains once per cache) before the first trial
    return load_results(out)


def test_demo_sweep_reports_high_accuracy_and_small_drift(sweep_df):
    df = sweep_df.set_index("precision")
    assert list(sweep_df["status"]) == ["ok", "ok"], sweep_df["error"].tolist()
    assert (sweep_df["images"] == 1797).all()
    f32, bf16 = df.loc["float32"], df.loc["mixed_bfloat16"]
    assert f32["accuracy"] >= 0.95  # the first 256 images are held out from training
    assert f32["drift_max_abs"] == 0.0 and f32["top1_agreement"] == 1.0  # its own reference
    assert 0 < bf16["drift_max_abs"] < 0.2  # bfloat16 keeps 8 bits of mantissa: visible, small
    assert bf16["top1_agreement"] >= 0.97
    assert abs(bf16["accuracy"] - f32["accuracy"]) <= 0.03


def test_the_table_shows_accuracy_and_drift(sweep_df):
    table = results_table(sweep_df)
    header = table.splitlines()[0]
    assert re.search(r"accuracy %\s+top-1 agree %\s+drift$", header), header
    for row in table.splitlines()[2:4]:
        acc, agree, drift = (float(cell) for cell in row.split()[-3:])  # figures, not n/a
        assert acc >= 95 and agree >= 97 and drift >= 0  # percentages
