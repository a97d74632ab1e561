"""The gateway running the real Azure SDK against the fake ARM: requests, headers, errors."""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.errors import OperationError, UsageError
from provisioning.providers.aks.body import cluster_body, update_body
from provisioning.providers.aks.gateway import AksGateway, resolve_subscription
from provisioning.providers.aks.transitions import plan_transition
from provisioning.spec import AksSettings, LabSpec
from tests.aks.conftest import load
from tests.aks.fake_arm import FakeArm, FakeCredential

GROUP, NAME = "lab-rg", "lab"
ROOT = Path(__file__).resolve().parents[2]


def spec(engine: str) -> LabSpec:
    return LabSpec(name=NAME, provider="aks", engine=engine, aks=AksSettings(resource_group=GROUP))


def seeded(fake: FakeArm, engine: str = "azure", **props: object) -> dict:
    raw = copy.deepcopy(load("cluster_get_azure.json"))
    raw["properties"]["networkProfile"]["networkPolicy"] = engine
    return fake.seed_cluster(GROUP, raw, **props)


# -- create ----------------------------------------------------------------------------------------


def test_create_sends_the_exact_body_with_if_none_match(fake: FakeArm, gateway: AksGateway) -> None:
    body = cluster_body(spec("cilium"), "1.33")
    fake.seed_group(GROUP)
    seen: list[tuple[float, str]] = []

    created = gateway.create_cluster(GROUP, NAME, body, lambda t, s: seen.append((t, s)))

    (put,) = fake.calls("PUT", "/managedClusters/")
    assert put.body == body
    assert put.headers["if-none-match"] == "*"
    assert "if-match" not in put.headers
    assert "api-version=" in put.url
    assert put.headers["authorization"] == "Bearer fake-token"
    assert created.engine == "cilium" and created.provisioning_state == "Succeeded"
    assert created.etag and created.node_resource_group == f"MC_{GROUP}_{NAME}_westeurope"
    # The initial answer, one InProgress poll, then the terminal state.
    assert [s for _, s in seen] == ["Creating", "Creating", "Succeeded"]
    assert all(t >= 0 for t, _ in seen)


def test_progress_follows_the_number_of_polls(credential: FakeCredential) -> None:
    fake = FakeArm(polls=3)
    gateway = AksGateway(fake.subscription, credential, transport=fake, polling_interval=0)
    fake.seed_group(GROUP)
    seen: list[str] = []
    gateway.create_cluster(
        GROUP, NAME, cluster_body(spec("none"), None), lambda _, s: seen.append(s)
    )
    assert seen == ["Creating"] * 4 + ["Succeeded"]
    assert len(fake.calls("GET", "/operations/")) == 4


def test_create_refuses_to_overwrite_a_cluster_that_appeared(
    fake: FakeArm, gateway: AksGateway
) -> None:
    before = seeded(fake)
    with pytest.raises(OperationError, match=r"cluster 'lab' in resource group 'lab-rg' appeared"):
        gateway.create_cluster(GROUP, NAME, cluster_body(spec("cilium"), "1.33"))
    assert fake.clusters[(GROUP, NAME)] == before  # untouched


def test_an_operation_past_the_timeout_says_how_to_resume(
    fake: FakeArm, gateway: AksGateway
) -> None:
    fake.seed_group(GROUP)
    fake.hold = True  # AKS still creating long after the timeout
    try:
        with pytest.raises(OperationError) as err:
            gateway.create_cluster(GROUP, NAME, cluster_body(spec("none"), "1.33"), timeout=0.05)
    finally:
        fake.release()  # the poller left behind finishes
    assert str(err.value) == (
        "the create of cluster 'lab' in resource group 'lab-rg' still running after 0.05s; "
        "run `invoke up --provider aks` again to resume, or `invoke status --provider aks`"
    )


def test_an_update_past_the_timeout_says_how_to_resume(fake: FakeArm, gateway: AksGateway) -> None:
    seeded(fake, "none")
    current = gateway.observe(GROUP, NAME)
    (step,) = plan_transition(current, "calico", lab=NAME).steps
    fake.hold = True
    try:
        with pytest.raises(OperationError, match=r"update of .* still running after 0\.05s; run"):
            gateway.update_cluster(
                GROUP, NAME, update_body(current, step), current.etag, timeout=0.05
            )
    finally:
        fake.release()


def test_an_operation_within_the_timeout_returns_its_result(
    fake: FakeArm, gateway: AksGateway
) -> None:
    fake.seed_group(GROUP)
    created = gateway.create_cluster(GROUP, NAME, cluster_body(spec("none"), "1.33"), timeout=30)
    assert created.provisioning_state == "Succeeded"


