"""The provider registry: from a provider's name to what it is and where its code lives.

Every provider implements ``provisioning.lab.provider.Provider`` in its own folder; the shared
pipeline talks to that protocol only and never imports a provider module. This registry is the
one place that lists them, as plain data so that ``invoke --list`` and configuration checks read
it without importing any provider (the kind one runs docker, the AKS one loads the Azure SDK).
Adding a provider means adding its folder and one ``ProviderInfo`` here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProviderInfo:
    """What configuration needs to know about a provider before loading it."""

    name: str
    module: str  # the module whose ``make(spec, **seams)`` builds the provider
    summary: str
    # The engines ``--engine`` may choose; empty: the provider detects the cluster's engine.
    engines: tuple[str, ...]
    creates_clusters: bool  # False: the cluster is the user's and is never changed
    # The lab's namespaces get "-<lab>" appended: the cluster is shared with other workloads.
    suffix_namespaces: bool = False
    uses_user_kubeconfig: bool = False  # --kubeconfig / --context name the user's cluster


REGISTRY: dict[str, ProviderInfo] = {
    info.name: info
    for info in (
        ProviderInfo(
            "kind",
            "provisioning.providers.kind.provider",
            "a local kind cluster the tool creates (default)",
            engines=("calico", "cilium", "none"),
            creates_clusters=True,
        ),
        ProviderInfo(
            "aks",
            "provisioning.providers.aks.provider",
            "an Azure AKS cluster the tool creates in its own resource group",
            engines=("azure", "calico", "cilium", "none"),
            creates_clusters=True,
        ),
        ProviderInfo(
            "existing",
            "provisioning.providers.existing.provider",
            "a cluster you already have (--kubeconfig, --context); never changed",
            engines=(),
            creates_clusters=False,
            suffix_namespaces=True,
            uses_user_kubeconfig=True,
        ),
    )
}

DEFAULT = "kind"


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def info(name: str) -> ProviderInfo:
    """The registry entry; an unknown name is a UsageError naming the choices."""
    if name not in REGISTRY:
        from provisioning.errors import choice_error

        raise choice_error("provider", name, names(), where="--provider")
    return REGISTRY[name]


def make(spec: Any, **seams: Any) -> Any:
    """The provider for ``spec.provider``, built by its module's ``make(spec, **seams)``.

    Seams are the provider's own (``runner``, ``kube_factory``, ``gateway_factory``,
    ``read_only``); a provider ignores those it does not use.
    """
    module = importlib.import_module(info(spec.provider).module)
    return module.make(spec, **seams)
