"""Search machinery for spl-opt: Pareto math, parent/survivor selection, budgets, and backends."""

from search.backends import SerialBackend, ThreadBackend
from search.budget import Budget, exhausted
from search.pareto import crowding_distance, dominates, non_dominated_sort, nsga2_select, pareto_front
from search.selection import ParetoSelector, instance_fronts, parent_weights, sample_parent

__all__ = [
    "Budget",
    "ParetoSelector",
    "SerialBackend",
    "ThreadBackend",
    "crowding_distance",
    "dominates",
    "exhausted",
    "instance_fronts",
    "non_dominated_sort",
    "nsga2_select",
    "parent_weights",
    "pareto_front",
    "sample_parent",
]
