"""The batch search against synthetic memory curves with known answers (no processes)."""

from __future__ import annotations

import json
import math
import random
import threading

import pytest

from workbench.cli import main
from workbench.config import DataSpec, ModelSpec, TrialConfig
from workbench.engine.search import SEARCH_FILE, ProbeEvent, search_batch
from workbench.errors import ConfigError, WorkbenchError
from workbench.parsing import parse_margin
from workbench.results import Status, TrialResult

MIB = 2**20
FIXED, PER_IMAGE = 600 * MIB, 1.5 * MIB


def template(count: int = 100_000) -> TrialConfig:
    return TrialConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=count))


class Curve:
    """A probe with a known memory curve ``fixed + per_image * batch ** power``.

    Like the runner: a trial over the budget is ``over_budget``; ``exact=False`` records only
    the lower bound the parent saw when it stopped the trial (as a real over-budget kill does).
    """

    def __init__(self, budget: float, power: float = 1.0, exact: bool = True, fixed: float = FIXED,
                 per_image: float = PER_IMAGE) -> None:
        self.budget, self.power, self.exact, self.fixed, self.per_image = budget, power, exact, fixed, per_image
        self.batches: list[int] = []  # the first run of each batch: the search's probes
        self.again: list[int] = []  # runs of a batch run before: the confirmation

    def peak(self, batch: int) -> float:
        return self.fixed + self.per_image * batch**self.power

    def __call__(self, cfg: TrialConfig) -> TrialResult:
        assert cfg.budget.host_bytes == self.budget  # each probe runs with the budget as its limit
        (self.again if cfg.repeat else self.batches).append(cfg.batch_size)
        result = TrialResult.for_trial(cfg)
        peak = self.peak(cfg.batch_size)
        if peak > self.budget:
            result.status = Status.OVER_BUDGET
            result.host_peak_bytes = peak if self.exact else self.budget + MIB
            result.host_peak_method = "vmhwm" if self.exact else "sampled_by_parent"
        else:
            result.host_peak_bytes = peak
        return result


def budget_for(answer: int, power: float = 1.0, margin: float = 0.1) -> int:
    """A budget whose largest fitting batch (after the margin) is exactly ``answer``."""
    return int((FIXED + PER_IMAGE * (answer + 0.5) ** power) / (1 - margin))


ANSWERS = [1, 2, 3, 7, 17, 63, 64, 65, 100, 333, 1000, 1500, 2047, 2048, 3000, 4095]


@pytest.mark.parametrize("power", [1.0, 1.25, 0.8])
@pytest.mark.parametrize("exact", [True, False])
def test_finds_the_true_maximum_within_log2_plus_2_probes(tmp_path, power, exact):
    bound = math.log2(4096) + 2
    for answer in ANSWERS:
        budget = budget_for(answer, power)
        curve = Curve(budget, power, exact)
        result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=curve)
        assert result.batch_size == answer, (answer, curve.batches)
        assert result.n_probes == len(curve.batches) <= bound, (answer, curve.batches)
        # The answer was run and fits with the margin; one more image would not.
        assert curve.peak(answer) <= budget * 0.9 < curve.peak(answer + 1)
        assert answer in curve.batches and (answer + 1 in curve.batches or answer == 4096)


class NoisyCurve(Curve):
    """A straight curve plus run-to-run noise of +-5 MiB (about 8 images here), fixed per
    (seed, batch): neighbouring batches can measure out of order, as real peaks do."""

    def __init__(self, budget: float, seed: int) -> None:
        super().__init__(budget, per_image=0.62 * MIB)
        self.seed = seed

    def peak(self, batch: int) -> float:
        jitter = random.Random(f"{self.seed}:{batch}").uniform(-5, 5) * MIB
        return self.fixed + self.per_image * batch + jitter


