"""From a results table to a decision: pure pandas, no TensorFlow, no I/O.

``recommend`` (the frontier and the recommendation with its reason) and ``memory_model``
(the fitted memory model and the largest batch under a budget).
"""

from workbench.analysis.memory_model import fit_memory_model, max_batch_for_budget, predict_peak
from workbench.analysis.recommend import OBJECTIVES, Recommendation, pareto_frontier, recommend

__all__ = [
    "OBJECTIVES",
    "Recommendation",
    "fit_memory_model",
    "max_batch_for_budget",
    "pareto_frontier",
    "predict_peak",
    "recommend",
]
