"""The one seam between netpol-lab and Azure Resource Manager: a thin wrapper over the real SDK.

``AksGateway`` turns the calls the lab needs (observe, create, update, credentials, delete) into
``azure-mgmt-containerservice`` / ``azure-mgmt-resource`` calls and turns every SDK failure into
one clear ``UsageError`` or ``OperationError``. Tests pass ``transport=`` (an in-memory ARM) and a
fake credential, so the SDK's own serialization, retry and long-running-operation polling run
for real. SDK imports stay inside methods so importing this module costs nothing.

SDK references: ``ContainerServiceClient.managed_clusters`` (get, begin_create_or_update with
``etag``/``match_condition``, begin_delete, list_cluster_user_credentials,
list_kubernetes_versions) and ``azure.mgmt.resource.resources.ResourceManagementClient``
(resource_groups: check_existence, create_or_update, get, list, begin_delete; the
``azure.mgmt.resource`` top-level import is gone in 26.x).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from provisioning.errors import OperationError, UsageError
from provisioning.providers.aks.observed import ObservedCluster
from provisioning.providers.aks.tags import is_tool_owned

Progress = Callable[[float, str], None]
"""Called while a long-running operation polls: (elapsed seconds, provisioning state)."""

SUBSCRIPTION_ENV = "AZURE_SUBSCRIPTION_ID"
SUBSCRIPTION_KEY = "aks.subscription_id"
DEFAULT_POLLING_INTERVAL = 15.0  # seconds between polls; AKS operations take minutes

RESUME_UP = "run `invoke up --provider aks` again to resume, or `invoke status --provider aks`"
RESUME_DOWN = "run `invoke down --provider aks` again to finish, or `invoke status --provider aks`"

CREDENTIAL_HELP = (
    "no Azure credential worked: run `az login` (and `az account set --subscription <id>`), "
    "or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a service principal, "
    f"plus {SUBSCRIPTION_ENV}"
)


def resolve_subscription(configured: str | None) -> str:
    """The subscription from the profile, else ``AZURE_SUBSCRIPTION_ID``; a UsageError if none."""
    subscription = (configured or os.environ.get(SUBSCRIPTION_ENV) or "").strip()
    if not subscription:
        raise missing_subscription()
    return subscription


def missing_subscription() -> UsageError:
    return UsageError(
        f"no Azure subscription given: set {SUBSCRIPTION_ENV} or {SUBSCRIPTION_KEY} in the "
        "profile (az account show --query id -o tsv prints yours)"
    )


@dataclass(frozen=True)
class GroupStatus:
    """A resource group as teardown sees it."""

    name: str
    exists: bool
    owned: bool = False  # tagged by netpol-lab (for the lab, when one was given)
    foreign: tuple[str, ...] = ()  # resources inside it that the tool did not tag


class AksGateway:
    """Azure Resource Manager calls for one subscription."""

    def __init__(
        self,
        subscription_id: str | None,
        credential: Any = None,
        transport: Any = None,
        polling_interval: float | None = None,
    ) -> None:
        if not subscription_id:
            raise missing_subscription()
        self.subscription_id = subscription_id
        self._credential = credential
        self._transport = transport
        self._polling_interval = (
            DEFAULT_POLLING_INTERVAL if polling_interval is None else polling_interval
        )
        self._containers: Any = None
        self._resources: Any = None

    # -- clients -------------------------------------------------------------------------------

    @property
    def credential(self) -> Any:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            # Never pop a browser in the middle of a workshop: CLI login, env vars, or identity.
            with quiet_sdk_logs():
                self._credential = DefaultAzureCredential(
                    exclude_interactive_browser_credential=True
                )
        return self._credential

    def _client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"polling_interval": self._polling_interval}
        if self._transport is not None:
            options["transport"] = self._transport
        return options

    @property
    def containers(self) -> Any:
        if self._containers is None:
            from azure.mgmt.containerservice import ContainerServiceClient

            self._containers = ContainerServiceClient(
                self.credential, self.subscription_id, **self._client_options()
            )
        return self._containers

    @property
    def resources(self) -> Any:
        if self._resources is None:
            from azure.mgmt.resource.resources import ResourceManagementClient

            self._resources = ResourceManagementClient(
                self.credential, self.subscription_id, **self._client_options()
            )
        return self._resources

    # -- clusters ------------------------------------------------------------------------------

    def observe(self, group: str, name: str) -> ObservedCluster | None:
        """The cluster as ARM reports it, or None when it (or its group) does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        with _azure_errors("read", _cluster(group, name)):
            try:
                model, etag = self.containers.managed_clusters.get(
                    group,
                    name,
                    cls=lambda resp, model, _: (model, resp.http_response.headers.get("ETag")),
                )
            except ResourceNotFoundError:
                return None
        return ObservedCluster.from_rest(group, model.as_dict(), etag=etag)

    def create_cluster(
        self,
        group: str,
        name: str,
        body: Mapping[str, Any],
        progress: Progress | None = None,
        *,
        timeout: float | None = None,
    ) -> ObservedCluster:
        """Create the cluster; ``If-None-Match: *`` so a concurrent create is never overwritten.

        ``timeout``: seconds to wait for the operation (None: until it ends); past it, an
        OperationError says how to resume while the operation goes on in Azure.
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError

        where = _cluster(group, name)
        with _azure_errors("create", where):
            try:
                poller = self.containers.managed_clusters.begin_create_or_update(
                    group,
                    name,
                    dict(body),
                    match_condition=MatchConditions.IfMissing,
                    polling=self._polling(progress, "Creating"),
                )
                model = _wait(poller, timeout, f"the create of {where}", RESUME_UP)
            except ResourceExistsError as err:
                if _status(err) != 412:
                    raise
                raise OperationError(
                    f"{where} appeared since it was read (someone else created it); "
                    "re-run plan to see what is there now"
                ) from None
        return ObservedCluster.from_rest(group, model.as_dict())

    def update_cluster(
        self,
        group: str,
        name: str,
        body: Mapping[str, Any],
        etag: str | None,
        progress: Progress | None = None,
        *,
        timeout: float | None = None,
    ) -> ObservedCluster:
        """Full PUT of an existing cluster with ``If-Match: <etag>``: concurrent edits fail.

        ``timeout`` as for ``create_cluster``.
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError

        where = _cluster(group, name)
        if not etag:
            raise OperationError(
                f"{where} reported no ETag, so a concurrent change could not be detected; "
                "re-run plan"
            )
        with _azure_errors("update", where):
            try:
                poller = self.containers.managed_clusters.begin_create_or_update(
                    group,
                    name,
                    dict(body),
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                    polling=self._polling(progress, "Updating"),
                )
                model = _wait(poller, timeout, f"the update of {where}", RESUME_UP)
            except ResourceModifiedError:
                raise OperationError(
                    f"the cluster changed since it was read ({where}); re-run plan"
                ) from None
        return ObservedCluster.from_rest(group, model.as_dict())

    def user_kubeconfig(self, group: str, name: str) -> bytes:
        """The cluster user kubeconfig (``listClusterUserCredential``), already base64-decoded."""
        where = _cluster(group, name)
        with _azure_errors("get credentials for", where):
            result = self.containers.managed_clusters.list_cluster_user_credentials(group, name)
        kubeconfigs = result.kubeconfigs or []
        if not kubeconfigs or not kubeconfigs[0].value:
            raise OperationError(f"{where} returned no user kubeconfig; retry in a minute")
        return bytes(kubeconfigs[0].value)

    def delete_cluster(
        self,
        group: str,
        name: str,
        wait: bool = True,
        progress: Progress | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        """Delete the cluster (its node resource group goes with it). Absent already: no-op."""
        from azure.core.exceptions import ResourceNotFoundError

        where = _cluster(group, name)
        with _azure_errors("delete", where):
            try:
                poller = self.containers.managed_clusters.begin_delete(
                    group, name, polling=self._polling(progress, "Deleting") if wait else False
                )
            except ResourceNotFoundError:  # the group is gone, hence the cluster too
                return
            if wait:
                _wait(poller, timeout, f"the deletion of {where}", RESUME_DOWN)

    def default_kubernetes_version(self, location: str) -> str:
        """The region's default, non-preview Kubernetes version (never hard-coded)."""
        with _azure_errors("list Kubernetes versions in", f"location {location!r}"):
            listing = self.containers.managed_clusters.list_kubernetes_versions(location)
        versions = listing.as_dict().get("values") or []
        for item in versions:
            if item.get("isDefault") and not item.get("isPreview"):
                return str(item["version"])
        raise OperationError(
            f"location {location!r} reports no default non-preview Kubernetes version; "
            "set aks.kubernetes_version in the profile (az aks get-versions -l <location>)"
        )

    # -- resource groups -----------------------------------------------------------------------

    def group_exists(self, group: str) -> bool:
        with _azure_errors("check", f"resource group {group!r}"):
            return bool(self.resources.resource_groups.check_existence(group))

    def ensure_group(self, group: str, location: str, tags: Mapping[str, str]) -> bool:
        """Create the group with ``tags`` when missing; an existing group is left untouched.

        Returns True when the tool created it: the tags are then its only record of ownership.
        """
        if self.group_exists(group):
            return False
        with _azure_errors("create", f"resource group {group!r}"):
            self.resources.resource_groups.create_or_update(
                group, {"location": location, "tags": dict(tags)}
            )
        return True

    def list_groups(self) -> list[dict[str, Any]]:
        """Every resource group of the subscription: ``name``, ``tags``, ``location`` and
        ``managed_by`` (the resource that manages the group, e.g. an AKS cluster for its node
        resource group; None for a group of one's own).

        ``ResourceGroups_List`` (``GET /subscriptions/{id}/resourcegroups``) is pageable; the
        SDK follows each ``nextLink``, so the pages are read here, inside the error mapping. Its
        ``$filter`` is documented only by the example ``tagName eq 'tag1' and tagValue eq
        'Value1'`` (azure-rest-api-specs ``.../Microsoft.Resources/resources/stable/2025-04-01/
        resources.json``), and for the sibling ``Resources_List`` a tag filter drops each
        result's other tags, which the caller needs; so every group is listed and the caller
        filters.
        """
        where = f"resource groups of subscription {self.subscription_id}"
        with _azure_errors("list", where):
            found = list(self.resources.resource_groups.list())
        # The model's attributes, not ``as_dict()``: its keys are the REST names in 26.x
        # (``managedBy``), the Python names in older releases.
        return [
            {
                "name": str(g.name or ""),
                "tags": {str(k): str(v) for k, v in (g.tags or {}).items()},
                "location": str(g.location or ""),
                "managed_by": g.managed_by or None,
            }
            for g in found
        ]

    def group_status(self, group: str, lab: str | None = None) -> GroupStatus:
        from azure.core.exceptions import ResourceNotFoundError

        where = f"resource group {group!r}"
        with _azure_errors("read", where):
            try:
                found = self.resources.resource_groups.get(group).as_dict()
            except ResourceNotFoundError:
                return GroupStatus(group, exists=False)
            inside = [r.as_dict() for r in self.resources.resources.list_by_resource_group(group)]
        foreign = tuple(str(r.get("name")) for r in inside if not is_tool_owned(r.get("tags"), lab))
        return GroupStatus(
            group, exists=True, owned=is_tool_owned(found.get("tags"), lab), foreign=foreign
        )

    def delete_group_if_owned(
        self,
        group: str,
        *,
        lab: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> bool:
        """Delete the group only if the tool created it and it holds nothing the tool did not tag.

        Deleting a group deletes everything in it, so a resource someone else put there keeps
        the whole group alive. Returns True when a deletion was started (and, with ``wait``,
        finished).
        """
        from azure.core.exceptions import ResourceNotFoundError

        status = self.group_status(group, lab)
        if not status.exists or not status.owned or status.foreign:
            return False
        where = f"resource group {group!r}"
        with _azure_errors("delete", where):
            try:
                poller = self.resources.resource_groups.begin_delete(
                    group, polling=self._polling(None, "Deleting") if wait else False
                )
            except ResourceNotFoundError:
                return False
            if wait:
                _wait(poller, timeout, f"the deletion of {where}", RESUME_DOWN)
        return True

    # -- polling -------------------------------------------------------------------------------

    def _polling(self, progress: Progress | None, state: str) -> Any:
        return _progress_polling_class()(self._polling_interval, progress, state)


def _wait(poller: Any, timeout: float | None, operation: str, resume: str) -> Any:
    """The operation's result; an OperationError when it is still running after ``timeout``.

    ``LROPoller.result(timeout=)`` returns when the time is up whether or not the operation has
    ended, so ``done()`` tells the two apart. Azure carries on with the operation either way.
    """
    model = poller.result(timeout=timeout)
    if not poller.done():
        raise OperationError(f"{operation} still running after {timeout:g}s; {resume}")
    return model


def _cluster(group: str, name: str) -> str:
    return f"cluster {name!r} in resource group {group!r}"


def _status(err: Exception) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


# The SDK loggers that narrate a failing credential chain (one WARNING of ~15 lines listing every
# credential tried) and every HTTP request; the lab says what matters in one line instead.
QUIET_LOGGERS = ("azure.identity", "azure.core.pipeline.policies.http_logging_policy")


@contextmanager
def quiet_sdk_logs() -> Iterator[None]:
    """Only CRITICAL records from ``QUIET_LOGGERS`` while inside; their levels are restored after.

    A level, not a filter: a filter on ``azure.identity`` would not see records of its children
    (``azure.identity._credentials.chained``), a level does. Nested uses restore in order.
    Uses from several threads at once (a workshop fleet's AKS labs) share one quiet period:
    the first in saves the levels, the last out restores them, so no thread restores another's
    CRITICAL as if it were the original level.
    """
    global _quiet_users, _quiet_saved
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    with _quiet_lock:
        if _quiet_users == 0:
            _quiet_saved = [logger.level for logger in loggers]
            for logger in loggers:
                logger.setLevel(logging.CRITICAL)
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users -= 1
            if _quiet_users == 0:
                for logger, level in zip(loggers, _quiet_saved, strict=True):
                    logger.setLevel(level)


_quiet_lock = threading.Lock()
_quiet_users = 0
_quiet_saved: list[int] = []


@contextmanager
def _azure_errors(action: str, where: str) -> Iterator[None]:
    """Map SDK exceptions to one-line lab errors: what failed, where, what to do.

    Every SDK call runs inside it, so the SDK's own logs stay quiet there (``quiet_sdk_logs``).
    """
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ServiceRequestError,
    )

    try:
        with quiet_sdk_logs():
            yield
    except ClientAuthenticationError as err:  # includes CredentialUnavailableError
        if _status(err) == 401:
            raise UsageError(
                f"Azure rejected the credential while trying to {action} {where}; "
                + CREDENTIAL_HELP
            ) from None
        raise UsageError(CREDENTIAL_HELP) from None
    except ResourceExistsError as err:
        if _status(err) != 409:
            raise
        raise OperationError(
            f"cannot {action} {where}: {_arm_error(err)}; another operation is probably "
            "running on it; wait for it to finish (az aks show) and re-run"
        ) from None
    except HttpResponseError as err:
        status = _status(err)
        if status == 403:
            raise UsageError(
                f"not allowed to {action} {where}: {_arm_error(err)}; ask for the Contributor "
                "role on the resource group or subscription"
            ) from None
        raise OperationError(f"could not {action} {where}: {_arm_error(err)}") from None
    except ServiceRequestError as err:
        raise OperationError(
            f"could not reach Azure Resource Manager to {action} {where}: {_first_line(err)}; "
            "check the network or proxy settings and retry"
        ) from None


def _arm_error(err: Any) -> str:
    """``Code: message`` from an ARM error body, else the SDK's first line."""
    error = getattr(err, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if code and message:
        return f"{code}: {_first_line(message)}"
    return _first_line(getattr(err, "message", None) or err)


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


@cache
def _progress_polling_class() -> type:
    """ARM polling that reports (elapsed, provisioning state) after every poll.

    Built lazily so the SDK is imported only when a long-running operation starts. The state is
    the provisioning state from the initial response (Creating, Updating, Deleting) while the
    operation runs, then the terminal status (Succeeded, Failed, Canceled).
    """
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    class ProgressPolling(ARMPolling):
        def __init__(self, interval: float, progress: Progress | None, state: str) -> None:
            super().__init__(timeout=interval)
            self._progress = progress
            self._running_state = state
            self._started = time.monotonic()

        def initialize(self, client: Any, initial_response: Any, deserialization_callback: Any):
            self._started = time.monotonic()
            super().initialize(client, initial_response, deserialization_callback)
            try:
                body = initial_response.http_response.json() or {}
                state = (body.get("properties") or {}).get("provisioningState")
            except ValueError:  # 202 Accepted with an empty body
                state = None
            self._running_state = state or self._running_state
            self._report()

        def update_status(self) -> None:
            super().update_status()
            self._report()

        def _report(self) -> None:
            if self._progress is None:
                return
            status = str(self.status())
            running = status.lower() in ("inprogress", "accepted", "running", "creating")
            self._progress(
                time.monotonic() - self._started, self._running_state if running else status
            )

    return ProgressPolling
