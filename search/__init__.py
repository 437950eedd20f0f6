"""Search machinery for spl-opt: Pareto math, parent/survivor selection, and budgets."""

from spl_opt.search.budget import Budget, exhausted
from spl_opt.search.pareto import crowding_distance, dominates, non_dominated_sort, nsga2_select, pareto_front
from spl_opt.search.selection import ParetoSelector, instance_fronts, parent_weights, sample_parent

__all__ = [
    "Budget",
    "ParetoSelector",
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
