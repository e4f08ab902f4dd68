"""The dataset sizes a sweep adds by itself so its answers at the target size are measured.

A sweep at one dataset size with a target above it also runs each pipeline x precision at a
quarter and a half of that size (the search's fractions), at the largest batch no larger than
the quarter; with two or more ``images``, no target, a target within the size, or
``auto_sizes=False`` it adds nothing. The plan is said before the trials run (CLI, panel),
kept in the results header, and cited by the recommendation and the report.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from workbench import analysis
from workbench.analysis.target import added_sizes_note
from workbench.config import DataSpec, ModelSpec, SweepConfig
from workbench.engine.runner import sweep_header
from workbench.engine.search_target import measure_growth
from workbench.engine.sweep_sizes import plan_sizes, size_trials
from workbench.engine.targets import growth_sizes
from workbench.plan import expand
from workbench.render.table import results_table
from workbench.results import Status, TrialResult

from ..helpers import fake_trials, make_panel, write_npy
from .test_analysis import MIB, trial_row

TINY = ModelSpec("tiny")


def sweep(count: int = 1000, **kw) -> SweepConfig:
    base = {"model": TINY, "data": DataSpec("synthetic", count=count), "pipelines": ("in_memory", "batch_loop"),
            "precisions": ("float32", "mixed_bfloat16"), "batch_sizes": (1, 8, 32, 512), "target_images": 1_200_000}
    return SweepConfig(**{**base, **kw})


def test_the_sizes_are_the_searchs_quarter_half_and_whole():
    assert growth_sizes(1000) == [250, 500, 1000]
    assert growth_sizes(2001) == [500, 1000, 2001]
    assert growth_sizes(2) == [1, 2]  # the same size twice is one size

    # The search measures at exactly these sizes: one helper, no copy.
    seen: list[int] = []

    def probe(cfg):
        seen.append(cfg.data.count)
        result = TrialResult.for_trial(cfg)
        result.status, result.images = Status.OK, cfg.data.count
        result.host_peak_bytes = float(700 * MIB + cfg.data.count * 5000)
        return result

    template = expand(sweep(images=(1000,), pipelines=("in_memory",), precisions=("float32",), auto_sizes=False))[0]
    growth = measure_growth(template, probe, 1_200_000, 1000, ["host"])
    assert seen == growth.sizes == growth_sizes(1000)
    assert growth.per_image("host") == pytest.approx(5000)


def test_a_target_above_the_one_size_measured_adds_a_quarter_and_a_half_at_one_batch():
    s = sweep()
    plan = plan_sizes(s)
    assert (plan.sizes, plan.batch_size, plan.trials, plan.sample_images, plan.target_images) == (
        (250, 500), 32, 8, 1000, 1_200_000)
    # batch 32: the largest no larger than 250 images, and among the three largest batches the
    # memory model always keeps (1 and 8 may be dropped where the line bends).
    assert plan.announce() == (
        "measuring also at 250 and 500 images so that memory at 1,200,000 images can be predicted: +8 trials "
        "(batch 32 at each size, for each of the 4 pipeline x precision series; --no-auto-sizes to skip)")
    trials = expand(s)
    own = expand(replace(s, auto_sizes=False))
    assert len(own) == 16 and len(trials) == 24
    added, rest = trials[:8], trials[8:]
    assert rest == own  # the sweep's own trials are unchanged, and run after the smaller sizes
    assert [t.data.count for t in added] == [250] * 4 + [500] * 4
    assert {t.batch_size for t in added} == {32}
    assert {(t.pipeline, t.precision) for t in added[:4]} == {(t.pipeline, t.precision) for t in own}
    assert len({t.key() for t in trials}) == 24
    # Each is the trial --images 250,500,1000 would run at batch 32: the same key, so resumable.
    axis = {t.key() for t in expand(replace(s, images=(250, 500, 1000), auto_sizes=False))}
    assert {t.key() for t in added} <= axis


def test_the_size_measured_is_the_single_images_given_else_the_datas_count():
    assert plan_sizes(sweep(count=256, images=(2000,))).sizes == (500, 1000)
    assert plan_sizes(sweep(count=4000)).sizes == (1000, 2000)


@pytest.mark.parametrize("change", [
    {"images": (250, 1000)},  # the user's own size axis measures the N term
    {"target_images": None},  # synthetic data without a target: answers for the size measured
    {"target_images": 1000},  # the target is the size measured
    {"target_images": 600},  # ... or within it
    {"auto_sizes": False},  # opted out
])
def test_nothing_is_added_where_the_n_term_is_measured_or_not_wanted(change):
    s = sweep(**change)
    plan = plan_sizes(s)
    assert (plan.sizes, plan.trials, plan.announce()) == ((), 0, "")
    assert len(expand(s)) == len(s.pipelines) * len(s.precisions) * len(s.batch_sizes) * (len(s.images or ()) or 1)
    assert "added_sizes" not in sweep_header(s)


def test_a_npy_larger_than_the_size_measured_adds_sizes_for_its_target_or_its_full_count(tmp_path):
    path = tmp_path / "images.npy"
    write_npy(path, 4000, size=4)
    data = DataSpec("npy", path=str(path))
    s = sweep(data=data, images=(1000,), target_images=4000, pipelines=("stream",), precisions=("float32",))
    plan = plan_sizes(s)
    assert (plan.target_images, plan.sizes, plan.trials) == (4000, (250, 500), 2)
    assert "memory at 4,000 images" in plan.announce() and "for 1 pipeline x precision series" in plan.announce()
    assert [t.data.count for t in expand(s)] == [250, 500, 1000, 1000, 1000, 1000]
    # No target given: the file's full count is the answers' target, so the same sizes are added.
    assert (plan_sizes(replace(s, target_images=None)).target_images, plan_sizes(replace(s, target_images=None)).sizes) == (
        4000, (250, 500))
    assert plan_sizes(replace(s, target_images=None, auto_sizes=False)).sizes == ()
    # All of the file measured: nothing to add.
    assert plan_sizes(replace(s, images=None)).sizes == ()


def test_repeats_run_the_added_sizes_once():
    trials = expand(sweep(repeat=3))
    assert len(trials) == 8 + 3 * 16
    assert [t.repeat for t in trials[:8]] == [0] * 8


@pytest.mark.parametrize(("change", "words"), [
    ({"count": 12}, "12 images are too few to measure how memory grows with the number of images (at least 16)"),
    ({"batch_sizes": (512, 1024)}, "every batch size is above 250 images (a quarter of the 1,000 measured)"),
])
def test_where_sizes_cannot_be_added_it_says_why_and_adds_nothing(change, words):
    s = sweep(**change)
    plan = plan_sizes(s)
    assert plan.sizes == () and size_trials(s, plan) == []
    assert plan.announce().startswith("note: ") and words in plan.announce()
    assert len(expand(s)) == 4 * len(s.batch_sizes)


def test_the_header_records_what_was_added_and_the_answers_cite_it():
    s = sweep(pipelines=("stream",), precisions=("float32",), batch_sizes=(8, 64), target_images=100_000)
    header = sweep_header(s)
    assert header["added_sizes"] == {"sizes": [250, 500], "batch_size": 64, "trials": 2, "sample_images": 1000,
                                     "target_images": 100_000}
    assert {k: v for k, v in header.items() if k != "added_sizes"} == s.to_dict()

    # Results as that sweep gives them: 6.6 kB more an image (the outputs predict keeps).
    fixed, per_image, per_dataset = 700 * MIB, 300_000, 6600
    rows = [trial_row("stream", "float32", b, images=n, host_peak_bytes=float(fixed + per_image * b + per_dataset * n),
                      throughput_ips=100.0 * b)
            for b, n in ((64, 250), (64, 500), (8, 1000), (64, 1000))]
    df = pd.DataFrame(rows)
    df.attrs["sweep"] = header
    fit = analysis.fit_memory_model(df).iloc[0]
    assert fit["per_dataset_image_bytes"] == pytest.approx(per_dataset)
    note = added_sizes_note(df)
    assert note == ("the sweep also measured 250 and 500 images by itself, at batch 64 (2 trials beside those asked "
                    "for), so that how memory grows with the number of images is measured and the peak at 100,000 "
                    "images predicted")
    rec = analysis.recommend(df, host_budget_bytes=2 * 2**30, target_images=100_000)
    assert rec.row is not None and rec.row["batch_size"] == 64
    assert f"the trials ran at 250, 500, 1,000 images; {note}; this answer is for 100,000" in rec.notes
    expected = fixed + per_image * 64 + per_dataset * 100_000
    assert rec.row["predicted_host_bytes"] == pytest.approx(expected)
    # The table tells the added trials from the sweep's own by their size.
    table = results_table(df.assign(status="ok")).splitlines()
    assert table[0].split()[:4] == ["pipeline", "precision", "batch", "images"]
    assert [line.split()[2:4] for line in table[2:]] == [["64", "250"], ["64", "500"], ["8", "1,000"], ["64", "1,000"]]
    df.attrs["sweep"] = s.to_dict()
    assert added_sizes_note(df) == ""


def test_the_memory_model_keeps_the_n_term_where_cutting_bent_batches_would_lose_it():
    # Batches 1 and 4 sit 60 MiB below the line (the curve bends); the sizes were added at batch 4.
    def peak(b: int, n: int) -> float:
        return float(800 * MIB + MIB * b + 7000 * n - (60 * MIB if b < 16 else 0))

    rows = [trial_row(batch=b, images=1000, host_peak_bytes=peak(b, 1000)) for b in (1, 4, 16, 64, 256)]
    rows += [trial_row(batch=4, images=n, host_peak_bytes=peak(4, n)) for n in (250, 500)]
    fit = analysis.fit_memory_model(pd.DataFrame(rows)).iloc[0]
    # The line in batch holds from 16 up, and the N term comes from batch 4's three sizes, its
    # level its own (the bend neither hides the N term nor leaks into it).
    assert (fit["min_batch"], fit["max_batch"], fit["min_images"], fit["max_images"]) == (16, 256, 250, 1000)
    assert fit["per_dataset_image_bytes"] == pytest.approx(7000, rel=1e-6)
    assert fit["per_image_bytes"] == pytest.approx(MIB, rel=1e-6)
    assert "also rests on the trials below batch 16 measured at several sizes" in fit["note"]
    assert analysis.predict_peak(pd.DataFrame(rows), pipeline="in_memory", precision="float32", batch_size=64,
                                 images=100_000) == pytest.approx(peak(64, 100_000))
    # Without the added sizes the bend is still cut away and the N term is not measured, as before.
    plain = analysis.fit_memory_model(pd.DataFrame(rows[:5])).iloc[0]
    assert (plain["min_batch"], math.isnan(plain["per_dataset_image_bytes"])) == (16, True)


def test_the_panel_says_what_it_adds_and_can_opt_out(tmp_path):
    panel = make_panel(tmp_path, data="synthetic:1000", batch_sizes="8,64", pipelines="batch_loop,in_memory",
                       target_images="100000")
    assert panel.config().auto_sizes is True
    assert panel.plan.value.startswith("<i>8 trials:")
    assert "measuring also at 250 and 500 images so that memory at 100,000 images can be predicted: +4 trials" \
        in panel.plan.value
    # The way out is the panel's own box, not the CLI's option.
    assert panel.form.auto_sizes.description == "also measure ¼ and ½ of one size"
    assert "untick &#x27;also measure ¼ and ½ of one size&#x27; to skip" in panel.plan.value
    assert "--no-auto-sizes" not in panel.plan.value
    panel.form.auto_sizes.value = False
    assert panel.config().auto_sizes is False
    assert panel.plan.value.startswith("<i>4 trials:") and "measuring also" not in panel.plan.value
    assert np.all([w in panel.form.controls() for w in ("auto_sizes", "target_images")])


def test_the_data_is_read_once_for_both_the_target_and_the_sample(tmp_path, monkeypatch):
    import workbench.engine.sweep_sizes as sweep_sizes
    import workbench.engine.targets as targets

    path = tmp_path / "images.npy"
    write_npy(path, 4000, size=4)
    reads = []
    real = sweep_sizes.available_images

    def counted(data):
        reads.append(data.path)
        return real(data)

    monkeypatch.setattr(sweep_sizes, "available_images", counted)
    monkeypatch.setattr(targets, "available_images", counted)
    s = sweep(data=DataSpec("npy", path=str(path)), pipelines=("stream",), precisions=("float32",), target_images=None)
    plan = plan_sizes(s)  # no target: the file's count is the target, and with no --images the sample too
    assert (plan.target_images, plan.sample_images, plan.sizes, len(reads)) == (4000, 4000, (), 1)
    reads.clear()
    plan = plan_sizes(replace(s, images=(1000,), target_images=8000))  # both given: nothing to read
    assert (plan.sizes, plan.trials, reads) == ((250, 500), 2, [])


def image_folder(root, n: int):
    """``n`` small real PNGs in ``root``."""
    from PIL import Image

    root.mkdir()
    for i in range(n):
        Image.new("RGB", (8, 8), (i * 4, 0, 0)).save(root / f"{i:03d}.png")
    return root


@pytest.fixture
def counted_reads(monkeypatch):
    """Each count of the data the size plan makes (the real one, so the plan is the real one);
    trials are stood in for (they would need TensorFlow) and their settings listed."""
    import workbench.engine.sweep_sizes as sweep_sizes

    counts: list[int | None] = []
    real = sweep_sizes.data_count

    def counted(data):
        counts.append(real(data))
        return counts[-1]

    monkeypatch.setattr(sweep_sizes, "data_count", counted)
    ran = fake_trials(monkeypatch)
    return counts, ran


def test_one_cli_sweep_reads_the_data_for_its_size_plan_once(tmp_path, counted_reads, capsys):
    """The size plan counts the data (a folder scan: minutes for a million images); one sweep
    makes it once and hands it to the announce line, the trial list and the results header.
    The CLI, the runner, the plan and the folder scan are real; the trials are stood in for."""
    from workbench.cli import main
    from workbench.results import load_results

    folder = image_folder(tmp_path / "images", 64)
    counts, ran = counted_reads
    out = tmp_path / "out"
    code = main(["sweep", "--model", "tiny", "--data", str(folder), "--images", "32", "--batch-sizes", "4,16",
                 "--pipelines", "stream", "--precisions", "float32", "--out", str(out)])
    said = capsys.readouterr().out
    assert code == 0 and counts == [64]  # one scan of the folder for the whole sweep
    # ... and that one plan is what every part used: the line said, the trials run, the header kept.
    assert ("measuring also at 8 and 16 images so that memory at 64 images can be predicted: +2 trials "
            "(batch 4 at each size, for 1 pipeline x precision series; --no-auto-sizes to skip)") in said
    assert ran == [(8, 4), (16, 4), (32, 4), (32, 16)]
    added = load_results(out).attrs["sweep"]["added_sizes"]
    assert added == {"sizes": [8, 16], "batch_size": 4, "trials": 2, "sample_images": 32, "target_images": 64}
    # A caller that passes no plan still gets one made for it, from the same one read.
    counts.clear()
    assert sweep_header(SweepConfig(TINY, DataSpec("folder", path=str(folder)), images=(32,),
                                    batch_sizes=(4, 16)))["added_sizes"]["sizes"] == [8, 16]
    assert counts == [64]


def test_the_panel_reads_the_data_for_its_size_plan_once_per_change_and_per_run(tmp_path, counted_reads):
    """The panel's plan line (remade at each change of the form) and its **Run sweep** each
    count the data once."""
    import threading

    from workbench.ui.runs import sweep_body

    folder = image_folder(tmp_path / "images", 64)
    counts, ran = counted_reads
    panel = make_panel(tmp_path, data=str(folder), images="32", batch_sizes="4,16", pipelines="stream")
    counts.clear()
    panel.form.batch_list.value = "4,8"  # one change: validated, counted and said
    assert counts == [64] and "+2 trials (batch 8 at each size" in panel.plan.value
    counts.clear()
    sweep_body(panel, panel.config(), str(tmp_path / "runs"))(threading.Event())
    assert counts == [64] and ran == [(8, 8), (16, 8), (32, 4), (32, 8)]
    assert "2 of them at 8 and 16 images, added to measure how memory grows" in panel.status.value
