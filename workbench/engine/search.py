"""The largest batch size that fits a memory budget, in few isolated trials.

Each probe is one real trial (its own process, so an OOM costs one probe, never the search).
The search keeps a bracket: ``low``, the largest batch seen to fit (peak under
``budget * (1 - margin)``), and ``high``, the smallest seen not to. After a probe at batch 1
and one jump (to the square root of the largest batch allowed), the memory model (peak =
fixed + per-image x batch, fitted through the measured points nearest the limit) predicts the
answer; the search probes there, then one batch above to confirm. On a straight memory curve
that is four probes for any answer. Where the model guesses badly twice running, a bisection
step guarantees progress; where peaks are noisy (a larger batch measured less than a smaller
one) the last few probes bisect. Probes are capped at ``log2(max_batch) + 2``: on noisy peaks
the search may stop there with a batch that fitted and says how close it got. The answer is
always a batch that ran and fitted with the margin to spare, and it is confirmed by running it
again (:mod:`.confirm`): both runs' budget peaks stay under the budget less the margin, or the
search steps down and says so, so running it again stays in budget.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.atomic import atomic_write_text
from workbench.config import Budget, TrialConfig
from workbench.engine import search_target
from workbench.engine.baseline import check_host_budget
from workbench.engine.bracket import Bracket, budget_peaks
from workbench.engine.confirm import confirm_search
from workbench.engine.executors import Executor, run_one
from workbench.engine.lock import folder_lock
from workbench.engine.preflight import check_out_dir
from workbench.engine.search_target import Probe
from workbench.errors import ConfigError, WorkbenchError
from workbench.parsing import check_margin
from workbench.results import ResultStore, Status, TrialResult, json_value
from workbench.types import STRATEGIES, LimitedBy, MemoryKind, ProbeEventKind, SearchStrategy

SEARCH_FILE = "search.json"



@dataclass
class ProbeEvent:
    """Progress of a search, for the ``progress`` callback: ``start`` before a probe runs, ``end``
    after (``result``, ``fits``, the bracket ``low``/``high`` it leaves); ``size`` after a trial
    measuring how memory grows with the number of images (a search for a target size);
    ``confirm`` after each run of the answer again (``result``, ``fits``)."""

    kind: ProbeEventKind
    index: int  # 0-based probe number
    batch_size: int
    result: TrialResult | None = None
    fits: bool | None = None
    low: int = 0
    high: int | None = None  # None: no batch has failed yet


@dataclass
class SearchResult:
    """The answer (``batch_size``; 0 when even batch 1 does not fit) and how it was found.

    ``probes`` lists ``(batch, status, peak_bytes)`` in the order run; ``peak_bytes`` is the
    host budget peak (the larger of the one-pass and all-passes peaks; the GPU budget peak when
    only a GPU budget is given), NaN where not measured.
    ``limited_by`` says what stopped the search: ``budget``, ``max_batch``, ``nothing_fits``,
    ``probes`` (the probe cap, in a noisy zone) or ``cancelled``. ``target``: for a search at
    the user's dataset size (:mod:`.search_target`), the sizes measured, the growth per image,
    and the answer's peak predicted there (``answer``); empty otherwise.
    """

    batch_size: int
    probes: list[tuple[int, str, float]] = field(default_factory=list)
    host_budget_bytes: int | None = None
    gpu_budget_bytes: int | None = None
    margin: float = 0.1
    max_batch: int = 4096
    n_probes: int = 0
    limited_by: LimitedBy = "budget"
    strategy: SearchStrategy = "model"
    fits: list[bool] = field(default_factory=list)
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)
    template: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)
    confirmed: bool = False  # the answer ran twice within the limit (see .confirm)
    confirmations: list[dict[str, Any]] = field(default_factory=list)  # the runs after the probes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN peaks become null)."""
        return {
            "batch_size": self.batch_size,
            "host_budget_bytes": self.host_budget_bytes,
            "gpu_budget_bytes": self.gpu_budget_bytes,
            "margin": self.margin,
            "max_batch": self.max_batch,
            "n_probes": self.n_probes,
            "limited_by": self.limited_by,
            "strategy": self.strategy,
            "cancelled": self.cancelled,
            "probes": [
                {"batch_size": b, "status": s, "peak_bytes": json_value(p), "fits": f}
                for (b, s, p), f in zip(self.probes, self.fits, strict=True)
            ],
            "notes": list(self.notes),
            "template": self.template,
            "target": self.target,
            "confirmed": self.confirmed,
            "confirmations": list(self.confirmations),
        }


def _check(template: TrialConfig, host: int | None, gpu: int | None, margin: float,
           max_batch: int, strategy: SearchStrategy) -> None:
    if not host and not gpu:
        raise ConfigError("search needs a budget: give a host budget (--host-budget 2GB) and/or a GPU budget (--gpu-budget 8GB)")
    check_margin(margin)
    if isinstance(max_batch, bool) or int(max_batch) < 1:
        raise ConfigError(f"max batch {max_batch!r} must be a whole number of 1 or more")
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown search strategy {strategy!r}: choose from {', '.join(STRATEGIES)}")
    if not isinstance(template, TrialConfig):
        raise ConfigError("search: the template must be a TrialConfig")