def test_a_failed_operation_leaves_the_cluster_failed(fake: FakeArm, gateway: AksGateway) -> None:
    fake.seed_group(GROUP)
    fake.fail_next()
    with pytest.raises(OperationError, match="ReconcileVMSSAgentPoolFailed"):
        gateway.create_cluster(GROUP, NAME, cluster_body(spec("none"), "1.33"))
    failed = gateway.observe(GROUP, NAME)
    assert failed is not None and failed.provisioning_state == "Failed" and failed.etag


def test_observe_reads_engine_etag_pools_and_tags(fake: FakeArm, gateway: AksGateway) -> None:
    seeded(fake, "calico")
    seen = gateway.observe(GROUP, NAME)
    assert seen is not None
    assert (seen.engine, seen.etag, seen.provisioning_state) == (
        "calico",
        "etag-seeded",
        "Succeeded",
    )
    assert [(p.name, p.os_type) for p in seen.node_pools] == [("system", "Linux")]
    assert seen.node_resource_group == "MC_lab-rg_lab_westeurope"
    assert seen.tags["managed-by"] == "netpol-lab"


def test_observe_returns_none_for_a_missing_cluster_or_group(
    fake: FakeArm, gateway: AksGateway
) -> None:
    assert gateway.observe("no-such-rg", NAME) is None
    fake.seed_group(GROUP)
    assert gateway.observe(GROUP, NAME) is None
    assert [r.method for r in fake.requests] == ["GET", "GET"]


# -- update ----------------------------------------------------------------------------------------


def test_update_sends_if_match_and_only_changes_the_network_profile(
    fake: FakeArm, gateway: AksGateway
) -> None:
    seeded(fake, "none")
    current = gateway.observe(GROUP, NAME)
    (step,) = plan_transition(current, "calico", lab=NAME).steps

    updated = gateway.update_cluster(GROUP, NAME, update_body(current, step), current.etag)

    (put,) = fake.calls("PUT", "/managedClusters/")
    assert put.headers["if-match"] == '"etag-seeded"'
    assert "if-none-match" not in put.headers
    sent = put.body
    assert sent["properties"]["networkProfile"]["networkPolicy"] == "calico"
    # Everything else is the cluster as read, minus what the service computes.
    assert sent["properties"]["agentPoolProfiles"][0]["count"] == 2
    assert sent["tags"] == current.tags
    for readonly in ("provisioningState", "fqdn", "powerState", "currentKubernetesVersion"):
        assert readonly not in sent["properties"]
    assert "eTag" not in sent and "principalId" not in sent["identity"]
    assert "effectiveOutboundIPs" not in sent["properties"]["networkProfile"]["loadBalancerProfile"]
    assert updated.engine == "calico" and updated.etag != current.etag


def test_a_stale_etag_becomes_a_clear_message(fake: FakeArm, gateway: AksGateway) -> None:
    seeded(fake, "none")
    current = gateway.observe(GROUP, NAME)
    fake.clusters[(GROUP, NAME)]["eTag"] = "changed-by-someone"
    (step,) = plan_transition(current, "azure", lab=NAME).steps
    with pytest.raises(OperationError) as err:
        gateway.update_cluster(GROUP, NAME, update_body(current, step), current.etag)
    assert str(err.value) == (
        "the cluster changed since it was read (cluster 'lab' in resource group 'lab-rg'); "
        "re-run plan"
    )
    assert fake.calls("PUT")[0].headers["if-match"] == '"etag-seeded"'


def test_a_running_operation_gives_409_and_says_to_wait(fake: FakeArm, gateway: AksGateway) -> None:
    seeded(fake, "none", provisioningState="Upgrading")
    current = gateway.observe(GROUP, NAME)
    with pytest.raises(OperationError, match=r"OperationNotAllowed: .*wait for it to finish"):
        gateway.update_cluster(GROUP, NAME, dict(current.raw), current.etag)


def test_engine_change_azure_to_calico_runs_through_none(
    fake: FakeArm, gateway: AksGateway
) -> None:
    seeded(fake, "azure")
    current = gateway.observe(GROUP, NAME)
    transition = plan_transition(current, "calico", lab=NAME)
    for step in transition.steps:
        current = gateway.update_cluster(GROUP, NAME, update_body(current, step), current.etag)
    policies = [p.body["properties"]["networkProfile"]["networkPolicy"] for p in fake.calls("PUT")]
    assert policies == ["none", "calico"]
    assert gateway.observe(GROUP, NAME).engine == "calico"


def test_the_direct_switch_the_plan_avoids_is_rejected_by_arm(
    fake: FakeArm, gateway: AksGateway
) -> None:
    # Proves the fake enforces the rule, so the previous test's success means something.
    seeded(fake, "azure")
    current = gateway.observe(GROUP, NAME)
    body = copy.deepcopy(
        update_body(current, plan_transition(current, "calico", lab=NAME).steps[1])
    )
    with pytest.raises(
        OperationError, match="InvalidParameter: Changing network policy from azure"
    ):
        gateway.update_cluster(GROUP, NAME, body, current.etag)