@pytest.mark.parametrize("max_batch", [256, 4096])
def test_noisy_curve_keeps_the_probe_cap_and_answers_a_batch_that_fitted(tmp_path, max_batch):
    cap = int(math.log2(max_batch)) + 2
    limited = set()
    for seed in range(15):
        for room in (10, 60, 150):
            budget = int((FIXED + room * MIB) / 0.9)
            curve = NoisyCurve(budget, seed)
            result = search_batch(template(), tmp_path, host_budget_bytes=budget, max_batch=max_batch, probe=curve)
            assert result.n_probes <= cap
            assert curve.peak(result.batch_size) <= budget * 0.9  # measured under the limit
            fits = dict(zip([b for b, _, _ in result.probes], result.fits, strict=True))
            assert fits[result.batch_size]
            assert not any(ok and b > result.batch_size for b, ok in fits.items())
            limited.add(result.limited_by)
            assert result.confirmed and result.notes[-1].startswith(f"confirmed: batch {result.batch_size} ran twice")
            if result.limited_by == "probes":
                assert "stopped after" in result.notes[-2]
            else:
                assert fits[result.batch_size + 1] is False
    assert "budget" in limited


def test_a_straight_memory_curve_takes_four_probes(tmp_path):
    for answer in (5, 100, 1000, 3000):
        budget = budget_for(answer)
        result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=Curve(budget))
        assert result.batch_size == answer and result.n_probes <= 4


def test_model_search_beats_doubling_then_bisecting(tmp_path):
    budget = budget_for(1000)
    model = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=Curve(budget))
    doubling = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=Curve(budget), strategy="doubling")
    assert model.batch_size == doubling.batch_size == 1000
    # doubling: 1..1024 (11 probes) then bisecting 512..1024 (9 more); no probe cap for it
    assert doubling.n_probes == 20 and model.n_probes <= 4


def test_probe_cap_can_be_set(tmp_path):
    budget = budget_for(1000, power=1.25)
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=Curve(budget, 1.25), max_probes=3)
    assert result.n_probes == 3 and result.limited_by == "probes"
    assert result.batch_size == 64  # the largest that fitted so far: never an unconfirmed guess


def test_nothing_fits_in_one_probe(tmp_path):
    budget = FIXED  # the fixed part alone is over budget less the margin
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=Curve(budget))
    assert (result.batch_size, result.n_probes, result.limited_by) == (0, 1, "nothing_fits")


def test_everything_fits_stops_at_max_batch(tmp_path):
    budget = 100 * FIXED
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, max_batch=512, probe=Curve(budget))
    assert (result.batch_size, result.limited_by) == (512, "max_batch")
    assert result.n_probes <= 3


def test_dataset_size_caps_the_search(tmp_path):
    budget = 100 * FIXED
    result = search_batch(template(count=200), tmp_path, host_budget_bytes=budget, probe=Curve(budget))
    assert result.max_batch == 200 and result.batch_size == 200
    assert "above the 200 images" in result.notes[0]


def test_margin_is_respected(tmp_path):
    budget = budget_for(500, margin=0.0)
    no_margin = search_batch(template(), tmp_path, host_budget_bytes=budget, margin=0.0, probe=Curve(budget))
    with_margin = search_batch(template(), tmp_path, host_budget_bytes=budget, margin=0.25, probe=Curve(budget))
    assert no_margin.batch_size == 500
    expected = math.floor((budget * 0.75 - FIXED) / PER_IMAGE)
    assert with_margin.batch_size == expected


def test_search_json_records_the_answer_and_every_probe(tmp_path):
    budget = budget_for(77)
    curve = Curve(budget)
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=curve)
    saved = json.loads((tmp_path / SEARCH_FILE).read_text())
    assert saved["batch_size"] == 77 == result.batch_size
    assert saved["host_budget_bytes"] == budget and saved["gpu_budget_bytes"] is None
    assert saved["margin"] == 0.1 and saved["n_probes"] == len(curve.batches)
    assert [p["batch_size"] for p in saved["probes"]] == curve.batches
    assert [p["peak_bytes"] for p in saved["probes"]] == [curve.peak(b) for b in curve.batches]
    assert [p["fits"] for p in saved["probes"]] == [curve.peak(b) <= budget * 0.9 for b in curve.batches]
    assert result.probes[0] == (1, "ok", curve.peak(1))
    assert saved["template"]["model"]["name"] == "tiny"


