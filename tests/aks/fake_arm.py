"""An in-memory Azure Resource Manager behind ``azure.core``'s transport seam.

The real SDK clients (``ContainerServiceClient``, ``ResourceManagementClient``) run unchanged on
top of it: their serialization, retry policy, error mapping and long-running-operation polling
all execute. It answers the way ARM documents it (azure-rest-api-specs examples and the ARM
async-operation guideline):

- PUT managedCluster: 201 + ``Azure-AsyncOperation`` (body: provisioningState Creating/Updating);
  the operation answers InProgress ``polls`` times, then Succeeded; GET then gives 200 with
  provisioningState Succeeded and a fresh ``eTag`` (also in the ``ETag`` header).
- ``If-None-Match: *`` on an existing cluster and a stale ``If-Match`` give 412; a change while
  another operation runs gives 409; an engine change AKS does not support gives 400.
- GET of a missing cluster or group: 404 with an ARM error body (ResourceNotFound /
  ResourceGroupNotFound). DELETE: 202 + ``Location`` and ``Azure-AsyncOperation``; deleting a
  cluster also removes its node resource group; DELETE of a missing cluster: 204.
- ``throttle()`` makes the next request(s) answer 429 with ``Retry-After``.
- ``fail_next()`` makes the next cluster PUT end Failed (operation status Failed with an ARM
  error; the cluster stays, provisioningState Failed, as after a failed AKS create or update);
  ``fail_cluster(name)`` does the same for the next PUT of that cluster only (for requests from
  many threads at once, where "the next" is not one cluster).
- ``latency``: seconds every request takes (really slept, outside the fake's lock, so requests
  from parallel threads overlap as they would against ARM); ``real_sleep``: the SDK's poll
  sleeps really sleep (still recorded), for a benchmark with a short polling interval.
- ``hold = True`` keeps every operation InProgress (an AKS operation slower than any timeout);
  the SDK's poll sleeps then really sleep a little, so a poller left behind does not spin;
  ``release()`` lets such operations end and waits until they have.
- Resource groups: PUT/GET/HEAD (check_existence)/DELETE, the resources list of a group, and
  the subscription's list (``GET /subscriptions/{id}/resourcegroups``, operation
  ``ResourceGroups_List``: azure-rest-api-specs ``specification/resources/resource-manager/
  Microsoft.Resources/resources/stable/2025-04-01/resources.json``, ``x-ms-pageable`` with
  ``nextLinkName: nextLink``): ``page_size`` groups a page, sorted by name (ARM documents no
  order), and a ``nextLink`` with a ``$skiptoken`` while more remain, which the SDK follows.
  ``$filter`` and ``$top`` answer 400 here: the fake does not implement them, so nothing can
  come to rely on a made-up version of their semantics.
- A cluster's node resource group (``MC_<group>_<cluster>_<location>``) carries the cluster's
  tags (azure-aks-docs ``articles/aks/use-tags.md``: tags set on the cluster are applied to "the
  node resource group"), the ``aks-managed-cluster-rg``/``aks-managed-cluster-name`` tags, and
  ``managedBy``: the cluster's resource ID, as ARM reports a group another resource manages.
- ``listClusterUserCredential`` returns a base64 kubeconfig; ``kubernetesVersions`` per location.
  For a cluster with ``aadProfile`` or ``disableLocalAccounts`` the kubeconfig's user is a
  kubelogin exec plugin, as AKS gives for Microsoft Entra ID clusters (the fields azure-cli 2.91.0
  ``acs/custom.py`` ``uses_kubelogin_devicecode`` reads).
- A create whose node resource group name (``MC_<group>_<cluster>_<location>``, unless the body
  names one) is over 80 characters gives 400 InvalidParameter, as AKS answers it.
- A cluster whose ``powerState.code`` is ``Stopped`` accepts only DELETE (and start, which the
  tool never sends): a PUT gives 409 (azure-aks-docs ``articles/aks/start-stop-cluster.md``: "You
  can only perform start or delete operations on a stopped AKS cluster"; the error code and text
  are not documented, the ones here are this fake's).
- A PUT that sets ``networkDataplane: cilium`` on a cluster without it (the update
  ``az aks update --network-dataplane cilium`` sends: azure-cli 2.91.0
  ``acs/managed_cluster_decorator.py`` ``update_network_plugin_settings`` changes only the
  dataplane, so ``networkPolicy`` still holds the old engine) is accepted, and the cluster then
  reports ``networkPolicy: cilium``: "the existing engine is uninstalled and replaced by Cilium"
  (azure-aks-docs ``articles/aks/update-azure-cni.md``). ``networkPolicy: cilium`` without the
  Cilium dataplane is rejected ("This requires networkDataplane to be 'cilium'",
  azure-rest-api-specs ``.../aks/stable/2026-08-01/managedClusters.json``, ``NetworkPolicy``).
  The update is rejected with Windows pools, kubenet, or ``nodeProvisioningProfile.mode: Auto``
  (update-azure-cni.md, "Update considerations").
- ``finish_operations()`` ends every running operation at once (time passing while nobody polls,
  e.g. after ``down --no-wait``).

Every request is recorded (method, url, lower-cased headers, parsed JSON body) and every sleep the
SDK asks for is recorded instead of slept (unless ``real_sleep``). Requests are answered one at a
time (a lock), so many SDK clients in many threads may share one fake. Nothing here opens a
socket.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl  # the SDK's own base response
from azure.core.utils import case_insensitive_dict

ARM = "https://management.azure.com"

_GROUP = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<group>[^/]+)(?P<rest>/.*)?$", re.I
)
_GROUPS = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/?$", re.I)
_CLUSTER = re.compile(
    r"^/providers/microsoft\.containerservice/managedclusters/(?P<name>[^/]+)(?P<action>/[^/]+)?$",
    re.I,
)
_VERSIONS = re.compile(
    r"^/subscriptions/[^/]+/providers/microsoft\.containerservice/locations/(?P<loc>[^/]+)"
    r"/kubernetesversions$",
    re.I,
)
_OPERATION = re.compile(
    r"^/subscriptions/[^/]+/providers/microsoft\.(?:containerservice|resources)/locations/"
    r"(?P<loc>[^/]+)/(?P<kind>operations|operationresults)/(?P<id>[^/]+)$",
    re.I,
)


@dataclass
class Recorded:
    method: str
    url: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Operation:
    id: str
    polls_left: int
    finish: Callable[[], None]
    status: str = "InProgress"
    fail: Callable[[], None] | None = None  # what a failure leaves behind
    error: tuple[str, str] | None = None  # (code, message): the operation ends Failed
    held: bool = False  # polled while ``FakeArm.hold`` was set


@dataclass
class FakeArm(HttpTransport):
    """The fake ARM. ``polls``: InProgress answers before an operation succeeds."""

    subscription: str = "00000000-0000-0000-0000-000000000001"
    polls: int = 1
    versions: dict[str, Any] = field(default_factory=dict)  # location -> kubernetesVersions body
    kubeconfig: bytes = b"apiVersion: v1\nkind: Config\nclusters: []\n"
    requests: list[Recorded] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    foreign: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    hold: bool = False  # True: operations stay InProgress until set back to False
    latency: float = 0.0  # seconds every request takes, really slept
    real_sleep: bool = False  # True: the SDK's poll sleeps really sleep
    page_size: int = 100  # resource groups a page of the subscription's list
    _throttle: list[int] = field(default_factory=list)
    _failures: list[tuple[str, str]] = field(default_factory=list)
    _cluster_failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    _lock: Any = field(default_factory=threading.RLock, repr=False, compare=False)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # -- HttpTransport ---------------------------------------------------------------------------

    def __enter__(self) -> FakeArm:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def sleep(self, duration: float) -> None:
        self.sleeps.append(float(duration))
        if self.real_sleep:
            time.sleep(max(float(duration), 0.0))
        elif self.hold:
            time.sleep(0.005)  # a held operation is polled from a thread: do not spin

    def send(self, request: Any, **kwargs: Any) -> FakeResponse:
        if self.latency > 0:
            time.sleep(self.latency)  # outside the lock: parallel requests overlap
        url = urlsplit(request.url)
        body = _json(request.content)
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(Recorded(request.method, request.url, url.path, headers, body))
            if self._throttle:
                retry_after = self._throttle.pop(0)
                return self._error(
                    request, 429, "TooManyRequests", "throttled", {"Retry-After": str(retry_after)}
                )
            status, payload, extra = self._route(
                request.method.upper(), url.path, headers, body, url.query
            )
        return FakeResponse(request, status, payload, extra)

    # -- test helpers ----------------------------------------------------------------------------

    def throttle(self, times: int = 1, retry_after: int = 3) -> None:
        self._throttle.extend([retry_after] * times)

    def release(self, timeout: float = 5.0) -> None:
        """End ``hold`` and wait until every operation polled meanwhile has ended.

        Its poller, left behind when the caller's timeout ran out, polls on in its thread.
        """
        self.hold = False
        deadline = time.monotonic() + timeout
        while any(op.held and op.status == "InProgress" for op in self._operations_now()):
            if time.monotonic() > deadline:
                raise AssertionError("a held operation was not polled to its end")
            time.sleep(0.005)

    def _operations_now(self) -> list[Operation]:
        with self._lock:
            return list(self.operations.values())

    def fail_next(
        self,
        code: str = "ReconcileVMSSAgentPoolFailed",
        message: str = "Agent pool system: VMSS provisioning failed",
    ) -> None:
        """The next cluster PUT's operation ends Failed; the cluster stays, state Failed."""
        self._failures.append((code, message))

    def fail_cluster(
        self,
        name: str,
        code: str = "ReconcileVMSSAgentPoolFailed",
        message: str = "Agent pool system: VMSS provisioning failed",
    ) -> None:
        """The next PUT of cluster ``name`` ends Failed (as ``fail_next``, for that one only)."""
        self._cluster_failures[name.lower()] = (code, message)

    def finish_operations(self) -> None:
        """Every operation still running ends now, as if nobody had polled while it ran."""
        with self._lock:
            for op in list(self.operations.values()):
                if op.status == "InProgress":
                    op.status = "Succeeded"
                    op.finish()

    def calls(self, method: str, contains: str = "") -> list[Recorded]:
        return [
            r for r in self.requests if r.method == method and contains.lower() in r.path.lower()
        ]

    def seed_group(self, name: str, location: str = "westeurope", tags: dict | None = None) -> None:
        self.groups[name.lower()] = _group_resource(self.subscription, name, location, tags or {})

    def seed_cluster(
        self, group: str, resource: dict[str, Any], **properties: Any
    ) -> dict[str, Any]:
        """Put a cluster (a GET-shaped dict) in place, as if it had been created earlier."""
        if group.lower() not in self.groups:
            self.seed_group(group, resource.get("location", "westeurope"))
        cluster = copy.deepcopy(resource)
        cluster["properties"].update(properties)
        cluster.setdefault("eTag", self._etag())
        name = cluster["name"]
        props = cluster["properties"]
        props.setdefault("nodeResourceGroup", f"MC_{group}_{name}_{cluster['location']}")
        self._ensure_node_group(
            props["nodeResourceGroup"], cluster["location"], group, cluster, cluster.get("tags")
        )
        self.clusters[(group.lower(), name.lower())] = cluster
        return cluster

    def add_foreign_resource(self, group: str, name: str, tags: dict | None = None) -> None:
        self.foreign.setdefault(group.lower(), []).append(
            {"name": name, "type": "Microsoft.Storage/storageAccounts", "tags": tags or {}}
        )

    # -- routing ---------------------------------------------------------------------------------

    def _route(
        self, method: str, path: str, headers: dict, body: Any, query: str = ""
    ) -> tuple[int, Any, dict]:
        if m := _GROUPS.match(path):
            if method != "GET":
                return _err(405, "MethodNotAllowed", method)
            return self._list_groups(query)
        if m := _OPERATION.match(path):
            return self._operation(m["kind"].lower(), m["id"])
        if m := _VERSIONS.match(path):
            found = self.versions.get(m["loc"].lower())
            if found is None:
                return _err(404, "NoRegisteredProviderFound", f"location {m['loc']} not served")
            return 200, found, {}
        m = _GROUP.match(path)
        if not m:
            return _err(404, "InvalidResourceType", f"no route for {path}")
        group, rest = m["group"], m["rest"] or ""
        if not rest:
            return self._group(method, group, body)
        if rest.lower() == "/resources":
            return self._group_resources(group)
        if c := _CLUSTER.match(rest):
            action = (c["action"] or "").lower()
            if action == "/listclusterusercredential":
                return self._credentials(group, c["name"])
            if not action:
                return self._cluster(method, group, c["name"], headers, body)
        return _err(404, "InvalidResourceType", f"no route for {path}")

    # -- resource groups -------------------------------------------------------------------------

    def _group(self, method: str, name: str, body: Any) -> tuple[int, Any, dict]:
        key = name.lower()
        found = self.groups.get(key)
        if method == "HEAD":
            return (204 if found else 404), None, {}
        if method == "GET":
            return (200, found, {}) if found else _group_missing(name)
        if method == "PUT":
            created = found is None
            self.groups[key] = _group_resource(
                self.subscription, name, body["location"], body.get("tags") or {}
            )
            return (201 if created else 200), self.groups[key], {}
        if method == "DELETE":
            if not found:
                return _group_missing(name)
            location = found["location"]

            def finish() -> None:
                for g, n in list(self.clusters):
                    if g == key:
                        self._remove_cluster(g, n)
                self.foreign.pop(key, None)
                self.groups.pop(key, None)

            op = self._start(finish)
            return (
                202,
                None,
                {"Location": self._op_url(location, "operationresults", op.id, "resources")},
            )
        return _err(405, "MethodNotAllowed", method)

    def _list_groups(self, query: str) -> tuple[int, Any, dict]:
        """One page of the subscription's resource groups, with a ``nextLink`` while more remain."""
        params = parse_qs(query)
        for unsupported in ("$filter", "$top"):
            if unsupported in params:
                return _err(400, "InvalidRequest", f"{unsupported} is not implemented by this fake")
        try:
            start = int(params.get("$skiptoken", ["0"])[0])
        except ValueError:
            return _err(400, "InvalidSkipToken", "the $skiptoken is not one this list gave")
        ordered = sorted(self.groups.values(), key=lambda g: g["name"].lower())
        size = max(1, self.page_size)
        payload: dict[str, Any] = {"value": copy.deepcopy(ordered[start : start + size])}
        if start + size < len(ordered):
            version = params.get("api-version", ["2025-04-01"])[0]
            payload["nextLink"] = (
                f"{ARM}/subscriptions/{self.subscription}/resourcegroups?"
                f"api-version={version}&%24skiptoken={start + size}"
            )
        return 200, payload, {}

    def _group_resources(self, name: str) -> tuple[int, Any, dict]:
        key = name.lower()
        if key not in self.groups:
            return _group_missing(name)
        value = [
            {
                "id": c["id"],
                "name": c["name"],
                "type": c["type"],
                "location": c["location"],
                "tags": c.get("tags") or {},
            }
            for (g, _), c in self.clusters.items()
            if g == key
        ] + copy.deepcopy(self.foreign.get(key, []))
        return 200, {"value": value}, {}

    def _ensure_node_group(
        self, name: str, location: str, group: str, cluster: dict, tags: dict | None
    ) -> None:
        # AKS applies the cluster's tags to its node resource group, adds its own, and the group
        # is managed by the cluster (``managedBy``): it goes when the cluster does.
        cluster_name = cluster["name"]
        node_tags = {
            **(tags or {}),
            "aks-managed-cluster-rg": group,
            "aks-managed-cluster-name": cluster_name,
        }
        cluster_id = cluster.get("id") or (
            f"/subscriptions/{self.subscription}/resourcegroups/{group}/providers/"
            f"Microsoft.ContainerService/managedClusters/{cluster_name}"
        )
        found = self.groups.get(name.lower())
        if found is None:
            self.groups[name.lower()] = _group_resource(
                self.subscription, name, location, node_tags, managed_by=cluster_id
            )
        else:
            found["tags"] = node_tags

    # -- managed clusters ------------------------------------------------------------------------

    def _cluster(
        self, method: str, group: str, name: str, headers: dict, body: Any
    ) -> tuple[int, Any, dict]:
        gkey, key = group.lower(), (group.lower(), name.lower())
        if gkey not in self.groups:
            return _group_missing(group)
        found = self.clusters.get(key)
        if method == "GET":
            if not found:
                return _err(
                    404,
                    "ResourceNotFound",
                    f"The Resource 'Microsoft.ContainerService/managedClusters/{name}' "
                    f"under resource group '{group}' was not found.",
                )
            return 200, found, {"ETag": found["eTag"]}
        if method == "PUT":
            return self._put_cluster(group, name, found, headers, body)
        if method == "DELETE":
            if not found:
                return 204, None, {}
            if _busy(found):
                return _conflict(found)
            found["properties"]["provisioningState"] = "Deleting"
            op = self._start(lambda: self._remove_cluster(*key))
            loc = found["location"]
            return (
                202,
                None,
                {
                    "Location": self._op_url(loc, "operationresults", op.id),
                    "Azure-AsyncOperation": self._op_url(loc, "operations", op.id),
                },
            )
        return _err(405, "MethodNotAllowed", method)

    def _put_cluster(
        self, group: str, name: str, found: dict | None, headers: dict, body: dict
    ) -> tuple[int, Any, dict]:
        if_match = headers.get("if-match")
        if_none_match = headers.get("if-none-match")
        if if_none_match == "*" and found:
            return _err(412, "PreconditionFailed", f"managed cluster {name} already exists")
        if if_match and (not found or if_match.strip('"') != found["eTag"]):
            return _err(
                412, "PreconditionFailed", "the If-Match ETag does not match the current ETag"
            )
        if found and _busy(found):
            return _conflict(found)
        if found and _stopped(found):
            return _err(
                409,
                "OperationNotAllowed",
                f"Managed cluster {name} is stopped; only start and delete are allowed.",
            )
        if problem := _invalid(body, found):
            return _err(400, *problem)
        if not found and (problem := _node_group_too_long(group, name, body)):
            return _err(400, *problem)
        cluster = self._materialize(group, name, body, found)
        state = "Updating" if found else "Creating"
        cluster["properties"]["provisioningState"] = state
        self.clusters[(group.lower(), name.lower())] = cluster

        def finish(state: str = "Succeeded") -> None:
            cluster["properties"]["provisioningState"] = state
            cluster["eTag"] = self._etag()
            self._ensure_node_group(
                cluster["properties"]["nodeResourceGroup"],
                cluster["location"],
                group,
                cluster,
                cluster.get("tags"),
            )

        op = self._start(finish, fail=lambda: finish("Failed"), cluster=name)
        return (
            (200 if found else 201),
            cluster,
            {"Azure-AsyncOperation": self._op_url(cluster["location"], "operations", op.id)},
        )

    def _materialize(self, group: str, name: str, body: dict, found: dict | None) -> dict[str, Any]:
        """What ARM stores for a PUT: the body plus the fields the service computes."""
        cluster = copy.deepcopy(body)
        props = cluster.setdefault("properties", {})
        location = cluster["location"]
        cluster["id"] = (
            f"/subscriptions/{self.subscription}/resourcegroups/{group}/providers/"
            f"Microsoft.ContainerService/managedClusters/{name}"
        )
        cluster["name"] = name
        cluster["type"] = "Microsoft.ContainerService/ManagedClusters"
        cluster["eTag"] = (found or {}).get("eTag") or self._etag()
        props["nodeResourceGroup"] = (found or {}).get("properties", {}).get(
            "nodeResourceGroup"
        ) or f"MC_{group}_{name}_{location}"
        props.setdefault("kubernetesVersion", "1.33")
        props["currentKubernetesVersion"] = props["kubernetesVersion"]
        props["fqdn"] = f"{props.get('dnsPrefix', name)}-fake.hcp.{location}.azmk8s.io"
        props["maxAgentPools"] = 100
        props["powerState"] = {"code": "Running"}
        net = props.get("networkProfile") or {}
        if net.get("networkDataplane") == "cilium":
            # Cilium enforces policy on its dataplane: AKS reports it as the policy engine.
            net["networkPolicy"] = "cilium"
        for pool in props.get("agentPoolProfiles", []):
            pool.setdefault("osType", "Linux")
            pool["provisioningState"] = "Succeeded"
            pool["currentOrchestratorVersion"] = props["kubernetesVersion"]
        if (ident := cluster.get("identity")) and ident.get("type") == "SystemAssigned":
            ident["principalId"] = "11111111-1111-1111-1111-111111111111"
            ident["tenantId"] = "22222222-2222-2222-2222-222222222222"
        return cluster

    def _remove_cluster(self, gkey: str, nkey: str) -> None:
        cluster = self.clusters.pop((gkey, nkey), None)
        if cluster:
            self.groups.pop(cluster["properties"]["nodeResourceGroup"].lower(), None)

    def _credentials(self, group: str, name: str) -> tuple[int, Any, dict]:
        if (group.lower(), name.lower()) not in self.clusters:
            return _err(404, "ResourceNotFound", f"managed cluster {name} not found")
        cluster = self.clusters[(group.lower(), name.lower())]
        props = cluster["properties"]
        kubeconfig = self.kubeconfig
        if props.get("aadProfile") or props.get("disableLocalAccounts"):
            kubeconfig = _entra_kubeconfig(name, props.get("fqdn", ""))
        value = base64.b64encode(kubeconfig).decode()
        return 200, {"kubeconfigs": [{"name": "clusterUser", "value": value}]}, {}

    # -- long-running operations -----------------------------------------------------------------

    def _start(
        self,
        finish: Callable[[], None],
        fail: Callable[[], None] | None = None,
        cluster: str | None = None,
    ) -> Operation:
        op = Operation(id=f"op-{next(self._ids)}", polls_left=self.polls, finish=finish)
        targeted = self._cluster_failures.pop(cluster.lower(), None) if cluster else None
        if fail is not None and targeted is not None:
            op.fail, op.error = fail, targeted
        elif fail is not None and self._failures:
            op.fail, op.error = fail, self._failures.pop(0)
        self.operations[op.id] = op
        return op

    def _operation(self, kind: str, op_id: str) -> tuple[int, Any, dict]:
        op = self.operations.get(op_id)
        if not op:
            return _err(404, "NotFound", f"operation {op_id} not found")
        op.held = op.held or self.hold
        if op.status == "InProgress" and not self.hold:
            if op.polls_left > 0:
                op.polls_left -= 1
            elif op.error and op.fail:
                op.status = "Failed"
                op.fail()
            else:
                op.status = "Succeeded"
                op.finish()
        if kind == "operationresults":  # Location polling: 202 while running, 204 when done
            return (202 if op.status == "InProgress" else 204), None, {}
        body: dict[str, Any] = {
            "name": op.id,
            "status": op.status,
            "startTime": "2026-11-22T18:00:00Z",
        }
        if op.status == "Failed" and op.error:
            body["error"] = {"code": op.error[0], "message": op.error[1]}
        return 200, body, {}

    def _op_url(
        self, location: str, kind: str, op_id: str, provider: str = "containerservice"
    ) -> str:
        namespace = (
            "Microsoft.ContainerService"
            if provider == "containerservice"
            else "Microsoft.Resources"
        )
        return (
            f"{ARM}/subscriptions/{self.subscription}/providers/{namespace}/locations/"
            f"{location}/{kind}/{op_id}?api-version=2026-08-01"
        )

    def _etag(self) -> str:
        return f"etag-{next(self._ids)}"

    def _error(
        self, request: Any, status: int, code: str, message: str, headers: dict
    ) -> FakeResponse:
        return FakeResponse(request, status, {"error": {"code": code, "message": message}}, headers)


