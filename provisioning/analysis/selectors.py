"""Label selectors: matching one label set, and evaluating over many as int bitsets.

Semantics (apimachinery ``labels.Selector``, documented under "Labels and Selectors"):
``matchLabels`` and every ``matchExpressions`` entry are ANDed; an empty selector matches
everything; ``NotIn`` and ``DoesNotExist`` also match objects that lack the key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Requirement:
    """One ``matchExpressions`` entry (``matchLabels`` entries become ``In`` with one value)."""

    key: str
    operator: str
    values: frozenset[str] = frozenset()

    def matches(self, labels: Labels) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels  # DoesNotExist


@dataclass(frozen=True)
class Selector:
    """A validated label selector; ``requirements`` are ANDed, none means "everything"."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any] | None) -> Selector:
        """Build from an API ``LabelSelector`` object already checked by ``validate``."""
        if not obj:
            return cls()
        reqs = [
            Requirement(k, "In", frozenset([v])) for k, v in (obj.get("matchLabels") or {}).items()
        ]
        for expr in obj.get("matchExpressions") or ():
            reqs.append(
                Requirement(expr["key"], expr["operator"], frozenset(expr.get("values") or ()))
            )
        # Sorted so equal selectors compare (and cache) equal whatever their spelling order.
        return cls(tuple(sorted(set(reqs), key=lambda r: (r.key, r.operator, sorted(r.values)))))

    def matches(self, labels: Labels) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def describe(self) -> str:
        """Compact text, e.g. ``app=server,tier in (a,b)``; ``{}`` for the empty selector."""
        if not self.requirements:
            return "{}"
        parts = []
        for r in self.requirements:
            values = ",".join(sorted(r.values))
            if r.operator == "In" and len(r.values) == 1:
                parts.append(f"{r.key}={values}")
            elif r.operator in ("In", "NotIn"):
                parts.append(f"{r.key} {r.operator.lower()} ({values})")
            elif r.operator == "Exists":
                parts.append(r.key)
            else:
                parts.append(f"!{r.key}")
        return ",".join(parts)


class LabelIndex:
    """Inverted index over many label sets, answering selectors as int bitsets.

    Bit ``i`` stands for the ``i``-th label set given to the constructor. A selector costs a
    few dictionary look-ups and big-int operations, independent of how many sets match.
    """

    def __init__(self, label_sets: Iterable[Labels]) -> None:
        by_pair: dict[tuple[str, str], int] = defaultdict(int)
        by_key: dict[str, int] = defaultdict(int)
        count = 0
        for i, labels in enumerate(label_sets):
            bit = 1 << i
            for key, value in labels.items():
                by_pair[key, value] |= bit
                by_key[key] |= bit
            count = i + 1
        self.all = (1 << count) - 1
        self._by_pair = dict(by_pair)
        self._by_key = dict(by_key)
        self._cache: dict[Selector, int] = {}

    def select(self, selector: Selector) -> int:
        cached = self._cache.get(selector)
        if cached is None:
            cached = self.all
            for req in selector.requirements:
                cached &= self._requirement(req)
            self._cache[selector] = cached
        return cached

    def _requirement(self, req: Requirement) -> int:
        if req.operator in ("In", "NotIn"):
            hit = 0
            for value in req.values:
                hit |= self._by_pair.get((req.key, value), 0)
            return hit if req.operator == "In" else self.all & ~hit
        present = self._by_key.get(req.key, 0)
        return present if req.operator == "Exists" else self.all & ~present
