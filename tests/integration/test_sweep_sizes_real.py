"""A real sweep with a target above the one size it measures adds the sizes that fit the N term.

``workbench sweep`` on the tiny model with 2,000 synthetic images through ``in_memory`` (which
holds copies of the whole array: about 3 x 12 kB a 32x32 float32 image) at batches 8 and 64,
with ``--target-images 100000``: the sweep says, before any trial, that it also measures 500
and 1,000 images (batch 64), runs them, and answers at 100,000 images with a measured N term
instead of "cannot be predicted"; with --no-auto-sizes it runs only the two trials asked for and
says the peak at the target cannot be predicted. Six real trials, one pass each: about 30 s here,
on 2 shared cores under load.
"""

from __future__ import annotations

import json

import pytest

from workbench.analysis import fit_memory_model
from workbench.cli import main
from workbench.results import load_results

pytestmark = pytest.mark.slow
IMAGE_BYTES = 32 * 32 * 3 * 4  # one float32 image of the tiny model's input
FAST = ["--warmup-batches", "1", "--min-batches", "1", "--min-duration", "0", "--min-passes", "1",
        "--drift-samples", "0"]


def test_a_sweep_with_a_target_measures_extra_sizes_and_fits_the_n_term(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = main(["sweep", "--model", "tiny", "--data", "synthetic:2000", "--batch-sizes", "8,64",
                 "--pipelines", "in_memory", "--target-images", "100000", "--host-budget", "8GB", *FAST,
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    lines = printed.splitlines()
    said = ("measuring also at 500 and 1,000 images so that memory at 100,000 images can be predicted: "
            "+2 trials (batch 64 at each size")
    assert lines[0].startswith(said), printed  # said before the trials ran

    df = load_results(out)
    assert (df["status"] == "ok").all(), df[["batch_size", "images", "error"]].to_string()
    assert sorted(zip(df["batch_size"], df["images"], strict=True)) == [(8, 2000), (64, 500), (64, 1000), (64, 2000)]
    fit = fit_memory_model(df).iloc[0]
    # Measured, not "not measured": in_memory holds the array and Keras' copies of it.
    assert IMAGE_BYTES < fit["per_dataset_image_bytes"] < 10 * IMAGE_BYTES, fit.to_dict()
    assert (fit["min_images"], fit["max_images"]) == (500, 2000)

    answer = printed[printed.index("at your target size, 100,000 images"):]
    assert "cannot be predicted" not in answer and "the largest batch predicted to fit" in answer
    assert "note: the sweep also measured 500 and 1,000 images by itself, at batch 64 (2 trials" in answer
    header = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()][0]
    assert header["sweep"]["added_sizes"]["sizes"] == [500, 1000]

    # Opting out runs only the trials asked for, and the answer says the N term is missing.
    bare = tmp_path / "bare"
    assert main(["sweep", "--model", "tiny", "--data", "synthetic:2000", "--batch-sizes", "8,64",
                 "--pipelines", "in_memory", "--target-images", "100000", "--no-auto-sizes", *FAST,
                 "--out", str(bare)]) == 0
    printed = capsys.readouterr().out
    assert "measuring also" not in printed and len(load_results(bare)) == 2
    assert "cannot be predicted: every trial predicted 2,000 images" in printed
