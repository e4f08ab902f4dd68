"""From a results table to a decision: pure pandas, no TensorFlow, no I/O.

``recommend`` (the frontier and the recommendation with its reason), ``memory_model`` (the
fitted memory model: fixed + per image of a batch + per image of the dataset, and the largest
batch under a budget), ``peaks`` (the one peak a budget is checked against) and ``spread``
(speed verdicts only beyond noise; settings measured more than once folded into one row).
"""

from workbench.analysis.memory_model import (
    describe_terms,
    fit_memory_model,
    max_batch_at,
    max_batch_for_budget,
    memory_residuals,
    predict_peak,
)
from workbench.analysis.peaks import at_largest_size, budget_peak, dataset_sizes
from workbench.analysis.recommend import OBJECTIVES, Recommendation, pareto_frontier, recommend
from workbench.analysis.spread import aggregate_repeats, speed_verdict, spread_notes

__all__ = [
    "OBJECTIVES",
    "Recommendation",
    "aggregate_repeats",
    "at_largest_size",
    "budget_peak",
    "dataset_sizes",
    "describe_terms",
    "fit_memory_model",
    "max_batch_at",
    "max_batch_for_budget",
    "memory_residuals",
    "pareto_frontier",
    "predict_peak",
    "recommend",
    "speed_verdict",
    "spread_notes",
]
