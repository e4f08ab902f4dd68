"""The search confirms its answer by running it again (fake probes with known curves, no processes).

Real peaks move between runs of one setting (tens of MiB here); these probes make the second
and later runs of a batch peak higher by a known amount, so the step down can be checked.
"""

from __future__ import annotations

import json
import math
import threading

import pytest

from workbench.config import DataSpec, ModelSpec, TrialConfig
from workbench.engine.confirm import CONFIRM_RUNS, step_down
from workbench.engine.search import SEARCH_FILE, ProbeEvent, search_batch
from workbench.results import Status, TrialResult

MIB = 2**20
FIXED, PER_IMAGE = 600 * MIB, 1.5 * MIB


def template() -> TrialConfig:
    return TrialConfig(model=ModelSpec("tiny"), data=DataSpec("synthetic", count=100_000))


class Creeping:
    """``fixed + per_image * batch``, and ``rise`` more on every run of a batch after its first
    (the run-to-run movement of a real peak). Records every run as (batch, repeat, key, peak)."""

    def __init__(self, budget: float, rise: float) -> None:
        self.budget, self.rise = budget, rise
        self.runs: list[tuple[int, int, str, float]] = []

    def peak(self, batch: int, repeat: int = 0) -> float:
        return FIXED + PER_IMAGE * batch + (self.rise if repeat else 0.0)

    def __call__(self, cfg: TrialConfig) -> TrialResult:
        result = TrialResult.for_trial(cfg)
        peak = self.peak(cfg.batch_size, cfg.repeat)
        self.runs.append((cfg.batch_size, cfg.repeat, cfg.key(), peak))
        result.host_peak_bytes, result.host_peak_all_bytes = peak - MIB, peak  # the budget peak: all passes
        if peak > self.budget:
            result.status = Status.OVER_BUDGET
        return result


def budget_for(answer: int) -> int:
    """The largest batch that fits the budget less 10 % on its first run is ``answer``."""
    return int((FIXED + PER_IMAGE * (answer + 0.5)) / 0.9)


def test_a_repeatable_answer_is_confirmed_by_one_more_run(tmp_path):
    budget = budget_for(300)
    probe = Creeping(budget, rise=0.0)
    events: list[ProbeEvent] = []
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=probe, progress=events.append)
    assert (result.batch_size, result.confirmed, result.limited_by) == (300, True, "budget")
    assert result.confirmations == [{"batch_size": 300, "status": "ok", "peak_bytes": probe.peak(300), "fits": True}]
    # The confirmation is run 2 of batch 300: its own key, beside the probe's.
    runs_of_300 = [(repeat, key) for batch, repeat, key, _ in probe.runs if batch == 300]
    assert [r for r, _ in runs_of_300] == [0, 1] and len({k for _, k in runs_of_300}) == 2
    assert len(probe.runs) == result.n_probes + 1
    assert events[-1].kind == "confirm" and events[-1].fits is True and events[-1].batch_size == 300
    assert result.notes[-1].startswith("confirmed: batch 300 ran twice with host budget peaks")
    saved = json.loads((tmp_path / SEARCH_FILE).read_text())
    assert saved["confirmed"] is True and saved["confirmations"][0]["batch_size"] == 300


def test_an_answer_that_goes_over_when_run_again_steps_down_and_says_so(tmp_path):
    budget = budget_for(300)
    limit = budget * 0.9
    rise = 12 * MIB  # the second run of a batch peaks 12 MiB higher: 8 images' worth
    probe = Creeping(budget, rise)
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=probe)
    # 300 fitted once (its first run under the limit), went over when run again ...
    assert probe.peak(300) <= limit < probe.peak(300, repeat=1)
    assert any(n.startswith("batch 300 peaked") and "when run again" in n and "stepped down to batch" in n
               for n in result.notes)
    # ... so the answer stepped down by the excess plus the spread seen, and ran twice there.
    answer = result.batch_size
    assert answer == 300 - math.ceil((probe.peak(300, 1) + rise - limit) / PER_IMAGE) == 284
    assert result.confirmed and result.notes[-1].startswith(f"confirmed: batch {answer} ran twice")
    peaks = [peak for batch, _, _, peak in probe.runs if batch == answer]
    assert len(peaks) == 2 and max(peaks) <= limit  # the margin held against the larger of the two
    assert len(result.confirmations) == 3 <= CONFIRM_RUNS  # 300 again, then 284 twice
    # Run the confirmed answer once more, as a user would: within the stated limit.
    assert probe.peak(answer, repeat=2) <= limit


def test_when_batch_one_does_not_repeat_nothing_fits(tmp_path):
    budget = budget_for(1)
    probe = Creeping(budget, rise=40 * MIB)
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=probe)
    assert (result.batch_size, result.confirmed, result.limited_by) == (0, False, "nothing_fits")
    assert "nothing fits" in result.notes[-1]


def test_a_noisy_machine_uses_at_most_the_confirmation_runs_and_says_so(tmp_path):
    budget = budget_for(300)

    class Worse(Creeping):
        def peak(self, batch: int, repeat: int = 0) -> float:
            """Each run again rises three times as much as the one before: 20, 60, 180 MiB."""
            again = sum(1 for _, r, _, _ in self.runs if r)
            return FIXED + PER_IMAGE * batch + (20 * MIB * 3**again if repeat else 0.0)

    probe = Worse(budget, 0.0)
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=probe)
    # 300 again (over), its step down (fits once, then over), then far enough down to batch 64,
    # a probe that fitted, whose run again fits: confirmed there, in the four runs allowed
    assert len(result.confirmations) == CONFIRM_RUNS == 4
    assert [c["fits"] for c in result.confirmations] == [False, True, False, True]
    assert result.confirmed and result.batch_size == 64 < result.confirmations[1]["batch_size"] < 300
    assert max(peak for batch, _, _, peak in probe.runs if batch == 64) <= budget * 0.9
    assert sum("stepped down" in n for n in result.notes) == 2