def test_dataplane_upgrade_to_cilium_keeps_the_ipam_mode(
    fake: FakeArm, gateway: AksGateway
) -> None:
    seeded(fake, "calico")
    current = gateway.observe(GROUP, NAME)
    (step,) = plan_transition(current, "cilium", lab=NAME).steps
    after = gateway.update_cluster(GROUP, NAME, update_body(current, step), current.etag)
    net = fake.calls("PUT")[0].body["properties"]["networkProfile"]
    # What `az aks update --network-dataplane cilium` sends: the dataplane changed, the engine
    # as read (azure-cli update_network_plugin_settings); AKS replaces the engine itself.
    assert (net["networkDataplane"], net["networkPolicy"]) == ("cilium", "calico")
    assert "networkPluginMode" not in net  # node subnet stays node subnet: never IPAM + dataplane
    assert after.engine == "cilium"
    assert fake.clusters[(GROUP, NAME)]["properties"]["networkProfile"]["networkPolicy"] == (
        "cilium"
    )


def test_the_fake_rejects_cilium_policy_without_the_cilium_dataplane(
    fake: FakeArm, gateway: AksGateway
) -> None:
    seeded(fake, "none")
    current = gateway.observe(GROUP, NAME)
    body = copy.deepcopy(dict(current.raw))
    body["properties"]["networkProfile"]["networkPolicy"] = "cilium"
    with pytest.raises(OperationError, match="networkPolicy cilium requires networkDataplane"):
        gateway.update_cluster(GROUP, NAME, body, current.etag)


def test_the_fake_rejects_a_cilium_upgrade_with_node_auto_provisioning(
    fake: FakeArm, gateway: AksGateway
) -> None:
    # Proves the fake enforces update-azure-cni.md, so the tool's refusal avoids a real error.
    seeded(fake, "azure", nodeProvisioningProfile={"mode": "Auto"})
    current = gateway.observe(GROUP, NAME)
    assert current.auto_provisioned
    body = copy.deepcopy(dict(current.raw))
    body["properties"]["networkProfile"]["networkDataplane"] = "cilium"
    with pytest.raises(OperationError, match="node auto-provisioning can't be updated"):
        gateway.update_cluster(GROUP, NAME, body, current.etag)


def test_a_stopped_cluster_accepts_delete_but_no_put(fake: FakeArm, gateway: AksGateway) -> None:
    seeded(fake, "azure", powerState={"code": "Stopped"})
    current = gateway.observe(GROUP, NAME)
    assert current.stopped and not current.busy  # Succeeded, but deallocated
    with pytest.raises(OperationError, match=r"OperationNotAllowed: .* is stopped"):
        gateway.update_cluster(GROUP, NAME, dict(current.raw), current.etag)
    gateway.delete_cluster(GROUP, NAME)
    assert gateway.observe(GROUP, NAME) is None


# -- retries, credentials, versions ----------------------------------------------------------------


def test_429_is_retried_after_the_advertised_delay(fake: FakeArm, gateway: AksGateway) -> None:
    seeded(fake)
    fake.throttle(times=1, retry_after=7)
    assert gateway.observe(GROUP, NAME) is not None
    assert [r.method for r in fake.requests] == ["GET", "GET"]
    assert fake.sleeps == [7.0]  # the SDK's retry policy honoured Retry-After (recorded, not slept)


def test_credential_failure_is_one_line_on_how_to_log_in(fake: FakeArm) -> None:
    from azure.identity import CredentialUnavailableError

    broken = FakeCredential(CredentialUnavailableError("EnvironmentCredential: incomplete\nmore"))
    gateway = AksGateway(fake.subscription, broken, transport=fake, polling_interval=0)
    with pytest.raises(UsageError) as err:
        gateway.observe(GROUP, NAME)
    message = str(err.value)
    assert "\n" not in message
    assert "az login" in message
    for var in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_SUBSCRIPTION_ID",
    ):
        assert var in message
    assert fake.requests == []  # the token is fetched before anything is sent


AZURE_ENV = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME")