def test_progress_events_and_cancel(tmp_path):
    budget = budget_for(1000, power=1.25)
    cancel = threading.Event()
    events: list[ProbeEvent] = []

    def progress(event: ProbeEvent) -> None:
        events.append(event)
        if event.kind == "end" and event.index == 1:
            cancel.set()

    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=Curve(budget, 1.25),
                          progress=progress, cancel=cancel)
    assert result.cancelled and result.n_probes == 2 and result.limited_by == "cancelled"
    assert [(e.kind, e.index) for e in events] == [("start", 0), ("end", 0), ("start", 1), ("end", 1)]
    assert events[1].fits is True and events[1].low == 1 and events[1].high is None
    assert json.loads((tmp_path / SEARCH_FILE).read_text())["cancelled"] is True


def test_probe_returning_none_counts_as_cancelled(tmp_path):
    result = search_batch(template(), tmp_path, host_budget_bytes=10 * FIXED, probe=lambda cfg: None)
    assert result.cancelled and result.n_probes == 0 and result.batch_size == 0


def test_gpu_budget_uses_gpu_peaks(tmp_path):
    # A fake GPU: the probe reports GPU figures this CPU-only machine cannot measure.
    def probe(cfg):
        r = TrialResult.for_trial(cfg)
        r.host_peak_bytes = 100.0
        r.gpu_peak_bytes = 1e9 + 1e7 * cfg.batch_size
        if r.gpu_peak_bytes > cfg.budget.gpu_bytes:
            r.status = Status.OOM
        return r

    result = search_batch(template(), tmp_path, gpu_budget_bytes=2 * 10**9, probe=probe)
    assert result.batch_size == 80  # 1e9 + 1e7 * 80 = 1.8e9 = 2e9 less 10 %


def test_gpu_budget_without_a_gpu_is_a_clear_error(tmp_path):
    def probe(cfg):
        r = TrialResult.for_trial(cfg)
        r.host_peak_bytes = 100.0
        return r

    with pytest.raises(WorkbenchError, match="GPU memory was not measured at batch 1"):
        search_batch(template(), tmp_path, gpu_budget_bytes=10**9, probe=probe)


def test_failed_first_probe_stops_the_search(tmp_path):
    def probe(cfg):
        r = TrialResult.for_trial(cfg)
        r.status, r.error = Status.ERROR, "the model file is broken"
        return r

    with pytest.raises(WorkbenchError, match="batch 1 failed .*the model file is broken"):
        search_batch(template(), tmp_path, host_budget_bytes=10**9, probe=probe)


@pytest.mark.parametrize("kwargs, words", [
    ({}, "search needs a budget"),
    ({"host_budget_bytes": 10**9, "margin": 1.0}, "margin 1.0"),
    ({"host_budget_bytes": 10**9, "max_batch": 0}, "max batch 0"),
    ({"host_budget_bytes": 10**9, "strategy": "random"}, "unknown search strategy"),
])
def test_bad_input_is_refused_before_any_probe(tmp_path, kwargs, words):
    calls = []
    with pytest.raises(ConfigError, match=words):
        search_batch(template(), tmp_path, probe=calls.append, **kwargs)
    assert calls == []


def test_cli_refuses_a_search_without_budget(tmp_path, capsys):
    assert main(["search", "--model", "tiny", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "search needs a budget" in err and "Traceback" not in err
    assert not (tmp_path / "results.jsonl").exists()


@pytest.mark.parametrize("text, value", [("10%", 0.1), ("0.25", 0.25), ("0", 0.0), (" 5 % ".replace(" ", ""), 0.05)])
def test_parse_margin(text, value):
    assert parse_margin(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["ten", "100%", "-1", "nan"])
def test_parse_margin_rejects(text):
    with pytest.raises(ConfigError):
        parse_margin(text)
