"""One real search: a tiny CNN, real TensorFlow, one process per probe (about 6 trials)."""

from __future__ import annotations

import json
import math

import pytest

from workbench.cli import main
from workbench.config import TrialConfig
from workbench.engine.runner import run_trial
from workbench.results import load_results

MIB = 2**20
MAX_BATCH = 256


@pytest.mark.slow
def test_real_search_finds_a_batch_that_fits_when_run_again(tmp_path, tiny_trial, capsys):
    # 64x64 images make each image in a batch cost enough memory to move the peak.
    first = run_trial(tiny_trial(batch_size=1, count=MAX_BATCH, image_size=64))
    assert first is not None and first.ok, first.error if first else "cancelled"
    # A budget with room for some, not all, of the batch sizes up to 256 once the margin is kept.
    budget = int((first.host_peak_bytes + 60 * MIB) / 0.9)
    out = tmp_path / "search"
    code = main(["search", "--model", "tiny", "--image-size", "64", "--data", f"synthetic:{MAX_BATCH}",
                 "--host-budget", str(budget), "--margin", "10%", "--max-batch", str(MAX_BATCH),
                 "--warmup-batches", "1", "--min-batches", "2", "--min-duration", "0", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed

    answer = json.loads((out / "search.json").read_text())
    batch, probes = answer["batch_size"], answer["probes"]
    assert answer["host_budget_bytes"] == budget and answer["margin"] == 0.1
    assert 1 <= batch <= MAX_BATCH
    assert answer["n_probes"] == len(probes) <= math.log2(MAX_BATCH) + 2
    # Each probe was printed as it happened, and stored like any trial.
    assert [f"probe {i + 1}: batch" in printed for i in range(len(probes))] == [True] * len(probes)
    df = load_results(out)
    assert df["batch_size"].tolist() == [p["batch_size"] for p in probes]
    assert df["status"].tolist() == [p["status"] for p in probes]
    assert df.attrs["sweep"]["search"]["host_budget_bytes"] == budget
    # The bracket is consistent: the answer fitted; anything that fitted is no larger than it.
    fitted = {p["batch_size"] for p in probes if p["fits"]}
    assert batch in fitted and max(fitted) == batch
    if answer["limited_by"] == "budget":
        assert any(not p["fits"] and p["batch_size"] > batch for p in probes)

    # Run the answer again, as a user would: it stays under the budget.
    # The saved template carries the budget, so going over it would stop the trial as over_budget.
    again = run_trial(TrialConfig.from_dict({**answer["template"], "batch_size": batch}))
    assert again is not None and again.ok, again.error if again else "cancelled"
    assert again.host_budget_bytes == budget and again.host_peak_bytes <= budget