# -- AKS rules the fake enforces on PUT (documented in provisioning/providers/aks/transitions.py) --


def _invalid(body: dict, found: dict | None) -> tuple[str, str] | None:
    if not body.get("location"):
        return "LocationRequired", "The location property is required for this definition."
    props = body.get("properties") or {}
    net = props.get("networkProfile") or {}
    plugin = net.get("networkPlugin")
    pools = props.get("agentPoolProfiles") or []
    windows = any((p.get("osType") or "Linux").lower() == "windows" for p in pools)
    old = ((found or {}).get("properties") or {}).get("networkProfile") or {}
    policy = net.get("networkPolicy") or "none"
    if net.get("networkDataplane") == "cilium":
        if plugin != "azure":
            return "InvalidParameter", "Cilium dataplane requires networkPlugin azure"
        if windows:
            return "InvalidParameter", "Cilium dataplane does not support Windows node pools"
        upgrade = found is not None and old.get("networkDataplane") != "cilium"
        # An upgrade keeps the engine it read (AKS replaces it); otherwise none or cilium.
        kept = upgrade and policy == (old.get("networkPolicy") or "none")
        if policy not in ("none", "cilium") and not kept:
            return "InvalidParameter", f"networkPolicy {policy} cannot run on the Cilium dataplane"
        nap = (props.get("nodeProvisioningProfile") or {}).get("mode") == "Auto"
        if upgrade and nap:
            return (
                "InvalidParameter",
                "Clusters with node auto-provisioning can't be updated to Azure CNI Powered "
                "by Cilium",
            )
    elif policy == "cilium":
        return "InvalidParameter", "networkPolicy cilium requires networkDataplane cilium"
    if net.get("networkPolicy") == "azure" and plugin != "azure":
        return "InvalidParameter", "Azure network policy requires networkPlugin azure"
    if not found:
        return None
    if old.get("networkDataplane") == "cilium" and net.get("networkDataplane") != "cilium":
        return "InvalidParameter", "Changing the dataplane from cilium is not supported"
    if (old.get("networkPluginMode") or "") != (net.get("networkPluginMode") or ""):
        return "InvalidParameter", "Changing networkPluginMode is not supported by this fake"
    old_policy, new_policy = old.get("networkPolicy") or "none", policy
    if net.get("networkDataplane") == "cilium":
        return None  # the dataplane upgrade replaces whatever engine ran
    if old_policy not in ("none", new_policy) and new_policy != "none":
        return (
            "InvalidParameter",
            f"Changing network policy from {old_policy} to {new_policy} is not supported; "
            "uninstall it first (networkPolicy none)",
        )
    return None