def trial_probe(out_dir: str | os.PathLike[str], cancel: threading.Event | None = None,
                header: dict[str, Any] | None = None, allow_other_machine: bool = False,
                executor: Executor | None = None) -> Probe:
    """The real probe: one isolated trial through :func:`workbench.engine.runner.run_trial` (on
    ``executor``'s slot when given, opened), appended to ``out_dir/results.jsonl`` like any
    sweep's trial."""
    from workbench.engine.runner import run_trial

    store = ResultStore(out_dir)
    store.ensure_header(header, allow_other_machine=allow_other_machine)

    def probe(cfg: TrialConfig) -> TrialResult | None:
        result = run_trial(cfg, cancel=cancel) if executor is None else run_one(executor, cfg, cancel)
        if result is not None:
            store.append(result)
        return result

    return probe


def _prepare_assets(template: TrialConfig, cancel: threading.Event | None = None) -> None:
    """Check the model file and build the demo model/data before the first probe, so no probe
    pays for (or measures) it."""
    from workbench.engine.prepare import prepare

    prepare(template.model, template.data, cancel=cancel)


def _dataset_cap(template: TrialConfig, max_batch: int, notes: list[str]) -> int:
    """Batches above the number of images measure nothing new (the batch is the whole set)."""
    count = template.data.count
    if count is not None and count < max_batch:
        notes.append(f"batch sizes above the {count} images of {template.data.label} measure "
                     f"nothing new: searched up to {count}")
        return int(count)
    return max_batch


def _closing_executor(search: Callable[..., SearchResult]) -> Callable[..., SearchResult]:
    """However the search ends (an error included), the executor it opened is closed."""
    @functools.wraps(search)
    def run(*args: Any, **kwargs: Any) -> SearchResult:
        try:
            return search(*args, **kwargs)
        finally:
            if kwargs.get("executor") is not None:
                kwargs["executor"].close()

    return run


@_closing_executor
def search_batch(
    template: TrialConfig,
    out_dir: str | os.PathLike[str],
    *,
    host_budget_bytes: int | None = None,
    gpu_budget_bytes: int | None = None,
    margin: float = 0.1,
    max_batch: int = 4096,
    progress: Callable[[ProbeEvent], None] | None = None,
    cancel: threading.Event | None = None,
    probe: Probe | None = None,
    strategy: SearchStrategy = "model",
    max_probes: int | None = None,
    allow_other_machine: bool = False,
    executor: Executor | None = None,
    target_images: int | None = None,
    sample_images: int | None = None,
    confirm: bool = True,
) -> SearchResult:
    """Find the largest batch size for ``template`` whose peak stays under budget x (1 - margin).

    Every probe is ``template`` with another batch size, run by ``probe`` (by default a real
    isolated trial, stored in ``out_dir/results.jsonl``); each trial runs with the budget itself
    as its limit, so a probe that passes it is stopped there. ``strategy="doubling"`` is the
    plain doubling-then-bisecting search, for comparison. ``max_probes`` (default
    ``floor(log2(max_batch)) + 2``) caps the probes: on a clean memory curve the search ends
    well before it; where run-to-run noise makes neighbouring batches indistinguishable it
    stops there with a batch that fitted (``limited_by="probes"``, the remaining range in
    ``notes``). The answer is written to ``out_dir/search.json``. A cancelled search returns
    what it had (``cancelled=True``).

    ``target_images``: the number of images of the real job (default: the full count of a
    folder or ``.npy``). Above the sample the probes run on (``sample_images``, default the
    data's count, at most 2,000 images of a file) the search measures how memory grows with N
    first, and answers the largest batch whose budget peak *predicted at the target* stays
    under the budget less the margin (:mod:`.search_target`); the notes say so.
    ``executor`` (e.g. a :class:`workbench.engine.ray_executor.RayExecutor`) runs the probes, one
    at a time, on one of its slots; it is opened here and closed at the end. ``confirm``: run the
    answer again (at most :data:`~workbench.engine.confirm.CONFIRM_RUNS` more trials, beyond the
    probe cap) and keep it only if both runs fit, else step down (``notes`` say which).
    """
    _check(template, host_budget_bytes, gpu_budget_bytes, margin, max_batch, strategy)
    notes: list[str] = []
    template, target, sample = search_target.plan_sample(template, target_images, sample_images, notes)
    max_batch = _dataset_cap(template, int(max_batch), notes)
    budget = Budget(host_bytes=host_budget_bytes, gpu_bytes=gpu_budget_bytes,
                    timeout_s=template.budget.timeout_s)
    host_budget_bytes, gpu_budget_bytes = budget.host_bytes, budget.gpu_bytes  # whole bytes
    limits: dict[MemoryKind, float] = {}
    if host_budget_bytes:
        limits["host"] = host_budget_bytes * (1 - margin)
    if gpu_budget_bytes:
        limits["gpu"] = gpu_budget_bytes * (1 - margin)
    template = replace(template, budget=budget)
    result = SearchResult(batch_size=0, host_budget_bytes=host_budget_bytes, gpu_budget_bytes=gpu_budget_bytes,
                          margin=margin, max_batch=max_batch, strategy=strategy, notes=notes,
                          template=template.to_dict())
    if max_probes is None:  # the doubling baseline runs to the end, to be compared
        max_probes = int(math.log2(max_batch)) + 2 if strategy == "model" else 4 * max_batch
    elif isinstance(max_probes, bool) or int(max_probes) < 1:
        raise ConfigError(f"max probes {max_probes!r} must be a whole number of 1 or more")
    with contextlib.ExitStack() as held:
        if probe is None:  # real trials: checked inputs, a folder of our own, this machine's
            check_out_dir(out_dir)
            _prepare_assets(template, cancel)
            check_host_budget(host_budget_bytes, backends=(template.backend,))
            held.enter_context(folder_lock(out_dir))
            probe = trial_probe(out_dir, cancel, header={"search": {
                "template": template.to_dict(), "host_budget_bytes": host_budget_bytes,
                "gpu_budget_bytes": gpu_budget_bytes, "margin": margin, "max_batch": max_batch,
                "target_images": target, "sample_images": sample}},
                allow_other_machine=allow_other_machine, executor=executor)
            if executor is not None:
                executor.open(cancel)
        state, probe = _probe_until_done(template, probe, result, limits, (target, sample), int(max_probes),
                                         progress, cancel)
        if confirm and result.batch_size > 0 and not result.cancelled:
            confirm_search(template, probe, result, state, progress, cancel)
        write_search(result, out_dir)
    return result