def test_a_failing_credential_chain_logs_nothing_below_critical(
    fake: FakeArm, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from azure.identity import ChainedTokenCredential, EnvironmentCredential

    for var in AZURE_ENV:
        monkeypatch.delenv(var, raising=False)
    # The real azure-identity chain: it logs a WARNING listing every credential it tried.
    chain = ChainedTokenCredential(EnvironmentCredential())
    gateway = AksGateway(fake.subscription, chain, transport=fake, polling_interval=0)
    caplog.set_level(logging.DEBUG)  # as chatty as a user's logging set-up could make it

    with pytest.raises(UsageError, match="az login"):
        gateway.observe(GROUP, NAME)

    assert [(r.name, r.levelname) for r in caplog.records if r.name.startswith("azure.")] == []
    # Quiet only while the gateway talks to Azure: the levels are back afterwards.
    assert logging.getLogger("azure.identity").level == logging.NOTSET
    logging.getLogger("azure.identity._credentials.chained").warning("later")
    assert caplog.records[-1].getMessage() == "later"


def test_a_failing_credential_prints_only_our_line_to_stderr(tmp_path: Path) -> None:
    """The user's view: a process without logging set-up, where warnings reach stderr."""
    script = f"""
import sys
from azure.identity import ChainedTokenCredential, EnvironmentCredential
from provisioning.providers.aks.gateway import AksGateway
from provisioning.errors import UsageError
from tests.aks.fake_arm import FakeArm

fake = FakeArm()
gateway = AksGateway(fake.subscription, ChainedTokenCredential(EnvironmentCredential()),
                     transport=fake, polling_interval=0)
try:
    gateway.observe({GROUP!r}, {NAME!r})
except UsageError as err:
    print(err, file=sys.stderr)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (line,) = done.stderr.splitlines()
    assert line.startswith("no Azure credential worked: run `az login`")
    assert done.stdout == ""


def test_authentication_error_is_mapped_too(fake: FakeArm) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    gateway = AksGateway(
        fake.subscription, FakeCredential(ClientAuthenticationError("expired")), transport=fake
    )
    with pytest.raises(UsageError, match="az login"):
        gateway.group_exists(GROUP)


def test_missing_subscription_names_the_env_var_and_profile_key(monkeypatch) -> None:
    with pytest.raises(UsageError, match=r"AZURE_SUBSCRIPTION_ID or aks\.subscription_id"):
        AksGateway(None)
    with pytest.raises(UsageError, match="AZURE_SUBSCRIPTION_ID"):
        resolve_subscription(None)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "from-env")
    assert resolve_subscription(None) == "from-env"
    assert resolve_subscription("from-profile") == "from-profile"


def test_default_credential_is_created_lazily_without_the_browser(monkeypatch) -> None:
    import azure.identity

    made: list[dict] = []
    monkeypatch.setattr(
        azure.identity, "DefaultAzureCredential", lambda **kw: made.append(kw) or "cred"
    )
    gateway = AksGateway("sub")
    assert made == []
    assert gateway.credential == "cred"
    assert made == [{"exclude_interactive_browser_credential": True}]


def test_default_version_is_the_regions_default_non_preview(gateway: AksGateway) -> None:
    assert gateway.default_kubernetes_version("westeurope") == "1.33"


def test_a_preview_default_is_never_chosen(fake: FakeArm, gateway: AksGateway) -> None:
    fake.versions["northeurope"] = {
        "values": [{"version": "1.35", "isDefault": True, "isPreview": True}]
    }
    with pytest.raises(OperationError, match=r"no default non-preview.*aks\.kubernetes_version"):
        gateway.default_kubernetes_version("northeurope")


def test_user_kubeconfig_is_decoded_bytes(fake: FakeArm, gateway: AksGateway) -> None:
    seeded(fake)
    assert gateway.user_kubeconfig(GROUP, NAME) == fake.kubeconfig
    (post,) = fake.calls("POST", "/listClusterUserCredential")
    assert post.body is None


def test_missing_cluster_credentials_are_an_operation_error(
    fake: FakeArm, gateway: AksGateway
) -> None:
    fake.seed_group(GROUP)
    with pytest.raises(
        OperationError, match=r"could not get credentials for cluster 'lab'.*ResourceNotFound"
    ):
        gateway.user_kubeconfig(GROUP, NAME)


# -- resource groups -------------------------------------------------------------------------------


def test_ensure_group_creates_once_with_the_given_tags(fake: FakeArm, gateway: AksGateway) -> None:
    tags = {"managed-by": "netpol-lab", "netpol-lab-lab": NAME}
    assert gateway.ensure_group(GROUP, "westeurope", tags) is True
    assert gateway.ensure_group(GROUP, "westeurope", {"other": "x"}) is False
    (put,) = fake.calls("PUT", "/resourcegroups/")
    assert put.body == {"location": "westeurope", "tags": tags}
    assert [r.method for r in fake.calls("HEAD")] == ["HEAD", "HEAD"]


def test_requests_are_json_and_name_the_api_version(fake: FakeArm, gateway: AksGateway) -> None:
    fake.seed_group(GROUP)
    gateway.create_cluster(GROUP, NAME, cluster_body(spec("none"), "1.33"))
    put = fake.calls("PUT")[0]
    assert put.headers["content-type"] == "application/json"
    assert json.loads(json.dumps(put.body)) == put.body
