"""The teaching notebooks' helpers: what a reader sees, and a claim that stops the notebook.

Hermetic: no trial process and no kernel. The output goes through a real (in-process)
IPython shell, captured the way a notebook cell's output is.
"""

from __future__ import annotations

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

from workbench.engine.runner import TrialEvent
from workbench.results import ResultStore, Status, TrialResult, load_results
from workbench.teaching import ClaimContradicted, claim, is_ok, progress, say


@pytest.fixture
def shell(tmp_path, monkeypatch):
    """An IPython shell, so ``display`` publishes rich output as in a notebook (no history file)."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    config = Config()
    config.HistoryManager.enabled = False
    yield InteractiveShell.instance(config=config)
    InteractiveShell.clear_instance()


def _markdown(cap) -> list[str]:
    return [o.data["text/markdown"] for o in cap.outputs]


def test_say_shows_markdown(shell):
    with capture_output() as cap:
        say("**fixed part 12.00 MiB**, 1.50 KiB per image")
    assert _markdown(cap) == ["**fixed part 12.00 MiB**, 1.50 KiB per image"]


def test_a_claim_that_holds_is_shown_checked(shell):
    with capture_output() as cap:
        claim(3 > 2, "batching pays")
        claim(np.float64(2.0) > 1.0, "a numpy boolean counts the same")
    assert _markdown(cap) == ["**✔ checked:** batching pays", "**✔ checked:** a numpy boolean counts the same"]


@pytest.mark.parametrize("holds", [False, np.bool_(False)])
def test_a_contradicted_claim_is_shown_then_stops_the_notebook(shell, holds):
    text = "streaming saves at least the data set's size (12.00 MiB)"
    with capture_output() as cap, pytest.raises(ClaimContradicted) as raised:
        claim(holds, text)
    # the reader sees which sentence failed, and the error carries it too
    assert _markdown(cap) == [f"**✘ contradicted by this run:** {text}"]
    assert str(raised.value) == f"the measurement contradicts the notebook's text: {text}"
    assert isinstance(raised.value, AssertionError)  # stops a notebook like a failed assert


def _event(kind: str, tiny_trial, **figures) -> TrialEvent:
    cfg = tiny_trial(batch_size=16)
    result = TrialResult.for_trial(cfg)
    for name, value in figures.items():
        setattr(result, name, value)
    return TrialEvent(kind=kind, index=1, total=5, trial=cfg, result=result if kind == "end" else None)


def test_progress_prints_one_line_per_finished_trial(tiny_trial, capsys):
    progress(_event("start", tiny_trial))
    progress(_event("end", tiny_trial, throughput_ips=1234.4, host_peak_bytes=3 * 2**20))
    progress(_event("end", tiny_trial, status=Status.OOM))  # killed: nothing measured
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("2/5 ") and "batch   16: ok" in lines[0]
    assert lines[0].endswith("   1234 images/s  peak host 3.00 MiB")
    assert "oom" in lines[1] and "nan images/s" in lines[1] and lines[1].endswith("peak host n/a")


def test_is_ok_selects_the_trials_that_finished(tiny_trial, tmp_path):
    store = ResultStore(tmp_path)
    for batch, status in ((8, Status.OK), (64, Status.OVER_BUDGET), (16, Status.OK), (256, Status.OOM)):
        result = TrialResult.for_trial(tiny_trial(batch_size=batch))
        result.status = status
        store.append(result)
    df = load_results(tmp_path)
    assert df.loc[is_ok(df), "batch_size"].tolist() == [8, 16]


def test_random_images_npy_writes_the_set_once_in_slices(tmp_path):
    from workbench.teaching import random_images_npy

    path = tmp_path / "images.npy"
    size = random_images_npy(path, 5, 4, slice_rows=2)
    x = np.load(path, allow_pickle=False)
    assert size == x.nbytes == 5 * 4 * 4 * 3 * 4 and x.dtype == np.float32 and x.shape == (5, 4, 4, 3)
    assert 0 <= x.min() and x.max() < 255 and len(np.unique(x)) == x.size  # random, not a constant fill
    again = tmp_path / "again.npy"
    random_images_npy(again, 5, 4, slice_rows=5)  # slices of another size: the same pixels
    assert np.array_equal(np.load(again), x)
    mtime = path.stat().st_mtime_ns
    random_images_npy(path, 5, 4)  # an existing file is kept
    assert path.stat().st_mtime_ns == mtime