def _probe_until_done(template: TrialConfig, probe: Probe, result: SearchResult, limits: dict[MemoryKind, float],
                      sizes: tuple[int | None, int | None], max_probes: int,
                      progress: Callable[[ProbeEvent], None] | None,
                      cancel: threading.Event | None) -> tuple[Bracket, Probe]:
    """Run probes until the bracket closes, the cap, or a cancel; record each in ``result``.
    Returns the bracket and the probe used (judged at the target size, when there is one).
    ``sizes`` are the (target, sample) dataset sizes: above the sample, how memory grows with N
    is measured first and each probe is judged at the target (:mod:`.search_target`)."""
    notes, max_batch, (target, sample) = result.notes, result.max_batch, sizes
    peak_kind: MemoryKind = "host" if result.host_budget_bytes else "gpu"
    growth, limits, probe = search_target.start(  # the N term first, when the target is above the sample
        template, probe, target, sample, limits, notes, cancel=cancel,
        report=lambda i, trial: progress(ProbeEvent("size", i, trial.batch_size, trial)) if progress else None)
    result.cancelled = growth is not None and growth.cancelled
    state = Bracket(limits, max_batch, result.strategy)
    while not state.done and not result.cancelled and (growth is None or growth.finished):
        if len(result.probes) >= max_probes:
            notes.append(f"stopped after {max_probes} probes with the largest batch between {state.low} "
                         f"and {state.high - 1}: peaks this close differ by less than run-to-run noise")
            break
        if cancel is not None and cancel.is_set():
            result.cancelled = True
            break
        batch, why = state.next_batch(max_probes - len(result.probes))
        index = len(result.probes)
        if progress:
            progress(ProbeEvent("start", index, batch, low=state.low, high=state.smallest_failed()))
        trial = probe(replace(template, batch_size=batch))
        if trial is None:  # cancelled mid-probe: nothing half-measured counts
            result.cancelled = True
            break
        fits = state.fits(trial)
        if not fits and trial.status in (Status.ERROR, Status.TIMEOUT) and batch == 1:
            raise WorkbenchError(f"the probe at batch 1 failed ({trial.status}): {trial.error}")
        if trial.status in (Status.ERROR, Status.TIMEOUT):
            notes.append(f"batch {batch} ended with {trial.status} ({trial.error}); counted as not fitting")
        state.update(batch, fits, why)
        result.probes.append((batch, str(trial.status), budget_peaks(trial)[peak_kind]))
        result.fits.append(fits)
        if progress:
            progress(ProbeEvent("end", index, batch, trial, fits, state.low, state.smallest_failed()))
    result.batch_size = state.low
    result.n_probes = len(result.probes)
    result.target = search_target.summary(growth, target, state.low, result.probes, peak_kind)
    result.limited_by = ("cancelled" if result.cancelled
                         else "nothing_fits" if growth is not None and not growth.finished
                         else "probes" if not state.done
                         else "nothing_fits" if state.low == 0
                         else "max_batch" if state.low >= max_batch else "budget")
    return state, probe


def write_search(result: SearchResult, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir/search.json`` (replacing an earlier answer)."""
    text = json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(Path(out_dir) / SEARCH_FILE, text)  # never a half-written answer


def read_search(out_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``search.json`` of a results folder, or None when it has none (or an unreadable one)."""
    path = Path(out_dir) / SEARCH_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
