"""The truth-table view shared by the table and HTML reports: one grid per port and protocol.

Rows are source pods and columns destination pods, as upstream e2e prints its reachability
tables (kubernetes test/e2e/network/netpol/reachability.go).
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.validation.probe import Outcome
from provisioning.validation.validate import ProbeCheck, Status, ValidationReport


@dataclass(frozen=True)
class Grid:
    port: int
    protocol: str
    port_name: str
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    cells: dict[tuple[str, str], ProbeCheck]

    @property
    def title(self) -> str:
        name = f" ({self.port_name})" if self.port_name else ""
        return f"{self.port}/{self.protocol}{name}"


def grids(report: ValidationReport) -> list[Grid]:
    """The checks grouped by port/protocol; axes keep the order pods were probed in."""
    by_port: dict[tuple[int, str], list[ProbeCheck]] = {}
    for check in report.checks:
        if check.probe.is_dns:  # DNS checks have their own section
            continue
        by_port.setdefault((check.probe.port, check.probe.protocol), []).append(check)
    result = []
    for (port, protocol), checks in by_port.items():
        sources = tuple(dict.fromkeys(c.probe.source.key for c in checks))
        destinations = tuple(dict.fromkeys(c.probe.destination.key for c in checks))
        names = {c.probe.port_name for c in checks if c.probe.port_name}
        cells = {(c.probe.source.key, c.probe.destination.key): c for c in checks}
        result.append(Grid(port, protocol, "/".join(sorted(names)), sources, destinations, cells))
    return result


def cell_state(report: ValidationReport, check: ProbeCheck) -> str:
    """``match``, ``mismatch``, ``error`` or ``ignored`` (a loopback that does not count)."""
    if check.status == Status.MATCH:
        return "match"
    return check.status if report.counts(check) else "ignored"


def observed_word(outcome: Outcome) -> str:
    return {
        Outcome.CONNECTED: "connected",
        Outcome.REFUSED: "refused (reached, nothing listening)",
        Outcome.BLOCKED: "blocked (timeout)",
        Outcome.ERROR: "probe error",
        Outcome.RESOLVED: "resolved",
        Outcome.DNS_FAILED: "DNS failed",
    }[outcome]


def expected_word(check: ProbeCheck) -> str:
    """``allow``/``deny`` for a connection, ``resolve``/``fail`` for a DNS check."""
    return check.expected.dns_verdict if check.probe.is_dns else check.expected.verdict


def dns_title(report: ValidationReport) -> str:
    """The heading of the DNS section: what each client resolved and what that needs."""
    names = ", ".join(dict.fromkeys(c.probe.dns_name for c in report.dns))
    return (
        f"DNS: each client resolves {names} (needs UDP/53 egress to kube-system/kube-dns, "
        "checked because the lab has egress policies)"
    )
