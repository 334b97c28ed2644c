"""Non-dominated sorting of (parameters, accuracy) points, as successive halving ranks a rung."""

from __future__ import annotations

import math


def dominates(a: tuple[float, float], b: tuple[float, float], epsilon: float = 0.0) -> bool:
    """(parameters, accuracy) ``a`` has no more parameters than ``b`` and at least ``epsilon`` more
    accuracy, and is strictly better in one of the two: differences within ``epsilon`` are noise."""
    return a[0] <= b[0] and a[1] >= b[1] + epsilon and (a[0] < b[0] or a[1] > b[1])


def nondominated_fronts(points: list[tuple[float, float]], epsilon: float = 0.0) -> list[int]:
    """The front index of each (parameters, accuracy) point (0: not dominated), by ``dominates``."""
    fronts = [-1] * len(points)
    left = set(range(len(points)))
    level = 0
    while left:
        current = {i for i in left if not any(dominates(points[j], points[i], epsilon) for j in left if j != i)}
        for i in current:
            fronts[i] = level
        left -= current
        level += 1
    return fronts


def spread_order(points: list[tuple[float, float]]) -> list[int]:
    """Indices of ``points`` (one front) in the order that spreads them along it: the smallest
    network first, then each time the point farthest from those already taken (an epsilon-net, as
    Syne Tune's MOASHA orders a front). Distances are in log parameters and accuracy, each scaled
    to its range, so the ends of a front and its sparse stretches come before a crowded middle."""
    if not points:
        return []
    xs = [math.log(max(p[0], 1)) for p in points]
    ys = [p[1] for p in points]
    sx, sy = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    scaled = [(x / sx, y / sy) for x, y in zip(xs, ys)]
    order = [min(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))]
    nearest = [math.dist(scaled[i], scaled[order[0]]) for i in range(len(points))]
    while len(order) < len(points):
        pick = max((i for i in range(len(points)) if i not in order), key=lambda i: nearest[i])
        order.append(pick)
        nearest = [min(nearest[i], math.dist(scaled[i], scaled[pick])) for i in range(len(points))]
    return order


def rung_order(points: list[tuple[float, float]], epsilon: float = 0.0) -> list[int]:
    """Indices of (parameters, accuracy) ``points`` best first: by non-dominated front, and
    within a front by ``spread_order``. Ties never let more than the top places through."""
    fronts = nondominated_fronts(points, epsilon)
    order: list[int] = []
    for level in range(max(fronts, default=-1) + 1):
        members = [i for i, f in enumerate(fronts) if f == level]
        order += [members[j] for j in spread_order([points[i] for i in members])]
    return order