def _node_group_too_long(group: str, name: str, body: dict) -> tuple[str, str] | None:
    """AKS names the node resource group ``MC_<group>_<cluster>_<location>`` unless the body
    names it, and refuses the create when that is over 80 characters (the message AKS gives,
    as reported in e.g. Azure-Terraform/terraform-azurerm-kubernetes#33; aka.ms/aks-naming-rules).
    """
    props = body.get("properties") or {}
    derived = props.get("nodeResourceGroup") or f"MC_{group}_{name}_{body.get('location', '')}"
    if len(derived) <= 80:
        return None
    return (
        "InvalidParameter",
        "The length of the node resource group name is too long. The maximum length is 80 and "
        f"the length of the value provided is {len(derived)}. Please see "
        "https://aka.ms/aks-naming-rules for more details.",
    )


def _stopped(cluster: dict) -> bool:
    return (cluster["properties"].get("powerState") or {}).get("code") == "Stopped"


def _entra_kubeconfig(name: str, server: str) -> bytes:
    """A user kubeconfig of an Entra ID cluster: its user runs kubelogin (device code login)."""
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {name}\n  cluster:\n    server: https://{server}:443\n"
        f"contexts:\n- name: {name}\n  context:\n    cluster: {name}\n"
        f"    user: clusterUser_{name}\n"
        f"current-context: {name}\n"
        f"users:\n- name: clusterUser_{name}\n  user:\n    exec:\n"
        "      apiVersion: client.authentication.k8s.io/v1beta1\n"
        "      command: kubelogin\n"
        "      args: [get-token, --login, devicecode, --server-id,"
        " 6dae42f8-4368-4678-94ff-3960e28e3630]\n"
    ).encode()


