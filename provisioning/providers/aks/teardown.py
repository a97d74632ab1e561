"""``down`` on AKS: delete the lab's cluster, then its resource group only if the tool made it.

Order matters: the cluster goes first (AKS deletes its node resource group ``MC_...`` with it,
which teardown confirms), then the group, and only when its tags say netpol-lab created it and
nothing untagged lives in it. A cluster without the tool's tags is never deleted. Running it
twice is safe: what is already gone is reported as absent.

Without waiting (``down --no-wait``) only the cluster's deletion is started: what ARM does with
a resource-group delete while the cluster in it is still being deleted is not documented, so
the group is left for the next ``down``, which finds the cluster gone and removes the group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from provisioning.errors import OperationError, UsageError
from provisioning.providers.aks.tags import TAG_MANAGED_BY
from provisioning.spec import TOOL

if TYPE_CHECKING:
    from provisioning.providers.aks.gateway import AksGateway, Progress

DELETED, DELETING, ABSENT, KEPT, GONE, PRESENT, UNCHECKED, LATER = (
    "deleted",
    "deleting",
    "absent",
    "kept",
    "gone",
    "still present",
    "not checked",
    "left for the next down",
)


@dataclass(frozen=True)
class TeardownReport:
    cluster: str  # deleted | deleting | absent
    group: str  # deleted | deleting | absent | kept | left for the next down
    node_group: str  # gone | still present | not checked
    group_name: str
    node_group_name: str = ""
    detail: str = ""  # why the group was kept, or what is left to clean up

    @property
    def complete(self) -> bool:
        """True when nothing the tool created is known to remain."""
        return self.node_group != PRESENT and self.group != LATER

    def lines(self) -> list[str]:
        out = [f"cluster: {self.cluster}", f"resource group {self.group_name}: {self.group}"]
        if self.node_group_name:
            out.append(f"node resource group {self.node_group_name}: {self.node_group}")
        if self.detail:
            out.append(self.detail)
        return out


def not_owned_error(group: str, name: str, lab: str) -> UsageError:
    """Why ``down`` leaves a cluster alone: it does not carry the tool's tags for ``lab``."""
    return UsageError(
        f"cluster {name!r} in resource group {group!r} is not tagged {TAG_MANAGED_BY}={TOOL} "
        f"for lab {lab!r}; netpol-lab deletes only what it created (az aks delete -g {group} "
        f"-n {name} removes it by hand)"
    )


def teardown(
    gateway: AksGateway,
    group: str,
    name: str,
    *,
    lab: str,
    wait: bool = True,
    progress: Progress | None = None,
    timeout: float | None = None,
) -> TeardownReport:
    """Delete ``name`` in ``group`` and, when owned, ``group`` itself. Idempotent.

    ``timeout``: seconds to wait for each deletion (None: until it ends); past it, an
    OperationError says to run ``down`` again while Azure goes on deleting.
    """
    observed = gateway.observe(group, name)
    node_group = observed.node_resource_group if observed else ""
    if observed is None:
        cluster = ABSENT
    elif not observed.owned_by(lab):
        raise not_owned_error(group, name, lab)
    elif observed.provisioning_state.lower() == "deleting":
        # An earlier `down --no-wait` started it; a second DELETE would only get a 409.
        if wait:
            raise OperationError(
                f"cluster {name!r} in resource group {group!r} is still being deleted (by an "
                f"earlier down --no-wait); run `invoke down --provider aks` again once "
                f"`az aks show -g {group} -n {name}` finds nothing"
            )
        cluster = DELETING
    else:
        gateway.delete_cluster(group, name, wait=wait, progress=progress, timeout=timeout)
        cluster = DELETED if wait else DELETING

    status = gateway.group_status(group, lab)
    detail = ""
    if not status.exists:
        group_state = ABSENT
    elif not status.owned:
        group_state = KEPT
        detail = f"kept resource group {group!r}: netpol-lab did not create it"
    elif status.foreign:
        group_state = KEPT
        detail = (
            f"kept resource group {group!r}: it holds resources netpol-lab did not create "
            f"({', '.join(status.foreign)}); delete them or the group yourself"
        )
    elif cluster == DELETING:
        # Start nothing else while the cluster deletion runs: the group goes on the next down.
        group_state = LATER
        detail = (
            f"resource group {group!r} is deleted by the next `invoke down --provider aks`, "
            "once the cluster is gone"
        )
    else:
        deleted = gateway.delete_group_if_owned(group, lab=lab, wait=wait, timeout=timeout)
        group_state = (DELETED if wait else DELETING) if deleted else ABSENT

    node_state = UNCHECKED
    if node_group and wait:
        node_state = PRESENT if gateway.group_exists(node_group) else GONE
        if node_state == PRESENT:
            detail = (
                f"node resource group {node_group!r} still exists after the cluster was "
                f"deleted; check it (az group show -n {node_group}) and delete it if empty"
            )
    return TeardownReport(cluster, group_state, node_state, group, node_group, detail)