def test_out_of_confirmation_runs_the_answer_says_it_ran_once(tmp_path, monkeypatch):
    monkeypatch.setattr("workbench.engine.confirm.CONFIRM_RUNS", 2)
    budget = budget_for(300)
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=Creeping(budget, 12 * MIB))
    assert [c["fits"] for c in result.confirmations] == [False, True]  # 300 again, then 284 once
    assert (result.batch_size, result.confirmed) == (284, False)
    assert result.notes[-1].startswith("batch 284 fitted once but was not run again (2 confirmation runs used)")


def test_with_one_run_left_the_step_goes_to_a_batch_that_fitted_before(tmp_path, monkeypatch):
    """A new batch could only run once; a probe that fitted (no smaller than half the step) is
    confirmed by that one run."""
    monkeypatch.setattr("workbench.engine.confirm.CONFIRM_RUNS", 2)
    budget = budget_for(300)

    class Jump(Creeping):  # only the answer's second run jumps, by 160 MiB
        def peak(self, batch: int, repeat: int = 0) -> float:
            return FIXED + PER_IMAGE * batch + (self.rise if repeat and batch == 300 else 0.0)

    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=Jump(budget, 160 * MIB))
    fitted = [b for (b, _, _), ok in zip(result.probes, result.fits, strict=True) if ok]
    # The step itself is 87 (300 less 320 MiB over the room left, at 1.5 MiB an image); probe 64
    # fitted and lies within [43, 87]
    assert 64 in fitted and step_down(300, FIXED + PER_IMAGE * 300 + 160 * MIB, 160 * MIB, budget * 0.9,
                                      {b: FIXED + PER_IMAGE * b for b in fitted}) == 87
    assert [(c["batch_size"], c["fits"]) for c in result.confirmations] == [(300, False), (64, True)]
    assert (result.batch_size, result.confirmed) == (64, True)
    assert "stepped down to batch 64 (it fitted before, so the one confirmation run left can confirm it)" in result.notes[-2]


def test_confirm_off_runs_nothing_more(tmp_path):
    budget = budget_for(300)
    probe = Creeping(budget, rise=50 * MIB)
    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=probe, confirm=False)
    assert (result.batch_size, result.confirmed, result.confirmations) == (300, False, [])
    assert len(probe.runs) == result.n_probes


def test_cancel_during_the_confirmation_keeps_the_answer_unconfirmed(tmp_path):
    budget = budget_for(300)
    cancel = threading.Event()
    inner = Creeping(budget, rise=0.0)

    def probe(cfg: TrialConfig) -> TrialResult | None:
        if cfg.repeat:
            cancel.set()
            return None
        return inner(cfg)

    result = search_batch(template(), tmp_path, host_budget_bytes=budget, probe=probe, cancel=cancel)
    assert result.cancelled and not result.confirmed and result.batch_size == 300


def test_step_down_by_the_excess_on_the_local_line():
    points = {100: FIXED + 100 * PER_IMAGE, 200: FIXED + 200 * PER_IMAGE, 300: FIXED + 300 * PER_IMAGE}
    limit = FIXED + 295 * PER_IMAGE
    # 300 peaked 6 images' worth over the limit once, the runs 3 images' worth apart: 9 down
    assert step_down(300, limit + 6 * PER_IMAGE, 3 * PER_IMAGE, limit, points) == 291
    assert step_down(300, limit + 0.1 * PER_IMAGE, 0.0, limit, points) == 299  # at least one
    assert step_down(1, limit * 2, 0.0, limit, points) == 0  # batch 1 over: nothing fits
    assert step_down(5, limit * 100, 0.0, limit, points) == 1  # never below batch 1 from above it


def test_step_down_without_a_line_goes_to_the_largest_batch_below_that_fitted():
    limit = 1000.0
    assert step_down(300, math.nan, math.nan, limit, {1: 500.0, 64: 900.0, 300: 990.0}) == 64
    assert step_down(300, 1200.0, 0.0, limit, {300: 990.0}) == 150  # one point: half
    flat = {100: 900.0, 200: 900.0, 300: 900.0}  # no rise: the line says nothing
    assert step_down(300, 1100.0, 0.0, limit, flat) == 200


@pytest.mark.parametrize("repeat", [1, 2])
def test_runs_of_one_setting_have_their_own_keys_and_the_first_keeps_its_old_key(repeat):
    first = template()
    again = TrialConfig.from_dict({**first.to_dict(), "repeat": repeat})
    assert again.key() != first.key()
    legacy = first.to_dict()
    legacy.pop("repeat")  # a config written before repeats existed
    assert TrialConfig.from_dict(legacy).key() == first.key()


def test_the_report_shows_the_confirmation_runs_and_says_confirmed(tmp_path):
    from workbench.render.report import build_report
    from workbench.results import load_results

    budget = budget_for(300)
    search_batch(template(), tmp_path, host_budget_bytes=budget, probe=Creeping(budget, 12 * MIB))
    saved = json.loads((tmp_path / SEARCH_FILE).read_text())
    # the fake probe stored nothing: the report's table is empty, its search section is not
    (tmp_path / "results.jsonl").write_text("")
    page = build_report(load_results(tmp_path), search=saved)
    assert "confirmed: run again, both budget peaks within the budget less the margin" in page
    assert page.count("<td>again</td>") == 3  # 300 again, then 284 twice
    assert "stepped down to batch 284" in page