def _busy(cluster: dict) -> bool:
    return cluster["properties"].get("provisioningState") not in ("Succeeded", "Failed", "Canceled")


def _conflict(cluster: dict) -> tuple[int, Any, dict]:
    state = cluster["properties"]["provisioningState"]
    return _err(
        409,
        "OperationNotAllowed",
        f"Operation is not allowed because there's an in progress {state.lower()} operation.",
    )


def _group_missing(name: str) -> tuple[int, Any, dict]:
    return _err(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


def _err(status: int, code: str, message: str) -> tuple[int, Any, dict]:
    return status, {"error": {"code": code, "message": message}}, {}


def _group_resource(
    sub: str, name: str, location: str, tags: dict, managed_by: str | None = None
) -> dict[str, Any]:
    group: dict[str, Any] = {
        "id": f"/subscriptions/{sub}/resourceGroups/{name}",
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "tags": dict(tags),
        "properties": {"provisioningState": "Succeeded"},
    }
    if managed_by:
        group["managedBy"] = managed_by
    return group


def _json(content: Any) -> Any:
    if content in (None, b"", ""):
        return None
    if isinstance(content, (bytes, bytearray)):
        content = content.decode()
    try:
        return json.loads(content)
    except (TypeError, ValueError):
        return content


class _Closable:
    def close(self) -> None:
        pass


class FakeResponse(HttpResponseImpl):
    """A complete, already-read response, built on azure-core's own response implementation."""

    def __init__(self, request: Any, status: int, payload: Any, headers: dict[str, str]) -> None:
        content = b"" if payload is None else json.dumps(payload).encode()
        all_headers = case_insensitive_dict(
            {
                "x-ms-request-id": "fake",
                **({"Content-Type": "application/json"} if content else {}),
                **headers,
            }
        )
        super().__init__(
            request=request,
            internal_response=_Closable(),
            status_code=status,
            reason=_REASONS.get(status, "Status"),
            content_type=all_headers.get("Content-Type"),
            headers=all_headers,
            stream_download_generator=lambda **_: iter([content]),
        )
        self._content = content


_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    429: "Too Many Requests",
}


class FakeCredential:
    """A token credential that never leaves the process; records the scopes it was asked for."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        if self.error:
            raise self.error
        return AccessToken("fake-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        self.scopes.append(scopes)
        if self.error:
            raise self.error
        return AccessTokenInfo("fake-token", int(time.time()) + 3600)
