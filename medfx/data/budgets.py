"""Label budgets: seeded, stratified, nested subsets of a labelled split (pure numpy, returns indices).

A budget is a number of labels PER CLASS (``5`` = five images of every class) or ``"all"``. For one seed the
subsets are nested: every class's items are shuffled once and a budget of ``b`` takes the first ``b`` of that
order, so the 10-label set contains the 5-label set. A class with fewer than ``b`` items contributes all of them.
The subsets depend only on (labels, budget, seed), so every method that asks for them gets the same indices.

Validation rules (``validation_subset``):

* ``"budget"`` (default): the same per-class budget drawn from the validation split, at least ``min_per_class``
  per class (a realistic few-label setting: whoever labels 5 training images per class rarely has 500 more for
  validation). The ``"all"`` budget uses the full validation split.
* ``"full"``: the whole validation split for every budget (an explicit, optimistic option).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

ALL = "all"
VAL_RULES = ("budget", "full")
_VAL_SALT = 7919  # validation draws use a different stream than training draws of the same seed


def parse_budgets(budgets: Iterable[int | str]) -> list[int | str]:
    """Validated budgets in increasing order (``"all"`` last); a clear error for anything else."""
    out: list[int | str] = []
    for b in budgets:
        if isinstance(b, str):
            if b.strip().lower() != ALL:
                raise ValueError(f"label budget {b!r}: expected a positive integer (labels per class) or 'all'")
            b = ALL
        elif isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise ValueError(f"label budget {b!r}: expected a positive integer (labels per class) or 'all'")
        else:
            b = int(b)
        if b in out:
            raise ValueError(f"label budget {b!r} is listed twice")
        out.append(b)
    return sorted(out, key=lambda x: (x == ALL, 0 if x == ALL else x))


def budget_name(budget: int | str) -> str:
    """Directory / table name of a budget: ``"5"`` or ``"all"``."""
    return ALL if budget == ALL else str(int(budget))


def _class_orders(labels: np.ndarray, seed: int) -> dict[int, np.ndarray]:
    """One seeded permutation of the positions of every class (classes in increasing order)."""
    rng = np.random.default_rng(seed)
    return {int(c): rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels[labels >= 0])}


def nested_subsets(labels: Sequence[int] | np.ndarray, budgets: Iterable[int | str], seed: int = 0,
                   min_per_class: int = 0) -> dict[int | str, np.ndarray]:
    """``{budget: sorted positions into labels}``: per class the first ``max(budget, min_per_class)`` items of
    one seeded shuffle (nested across budgets); ``"all"`` = every labelled position. Unlabelled (-1) items are
    never chosen."""
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    orders = _class_orders(y, seed)
    out = {}
    for b in parse_budgets(budgets):
        if b == ALL:
            out[b] = np.flatnonzero(y >= 0)
        else:
            n = max(int(b), int(min_per_class))
            out[b] = np.sort(np.concatenate([o[:n] for o in orders.values()])) if orders else np.array([], int)
    return out


def budget_subset(labels, budget: int | str, seed: int = 0) -> np.ndarray:
    """The positions of one budget (see ``nested_subsets``)."""
    return nested_subsets(labels, [budget], seed)[parse_budgets([budget])[0]]


def validation_subset(labels, budget: int | str, rule: str = "budget", seed: int = 0,
                      min_per_class: int = 5) -> np.ndarray:
    """Validation positions under a training budget (see the module docstring for the rules)."""
    if rule not in VAL_RULES:
        raise ValueError(f"validation rule must be one of {VAL_RULES}, got {rule!r}")
    (b,) = parse_budgets([budget])
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if rule == "full" or b == ALL:
        return np.flatnonzero(y >= 0)
    return nested_subsets(y, [b], seed + _VAL_SALT, min_per_class=min_per_class)[b]


def describe_rule(rule: str, min_per_class: int) -> str:
    """One line for reports: how validation data were chosen under a budget."""
    if rule == "full":
        return "validation: the full validation split for every budget (heads.val_budget=full)"
    return (f"validation: the same per-class budget drawn from the validation split, at least {min_per_class} "
            f"per class (the full split for 'all'); seeded, nested; heads.val_budget=budget")
