"""A real search for the user's dataset size: the batch it answers runs within the budget there.

MobileNetV2 at 32 px (1000-class outputs) through the ``in_memory`` pipeline on a ``.npy`` of
4,000 images: the probes run on a 1,000-image sample, the search measures batch 1 at 250, 500
and 1,000 images to learn how memory grows with the number of images (about 35 kB an image
here: the array, Keras' copies of it and the outputs), and answers for a target of 4,000, four
times the sample. Then a real trial of that batch on all 4,000 images must run within the
budget (issue 9, "Done when" (c)), and its peak must not be short of what the search predicted
by more than 10 % of the predicted growth (the accuracy (a) asks of the memory model), nor over
it by more than 25 %: the growth is measured at batch 1 and added to a larger batch's peak, so the
prediction errs high on purpose (see the test). The budget leaves the
sample room for a few hundred images a batch, of which the growth to 4,000 images takes most,
so the answer for the target is well below what the sample alone would allow.

Why not "under the budget less the margin": the answer is, by construction, the largest batch
*predicted* under that limit, so it sits at the limit and the real peak lands a run-to-run noise
either side of it (measured here, 2026-12-07: two runs landed 8.3 and 8.5 MiB under their
limits; in an older set-up the same trial at 4,000 images peaked 897.7, 899.7 and 901.4 MiB
against a limit of 899.3). The margin is there to absorb exactly that, and the error is printed
and bounded.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from workbench.analysis import budget_peak
from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, TimingSpec, TrialConfig
from workbench.engine.runner import run_trial

pytestmark = pytest.mark.slow
MIB = 2**20
SAMPLE, TARGET, SIZE = 1000, 4000, 32
TIMING = TimingSpec(warmup_batches=1, min_batches=1, min_duration_s=0.0, min_passes=1, drift_samples=0)


def test_search_for_the_target_size_gives_a_batch_that_fits_there(tmp_path, capsys):
    path = tmp_path / "images.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, size=(TARGET, SIZE, SIZE, 3), dtype=np.uint8))
    model = ModelSpec("mobilenet_v2", image_size=SIZE)
    # Calibrate the budget on this machine: batch 1 on the sample, then 150 MiB of room above it.
    first = run_trial(TrialConfig(model=model, data=DataSpec("npy", path=str(path), count=SAMPLE),
                                  pipeline="in_memory", batch_size=1, timing=TIMING))
    assert first is not None and first.ok, first.error if first else "cancelled"
    budget = int((budget_peak(first) + 150 * MIB) / 0.9)
    out = tmp_path / "search"
    code = main(["search", "--model", "mobilenet_v2", "--image-size", str(SIZE), "--data", str(path),
                 "--pipeline", "in_memory", "--host-budget", str(budget), "--margin", "10%", "--max-batch", "512",
                 "--target-images", str(TARGET), "--sample-images", str(SAMPLE),
                 "--warmup-batches", "1", "--min-batches", "1", "--min-duration", "0", "--min-passes", "1",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    answer = json.loads((out / "search.json").read_text())
    target = answer["target"]
    batch, limit = answer["batch_size"], budget * 0.9

    # It measured three sizes by itself and said so; every probe ran on the sample.
    assert target["sizes"] == [250, 500, 1000] and target["statuses"] == ["ok"] * 3
    assert [f"size {i}:" in printed for i in (1, 2, 3)] == [True] * 3
    assert "measured batch 1 at 250, 500 and 1,000 images" in printed and f"at {TARGET:,} images: predicted peak" in printed
    assert "predicted at 4,000 images, 4x the 1,000 measured" in printed
    per_image = target["per_dataset_image_bytes"]["host"]
    assert per_image > SIZE * SIZE * 3 * 4  # at least the decoded float32 image is held per image of the set
    # The target cost batches: a probe that ran under the limit on the sample is predicted over it at 4,000.
    assert any(not p["fits"] and p["status"] == "ok" and p["peak_bytes"] <= limit and p["batch_size"] > batch
               for p in answer["probes"]), answer["probes"]
    assert 1 <= batch < 512

    # The real job: the answer's batch on all 4,000 images, with the budget as its limit.
    job = run_trial(TrialConfig.from_dict({**answer["template"], "batch_size": batch,
                                           "data": {**answer["template"]["data"], "count": TARGET}}))
    assert job is not None and job.ok, (job.status, job.error) if job else "cancelled"
    real, predicted = budget_peak(job), target["answer"]["predicted_peak_bytes"]
    print(f"\nbudget {budget / MIB:.1f} MiB (limit less 10 %: {limit / MIB:.1f}); growth {per_image / 1000:.1f} kB "
          f"an image; answer batch {batch}: on {SAMPLE:,} images {target['answer']['measured_peak_bytes'] / MIB:.1f} MiB, "
          f"predicted at {TARGET:,} {predicted / MIB:.1f} MiB, measured at {TARGET:,} {real / MIB:.1f} MiB "
          f"(error {(predicted - real) / MIB:+.1f} MiB; {'under' if real <= limit else 'over'} the limit by "
          f"{abs(limit - real) / MIB:.1f} MiB)")
    assert job.images == TARGET
    assert real <= budget, (real / MIB, budget / MIB)  # within the budget at the target size
    growth = predicted - target["answer"]["measured_peak_bytes"]
    # The growth is measured at batch 1 (engine/search_target.py) and added to a probe's peak, which
    # overstates what a larger batch grows: each batch's own costs count once an image at batch 1,
    # and a larger batch's activations peak mid-job while the growth peaks at the end, in memory the
    # activations gave back, so the two do not add. Measured here from 2,000 to 8,000 images: 245 MiB
    # predicted from batch 1; 231 MiB real at batch 5, 207 at batch 109, 209 at batch 136. So the
    # prediction errs high, the safe side, by design: short of the real peak (the side that runs a
    # job out of memory) by at most 10 % of the growth, over it by at most 25 %. (Here at 4,000:
    # +4.0 and +5.9 %; one CI run: +10.9 MiB at batch 65, 10.3 % of a 106 MiB growth.)
    over = (predicted - real) / growth
    print(f"prediction {over * 100:+.1f} % of the growth")
    assert -0.10 <= over <= 0.25, (predicted / MIB, real / MIB, growth / MIB)
    assert real <= limit + 0.10 * growth  # so under the budget less the margin but for that error


def test_a_sweep_of_a_npy_answers_for_its_full_count(tmp_path, capsys):
    """No --target-images on a .npy: the answer is for all of its images, predicted from the sizes measured."""
    path = tmp_path / "images.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, size=(512, 32, 32, 3), dtype=np.uint8))
    out = tmp_path / "sweep"
    code = main(["sweep", "--model", "tiny", "--data", str(path), "--images", "128,256", "--batch-sizes", "8,32",
                 "--pipelines", "in_memory", "--host-budget", "4GB", "--drift-samples", "0",
                 "--warmup-batches", "1", "--min-batches", "1", "--min-duration", "0", "--min-passes", "1",
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "at your target size, 512 images (the full count of npy:images.npy, host budget 3.73 GiB):" in printed
    assert "tiny · in_memory · float32: the largest batch predicted to fit the budget less 10 % at 512 images is" in printed
    assert "predicted at 512 images, 2x the 256 measured" in printed
    # Batches 8 and 32 of the tiny model run at about the same speed: either may be the fastest.
    assert re.search(r"  recommended: batch (8|32), float32, in_memory", printed), printed
    assert main(["report", str(out)]) == 0
    assert "At your size: 512 images" in (out / "report.html").read_text()
