"""Values validation shares between reading the live lab (``live``) and judging it (``validate``).

Kept apart so that neither module imports the other: ``live`` builds these while observing the
lab and asking the analyzer, ``validate`` puts them in its report (and re-exports them, so
``from provisioning.validation.validate import LeftOut`` keeps working). This module imports
neither.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Expectation:
    """What the analyzer says about one probe, in the words a report needs."""

    allowed: bool
    explanation: str = ""  # one readable sentence: why allowed or denied

    @property
    def verdict(self) -> str:
        return "allow" if self.allowed else "deny"

    @property
    def dns_verdict(self) -> str:
        """The verdict in the words of a DNS check."""
        return "resolve" if self.allowed else "fail"


@dataclass(frozen=True)
class LeftOut:
    """A lab pod that was left out of the probe plan, and why; validation fails while one is."""

    pod: str  # namespace/name
    reason: str  # e.g. "phase Pending, no IP yet"

    @property
    def message(self) -> str:
        return f"{self.pod} was not probed: {self.reason}"
