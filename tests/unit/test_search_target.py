"""The search for the user's real dataset size, against memory curves with a known N term (no
processes), and the target options of every command: one-line errors before any trial."""

from __future__ import annotations

import json
import math
import threading

import pytest

from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, TrialConfig
from workbench.engine.search import SEARCH_FILE, search_batch
from workbench.engine.targets import SAMPLE_IMAGES, resolve_target, sample_size
from workbench.errors import ConfigError
from workbench.results import Status, TrialResult

from ..helpers import write_npy

MIB = 2**20
FIXED, PER_IMAGE, PER_DATASET = 600 * MIB, 1.5 * MIB, 8000


class Job:
    """A probe whose peak is ``fixed + per_image x batch + per_dataset x N`` (N: the images the
    trial predicts), over the budget as the runner reports it."""

    def __init__(self, per_dataset: float = PER_DATASET) -> None:
        self.per_dataset = per_dataset
        self.runs: list[tuple[int, int]] = []

    def peak(self, batch: int, n: int) -> float:
        return FIXED + PER_IMAGE * batch + self.per_dataset * n

    def __call__(self, cfg: TrialConfig) -> TrialResult:
        n = int(cfg.data.count)
        self.runs.append((cfg.batch_size, n))
        result = TrialResult.for_trial(cfg)
        result.images = n
        result.host_peak_bytes = self.peak(cfg.batch_size, n)
        if result.host_peak_bytes > cfg.budget.host_bytes:
            result.status = Status.OVER_BUDGET
        return result


def template(count: int = 2000) -> TrialConfig:
    return TrialConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=count))


def test_the_answer_is_the_largest_batch_whose_peak_at_the_target_fits(tmp_path):
    budget, target = 2 * 2**30, 100_000
    job = Job()
    events = []
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=job, target_images=target,
                          progress=events.append)
    expected = math.floor((budget * 0.9 - FIXED - PER_DATASET * target) / PER_IMAGE)
    assert result.batch_size == expected == 320
    # Batch 1 at a quarter, a half and the whole sample first; the whole sample's trial is the
    # search's first probe (run once); every probe runs on the 2,000-image sample.
    assert job.runs[:3] == [(1, 500), (1, 1000), (1, 2000)]
    assert all(n == 2000 for _, n in job.runs[3:]) and (1, 2000) not in job.runs[3:]
    assert [e.kind for e in events[:3]] == ["size"] * 3 and result.probes[0][0] == 1
    assert job.peak(expected, target) <= budget * 0.9 < job.peak(expected + 1, target)
    # It says what it measured and how far the answer reaches.
    assert any(n.startswith("measured batch 1 at 500, 1,000 and 2,000 images to learn how host memory grows")
               and "7.81 KiB per image" in n and "judged by its peak predicted at your 100,000 images" in n
               for n in result.notes), result.notes
    assert "predicted at 100,000 images, 50x beyond the 2,000 measured: an extrapolation" in result.notes
    saved = json.loads((tmp_path / SEARCH_FILE).read_text())["target"]
    assert (saved["target_images"], saved["sample_images"], saved["sizes"]) == (target, 2000, [500, 1000, 2000])
    assert saved["per_dataset_image_bytes"]["host"] == pytest.approx(PER_DATASET)
    assert saved["answer"]["predicted_peak_bytes"] == pytest.approx(job.peak(expected, target))
    assert saved["answer"]["measured_peak_bytes"] == pytest.approx(job.peak(expected, 2000))


def test_without_a_target_the_same_search_answers_for_the_sample(tmp_path):
    budget = 2 * 2**30
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=Job())
    assert result.batch_size == math.floor((budget * 0.9 - FIXED - PER_DATASET * 2000) / PER_IMAGE) == 818
    assert result.target == {}


def test_nothing_fits_at_the_target_though_the_sample_fits(tmp_path):
    job = Job(per_dataset=40_000)
    result = search_batch(template(), tmp_path, host_budget_bytes=2 * 2**30, probe=job, target_images=1_200_000)
    assert result.batch_size == 0 and result.limited_by == "nothing_fits"
    assert all(status == "ok" for _, status, _ in result.probes)  # on the sample every probe ran under budget


