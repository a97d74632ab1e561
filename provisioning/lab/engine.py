"""The policy engine as the shared pipeline sees it, whatever the provider.

A provider describes its engine with ``EngineSettings``: what installing it takes (``actions``:
commands or objects; none when the platform manages the engine, as AKS does, or when the cluster
is the user's), whether it enforces NetworkPolicy, and warnings to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Action:
    """One install action: an external command, or objects applied through the Kubernetes API."""

    title: str
    argv: tuple[str, ...] = ()
    objects: tuple[dict[str, Any], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (path, content) written before argv runs

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title}
        if self.argv:
            out["command"] = list(self.argv)
        if self.env:
            out["env"] = dict(self.env)
        if self.objects:
            out["objects"] = [dict(o) for o in self.objects]
        if self.files:
            out["files"] = {path: content for path, content in self.files}
        return out


@dataclass(frozen=True)
class EngineSettings:
    engine: str
    summary: str
    enforces: bool
    kind_networking: dict[str, Any]
    actions: tuple[Action, ...]
    readiness: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    needs: tuple[str, ...] = field(default=())  # external programs the install runs
    # Whether it enforces ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2): a scenario
    # with one is refused where False; None: cannot tell (a cluster the user already has).
    cluster_network_policy: bool | None = None
    # Whether Calico's own policy API (projectcalico.org/v3, served by the Calico API server) is
    # there to apply GlobalNetworkPolicies to; None: cannot tell.
    calico_api: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "summary": self.summary,
            "enforces_network_policy": self.enforces,
            "enforces_cluster_network_policy": self.cluster_network_policy,
            "calico_api": self.calico_api,
            "kind_networking": self.kind_networking,
            "install": [a.as_dict() for a in self.actions],
            "ready_when": list(self.readiness),
            "warnings": list(self.warnings),
            "needs": list(self.needs),
        }
