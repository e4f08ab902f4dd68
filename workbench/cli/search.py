"""``workbench search``: the largest batch size under a memory budget, in few isolated trials."""

from __future__ import annotations

import argparse
from dataclasses import fields

from workbench.cli.options import (
    add_executor_options,
    add_target_option,
    add_trial_options,
    executor,
    model_data_budget_timing,
    parse_margin,
)
from workbench.config import (
    PIPELINES,
    PRECISIONS,
    TrialConfig,
    format_bytes,
    parse_int_list,
    parse_target_images,
)
from workbench.engine.search import SEARCH_FILE, STRATEGIES, ProbeEvent, search_batch
from workbench.errors import ConfigError
from workbench.types import MemoryKind

_TRIAL = {f.name: f.default for f in fields(TrialConfig)}


def prepare_parser(p: argparse.ArgumentParser) -> None:
    add_trial_options(p)
    p.add_argument("--precision", default=_TRIAL["precision"], help=f"one of {', '.join(PRECISIONS)} (default %(default)s)")
    p.add_argument("--pipeline", default=_TRIAL["pipeline"], help=f"one of {', '.join(PIPELINES)} (default %(default)s)")
    p.add_argument("--margin", default="10%", help="headroom kept under the budget, 10%% or 0.1 (default %(default)s)")
    p.add_argument("--max-batch", type=int, default=4096, help="largest batch size to consider (default %(default)s)")
    p.add_argument("--strategy", default="model", choices=STRATEGIES,
                   help="model: jump with the fitted memory model (default); doubling: plain doubling then bisecting")
    add_executor_options(p)
    add_target_option(p)
    p.add_argument("--sample-images", default=None,
                   help="images each probe predicts when the target is larger (default: the data's count, "
                        "at most 2000 of a folder or .npy)")
    # The drift phase says nothing about memory: probes skip it unless asked.
    p.set_defaults(drift_samples=0)


def _describe(event: ProbeEvent, kind: MemoryKind) -> str:
    r = event.result
    assert r is not None
    peak = r.host_peak_bytes if kind == "host" else r.gpu_peak_bytes
    verdict = "fits" if event.fits else "does not fit"
    bracket = f"answer in [{event.low}, {event.high - 1 if event.high else 'max'}]"
    if event.kind == "confirm":  # the answer run again: no bracket, it is closed
        verdict, bracket = ("fits again" if event.fits else "does not fit"), "(confirmation)"
    label = "again" if event.kind == "confirm" else f"probe {event.index + 1}"
    text = f"{label}: batch {event.batch_size:>5}  {r.status!s:<11} peak {kind} {format_bytes(peak):>11}  {verdict:<12} {bracket}"
    if not r.ok and r.error:
        text += f"\n    {r.error.splitlines()[0][:160]}"
    return text


def _describe_size(event: ProbeEvent, kind: MemoryKind) -> str:
    r = event.result
    assert r is not None
    peak = r.host_peak_bytes if kind == "host" else r.gpu_peak_bytes
    return (f"size {event.index + 1}: {r.images:>7,} images at batch {event.batch_size}  {r.status!s:<11} "
            f"peak {kind} {format_bytes(peak):>11}  (how memory grows with the number of images)")


def run(args: argparse.Namespace) -> int:
    model, data, budget, timing = model_data_budget_timing(args)
    margin = parse_margin(args.margin)
    target = parse_target_images(args.target_images)
    sample = parse_int_list(args.sample_images, "sample images")[0] if args.sample_images else None
    if not budget.host_bytes and not budget.gpu_bytes:
        raise ConfigError("search needs a budget: give --host-budget (e.g. 2GB) and/or --gpu-budget (e.g. 8GB)")
    template = TrialConfig(model=model, data=data, pipeline=args.pipeline, precision=args.precision,
                           batch_size=1, budget=budget, timing=timing)
    kind: MemoryKind = "host" if budget.host_bytes else "gpu"
    runs_on = executor(args)
    limits = ", ".join(f"{name} {format_bytes(b)} (probes must stay under {format_bytes(b * (1 - margin))})"
                       for name, b in (("host", budget.host_bytes), ("GPU", budget.gpu_bytes)) if b)
    print(f"searching the largest batch for {template.model.label} | {template.data.label} | "
          f"{template.pipeline} | {template.precision}: budget {limits}", flush=True)

    def progress(event: ProbeEvent) -> None:
        if event.kind in ("end", "confirm"):
            print(_describe(event, kind), flush=True)
        elif event.kind == "size":
            print(_describe_size(event, kind), flush=True)

    result = search_batch(template, args.out, host_budget_bytes=budget.host_bytes,
                          gpu_budget_bytes=budget.gpu_bytes, margin=margin, max_batch=args.max_batch,
                          progress=progress, strategy=args.strategy, allow_other_machine=args.allow_other_machine,
                          executor=runs_on, target_images=target, sample_images=sample)
    for note in result.notes:
        print(f"note: {note}")
    if result.batch_size == 0:
        at = f" at {result.target['target_images']:,} images" if result.target else ""
        print(f"nothing fits: even batch 1 does not stay under the budget less {margin * 100:g} %{at} "
              f"({result.n_probes} probe(s)); try a larger budget or another pipeline or precision")
    else:
        why = "the largest allowed (--max-batch or the dataset size)" if result.limited_by == "max_batch" else "under the budget"
        again = ", confirmed by running it again" if result.confirmed else ""
        print(f"largest batch: {result.batch_size} ({why}) after {result.n_probes} probes{again}")
        answer = result.target.get("answer") or {}
        if answer.get("predicted_peak_bytes") is not None:
            print(f"at {result.target['target_images']:,} images: predicted peak {kind} "
                  f"{format_bytes(answer['predicted_peak_bytes'])} (measured "
                  f"{format_bytes(answer['measured_peak_bytes'])} on {result.target['sample_images']:,}); "
                  f"{result.target['reach']}")
    print(f"answer: {args.out}/{SEARCH_FILE}   probes: {args.out}/results.jsonl")
    return 0 if result.batch_size > 0 else 1