def test_over_budget_on_part_of_the_sample_stops_before_any_probe(tmp_path):
    job = Job(per_dataset=4_000_000)  # 500 images already need 2 GB more
    result = search_batch(template(), tmp_path, host_budget_bytes=2 * 2**30, probe=job, target_images=10_000)
    assert job.runs == [(1, 500)] and result.batch_size == 0 and result.limited_by == "nothing_fits"
    assert any("it did not fit at 500 images (over_budget)" in n for n in result.notes)


def test_a_target_within_the_sample_is_probed_as_it_is(tmp_path):
    job = Job()
    result = search_batch(template(), tmp_path, host_budget_bytes=2 * 2**30, probe=job, target_images=1500)
    assert {n for _, n in job.runs} == {1500} and result.target["sample_images"] == 1500
    assert any("the probes ran at your target size, 1,500 images" in n for n in result.notes)


def test_cancel_while_measuring_the_growth(tmp_path):
    cancel = threading.Event()
    job = Job()

    def probe(cfg: TrialConfig) -> TrialResult | None:
        cancel.set()  # the user presses Cancel during the first size trial
        return job(cfg)

    result = search_batch(template(), tmp_path, host_budget_bytes=2 * 2**30, probe=probe, target_images=10**5,
                          cancel=cancel)
    assert result.cancelled and result.limited_by == "cancelled" and job.runs == [(1, 500)]


def test_default_target_and_sample_of_a_npy_file(tmp_path):
    path = tmp_path / "images.npy"
    write_npy(path, 5000, size=8)
    data = DataSpec("npy", path=str(path))
    assert resolve_target(None, data) == (5000, "the full count of npy:images.npy")
    assert resolve_target("7,000", data)[0] == 7000
    assert resolve_target(None, DataSpec("synthetic", count=64))[0] is None
    assert resolve_target(None, DataSpec("demo"))[0] is None
    assert sample_size(data) == SAMPLE_IMAGES == 2000 and sample_size(data, 800) == 800
    with pytest.raises(ConfigError, match="a sample of 6,000 images asked for, but npy:images.npy holds 5,000"):
        sample_size(data, 6000)
    # search_batch with no target on a .npy answers for all of it, probing 2,000 images.
    job = Job()
    result = search_batch(TrialConfig(model=ModelSpec("tiny"), data=data), tmp_path / "s",
                          host_budget_bytes=2 * 2**30, probe=job)
    assert job.runs[:3] == [(1, 500), (1, 1000), (1, 2000)] and result.target["target_images"] == 5000


def test_a_sample_too_small_to_measure_the_growth_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="a sample of 8 images is too small"):
        search_batch(template(8), tmp_path, host_budget_bytes=2 * 2**30, probe=Job(), target_images=1000)


# ---------------------------------------------------------------- the commands


@pytest.mark.parametrize("bad", ["0", "-5", "1.5M", "lots"])
@pytest.mark.parametrize("command", [
    ["sweep", "--model", "tiny", "--data", "synthetic:16", "--batch-sizes", "4"],
    ["search", "--model", "tiny", "--data", "synthetic:16", "--host-budget", "2GB"],
    ["demo", "--batch-sizes", "4"],
])
def test_a_bad_target_is_one_line_and_exit_2_before_any_trial(tmp_path, capsys, command, bad):
    out = tmp_path / "out"
    assert main([*command, "--out", str(out), f"--target-images={bad}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "target images" in err and bad in err and "--target-images 1200000" in err
    assert not out.exists()  # nothing ran, nothing was written


@pytest.mark.parametrize("bad", ["0", "-5", "1.5M"])
def test_report_refuses_a_bad_target_in_one_line(tmp_path, capsys, bad):
    assert main(["report", str(tmp_path), f"--target-images={bad}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "target images" in err


def test_the_target_accepts_thousands_separators_and_reaches_the_sweep():
    from workbench.cli import build_parser
    from workbench.cli.options import sweep_config

    args = build_parser().parse_args(["sweep", "--model", "tiny", "--out", "x", "--target-images", "1,200,000"])
    assert sweep_config(args).target_images == 1_200_000
