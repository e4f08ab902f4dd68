"""The closed sets of words the workbench passes around, as ``Literal`` types: one place each.

Each set is defined once, as a ``Literal``; the tuple beside it (``PIPELINES =
get_args(Pipeline)``) is what runtime checks, error messages and the CLI's choices read, so the
type and the check cannot drift apart. A value typed by a user, or read from a results file, is
a plain ``str`` until it has been checked against its tuple (``if name in PIPELINES`` also
narrows it to the type for a type checker). Records read back from disk
(:class:`workbench.results.TrialResult`) keep plain ``str`` fields: a file written by another
version may hold words this one does not know, and reading it must not fail on them.

Nothing here imports anything beyond ``typing``: both sides of the process boundary use it.
"""

from __future__ import annotations

from typing import Literal, get_args

Pipeline = Literal["in_memory", "batch_loop", "stream", "stream_to_disk"]
"""How images reach ``predict`` (:mod:`workbench.trial.pipelines`)."""

Precision = Literal["float32", "mixed_float16", "mixed_bfloat16"]
"""The Keras dtype policy a trial runs under."""

DataKind = Literal["synthetic", "demo", "folder", "npy"]
"""Where a trial's images come from (:class:`workbench.config.DataSpec`)."""

ModelKind = Literal["application", "builtin", "file", "unknown"]
"""What a model name names (:attr:`workbench.config.ModelSpec.kind`)."""

FaultKind = Literal["hang", "sigkill", "sigsegv", "exit", "raise", "raise_oom", "alloc"]
"""A failure injected into a trial for tests and teaching (``alloc`` takes ``:BYTES``)."""

MemoryKind = Literal["host", "gpu"]
"""Which memory a peak, a budget or a fitted model is about."""

Objective = Literal["throughput", "latency", "memory"]
"""What a recommendation optimises."""

SearchStrategy = Literal["model", "doubling"]
"""How the batch search picks its next probe."""

LimitedBy = Literal["budget", "max_batch", "nothing_fits", "probes", "cancelled"]
"""What stopped a batch search (:attr:`workbench.engine.search.SearchResult.limited_by`)."""

TrialEventKind = Literal["start", "end", "skip"]
"""A sweep's progress events (:class:`workbench.engine.runner.TrialEvent`)."""

ProbeEventKind = Literal["start", "end", "size", "confirm"]
"""A search's progress events (:class:`workbench.engine.search.ProbeEvent`)."""

KilledBy = Literal["budget", "timeout", "cancel"]
"""Why the parent killed a trial's process."""

PeakMethod = Literal["vmhwm", "sampled", "sampled_by_parent"]
"""How a trial's host peak was measured (``TrialResult.host_peak_method``): the kernel's
high-water mark, a sampler in the trial, or the parent's last look before it killed the trial."""

PIPELINES: tuple[Pipeline, ...] = get_args(Pipeline)
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
DATA_KINDS: tuple[DataKind, ...] = get_args(DataKind)
FAULTS: tuple[FaultKind, ...] = get_args(FaultKind)
MEMORY_KINDS: tuple[MemoryKind, ...] = get_args(MemoryKind)
STRATEGIES: tuple[SearchStrategy, ...] = get_args(SearchStrategy)

# Data named by a word, with an optional ``:COUNT`` (``synthetic:64``, ``demo``), not by a path.
NAMED_DATA: tuple[DataKind, ...] = ("synthetic", "demo")
# Pipelines that read from disk batch by batch (they need data that lives on disk).
STREAMING: tuple[Pipeline, ...] = ("stream", "stream_to_disk")
