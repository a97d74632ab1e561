"""Policy templates and scenarios: golden renders, strict loading, and errors that name the file.

Regenerate the golden files after an intended change with
``UPDATE_GOLDEN=1 /work/venv/bin/python -m pytest tests/test_policies.py`` and review the diff.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.errors import EXIT_USAGE, UsageError
from provisioning.spec import lab_labels
from provisioning.workload import demo as workload
from provisioning.workload import policies, scenarios
from tests.golden_files import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "policies"
CLUSTER_WIDE_KINDS = ("ClusterNetworkPolicy", "GlobalNetworkPolicy")
LAB = "netpol-lab"
NAMES = policies.scenario_names()
NEW = len(NAMES)  # the index of a scenario a test appends


def golden_text(rendered: policies.RenderedScenario) -> str:
    if not rendered.objects:
        return "# no objects\n"
    return "".join(
        f"---\n# {template}\n{yaml.safe_dump(obj, sort_keys=False)}"
        for template, obj in rendered.items()
    )


@pytest.fixture
def lab_dir(tmp_path: Path) -> Path:
    """A copy of the real policies/ directory that a test may break."""
    root = tmp_path / "policies"
    shutil.copytree(scenarios.default_root(), root)
    return root


def add_scenario(root: Path, body: str) -> None:
    with (root / scenarios.SCENARIOS_FILE).open("a", encoding="utf-8") as f:
        f.write(textwrap.indent(textwrap.dedent(body), "  "))


def add_template(root: Path, name: str, text: str) -> None:
    (root / f"{name}.yaml.j2").write_text(textwrap.dedent(text), encoding="utf-8")


def usage_error(call, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as info:
        call(*args)
    message = str(info.value)
    assert info.value.exit_code == EXIT_USAGE
    assert "\n" not in message, "user-facing errors are one line"
    return message


GOOD_HEADER = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
  namespace: {{{{ namespace }}}}
  labels: {{{{ labels | tojson }}}}
"""


# --- the shipped scenarios ---------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_rendered_scenario_matches_golden(name: str) -> None:
    assert_golden(f"policies/{name}.yaml", golden_text(policies.render_scenario(name, LAB)))


def test_no_stale_golden_files() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.yaml")) == sorted(NAMES)


def test_required_scenarios_exist_in_lab_order() -> None:
    for required in ("open", "aks-demo", "zero-trust", "namespace-isolation"):
        assert required in NAMES
    assert NAMES[0] == "open"
    assert policies.load_scenario("open").policies == ()


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_validates(name: str) -> None:
    rendered = policies.prepare_scenario(name, LAB)
    assert len(rendered.objects) == len(rendered.templates)


@pytest.mark.parametrize("name", NAMES)
def test_every_rendered_object_is_labelled_and_annotated(name: str) -> None:
    rendered = policies.render_scenario(name, "lab-b")
    for template, obj in rendered.items():
        metadata = obj["metadata"]
        assert lab_labels("lab-b").items() <= metadata["labels"].items(), template
        assert metadata["annotations"][policies.ANNOTATION_TEMPLATE] == template
        if obj["kind"] in CLUSTER_WIDE_KINDS:
            assert metadata["name"].startswith("lab-b-") and "namespace" not in metadata
        else:
            assert metadata["namespace"] in workload.NAMESPACES


def test_every_template_is_used_by_some_scenario() -> None:
    used = {ref.template for n in NAMES for ref in policies.load_scenario(n).policies}
    assert used == set(scenarios.template_names())


@pytest.mark.parametrize("name", NAMES)
def test_expectations_name_existing_pods_and_ports(name: str) -> None:
    scenario = policies.load_scenario(name)
    sentences = len(re.findall(r"[.!?](?:\s|$)", scenario.description))
    assert 2 <= sentences <= 4, "2-4 sentences for the attendee"
    for exp in scenario.expectations:
        source, target = workload.find_pod(exp.source), workload.find_pod(exp.target)
        assert source is not None and target is not None, exp.describe()
        assert target.port(exp.port, exp.protocol) is not None, exp.describe()


def test_aks_demo_is_the_walkthrough_policy() -> None:
    (obj,) = policies.render_scenario("aks-demo", LAB).objects
    assert obj["metadata"]["name"] == "demo-policy"
    assert obj["metadata"]["namespace"] == workload.DEMO_NAMESPACE
    assert obj["spec"]["podSelector"] == {"matchLabels": {"app": "server"}}
    (rule,) = obj["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app": "client"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 80}]


def test_zero_trust_denies_both_ways_in_both_namespaces_and_allows_dns() -> None:
    objects = policies.render_scenario("zero-trust", LAB).objects
    deny = {
        (o["metadata"]["namespace"], t)
        for o in objects
        if o["spec"]["podSelector"] == {}
        and not o["spec"].get("ingress")
        and not o["spec"].get("egress")
        for t in o["spec"]["policyTypes"]
    }
    assert deny == {(ns, t) for ns in workload.NAMESPACES for t in ("Ingress", "Egress")}
    dns = [o for o in objects if o["metadata"]["name"] == "allow-dns-egress"]
    assert {o["metadata"]["namespace"] for o in dns} == set(workload.NAMESPACES)
    ports = {(p["protocol"], p["port"]) for p in dns[0]["spec"]["egress"][0]["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53)}


def test_one_port_uses_a_named_port() -> None:
    (obj,) = policies.render_scenario("one-port", LAB).objects
    (rule,) = obj["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": workload.MAIN_PORT.name}]


def test_db_policy_ands_selectors_in_one_peer_and_ors_an_ipblock() -> None:
    (obj,) = policies.render_scenario("db-combined", LAB).objects
    peers = obj["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector", "podSelector"} == set(peers[0])
    assert set(peers[1]) == {"ipBlock"}


def test_egress_ipblock_excepts_the_metadata_endpoint() -> None:
    objects = policies.render_scenario("egress-ipblock", LAB).objects
    assert len(objects) == 2  # one per lab namespace
    for obj in objects:
        block = obj["spec"]["egress"][0]["to"][0]["ipBlock"]
        assert block == {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}


def test_unknown_scenario_lists_the_choices() -> None:
    message = usage_error(policies.load_scenario, "bogus")
    assert "'bogus'" in message
    for name in NAMES:
        assert name in message
    usage_error(policies.render_scenario, "bogus", LAB)


# --- broken templates ----------------------------------------------------------------------


def test_syntax_error_names_template_and_line(lab_dir: Path) -> None:
    add_template(lab_dir, "broken", GOOD_HEADER.format(name="broken") + "spec: {{ oops }\n")
    add_scenario(lab_dir, "- {name: broken, title: t, description: d, policies: [broken]}\n")
    message = usage_error(policies.render_scenario, "broken", LAB, lab_dir)
    assert "broken.yaml.j2 line 7" in message
    assert "syntax error" in message


def test_undefined_variable_names_template_line_and_variable(lab_dir: Path) -> None:
    body = GOOD_HEADER.format(name="broken") + "spec:\n  podSelector: {{ selector }}\n"
    add_template(lab_dir, "broken", body)
    add_scenario(lab_dir, "- {name: broken, title: t, description: d, policies: [broken]}\n")
    message = usage_error(policies.render_scenario, "broken", LAB, lab_dir)
    assert "broken.yaml.j2 line 8" in message
    assert "'selector' is undefined" in message


def test_undefined_attribute_is_an_error_too(lab_dir: Path) -> None:
    body = GOOD_HEADER.format(name="broken") + "spec:\n  x: {{ ports.nosuch.number }}\n"
    add_template(lab_dir, "broken", body)
    add_scenario(lab_dir, "- {name: broken, title: t, description: d, policies: [broken]}\n")
    message = usage_error(policies.render_scenario, "broken", LAB, lab_dir)
    assert "broken.yaml.j2" in message and "nosuch" in message


def test_missing_namespace_variable_is_undefined_not_jinjas_helper(lab_dir: Path) -> None:
    # Jinja's global `namespace()` would otherwise render as "<class ...>" here.
    add_template(lab_dir, "broken", "kind: {{ namespace }}\n")
    add_scenario(lab_dir, "- {name: broken, title: t, description: d, policies: [broken]}\n")
    env = policies._environment(lab_dir)
    with pytest.raises(Exception, match="'namespace' is undefined"):
        env.get_template("broken.yaml.j2").render({})


def test_invalid_networkpolicy_is_refused_before_apply(lab_dir: Path) -> None:
    body = GOOD_HEADER.format(name="broken") + textwrap.dedent(
        """\
        spec:
          podSelector: {}
          ingress:
            - from:
                - ipBlock: {cidr: 10.0.0.0/8}
                  podSelector: {}
        """
    )
    add_template(lab_dir, "broken", body)
    add_scenario(lab_dir, "- {name: broken, title: t, description: d, policies: [broken]}\n")
    rendered = policies.render_scenario("broken", LAB, lab_dir)
    message = usage_error(policies.validate_rendered, rendered)
    assert "broken.yaml.j2" in message
    assert "NetworkPolicy demo/broken" in message
    assert "ipBlock" in message
    assert "nothing was applied" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: demo}\n",
            "may only render networking.k8s.io/v1/NetworkPolicy",
            id="wrong-kind",
        ),
        pytest.param(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {name: x, namespace: demo}\nspec: {podSelector: {}}\n",
            "lacks the lab labels",
            id="no-labels",
        ),
        pytest.param(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {name: x, namespace: kube-system, labels: {{ labels | tojson }}}\n"
            "spec: {podSelector: {}}\n",
            "must be one of the lab's namespaces",
            id="foreign-namespace",
        ),
        pytest.param(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
            "metadata: {namespace: demo, labels: {{ labels | tojson }}}\nspec: {podSelector: {}}\n",
            "metadata.name is missing",
            id="no-name",
        ),
    ],
)
def test_objects_the_lab_cannot_own_are_refused(lab_dir: Path, body: str, expected: str) -> None:
    add_template(lab_dir, "broken", body)
    add_scenario(lab_dir, "- {name: broken, title: t, description: d, policies: [broken]}\n")
    message = usage_error(policies.prepare_scenario, "broken", LAB, lab_dir)
    assert "broken.yaml.j2" in message
    assert expected in message


def test_invalid_yaml_output_names_template(lab_dir: Path) -> None:
    add_template(lab_dir, "broken", "a: [1, 2\nb: {{ lab }}\n")
    add_scenario(lab_dir, "- {name: broken, title: t, description: d, policies: [broken]}\n")
    message = usage_error(policies.render_scenario, "broken", LAB, lab_dir)
    assert "broken.yaml.j2 renders invalid YAML" in message


def test_same_object_twice_is_refused(lab_dir: Path) -> None:
    add_scenario(
        lab_dir,
        "- {name: twice, title: t, description: d, policies: [demo-policy, demo-policy]}\n",
    )
    message = usage_error(policies.prepare_scenario, "twice", LAB, lab_dir)
    assert "also rendered by demo-policy.yaml.j2" in message


def test_unused_vars_are_refused(lab_dir: Path) -> None:
    add_scenario(
        lab_dir,
        "- {name: typo, title: t, description: d,"
        " policies: [{template: demo-policy, vars: {namspace: other}}]}\n",
    )
    message = usage_error(policies.render_scenario, "typo", LAB, lab_dir)
    assert "scenarios.yaml" in message and "namspace" in message and "demo-policy" in message


def test_vars_override_the_defaults(lab_dir: Path) -> None:
    add_scenario(
        lab_dir,
        "- {name: moved, title: t, description: d,"
        " policies: [{template: demo-policy, vars: {namespace: other}}]}\n",
    )
    (obj,) = policies.prepare_scenario("moved", LAB, lab_dir).objects
    assert obj["metadata"]["namespace"] == workload.OTHER_NAMESPACE


# --- the scenarios file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            "- {name: x, title: t, description: d, policies: [], colour: red}\n",
            f"scenarios[{NEW}].colour: unknown key",
            id="unknown-key",
        ),
        pytest.param(
            "- {name: x, title: t, description: d}\n",
            f"scenarios[{NEW}].policies: missing required key",
            id="missing-key",
        ),
        pytest.param(
            "- {name: x, title: t, description: d, policies: demo-policy}\n",
            f"scenarios[{NEW}].policies: expected a list, got str",
            id="wrong-type",
        ),
        pytest.param(
            "- {name: X_Y, title: t, description: d, policies: []}\n",
            f"scenarios[{NEW}].name",
            id="bad-name",
        ),
        pytest.param(
            "- {name: open, title: t, description: d, policies: []}\n",
            "duplicate scenario 'open'",
            id="duplicate-name",
        ),
        pytest.param(
            "- {name: x, title: t, description: d, policies: [demo-polcy]}\n",
            f"scenarios[{NEW}].policies[0].template: no template 'demo-polcy'",
            id="missing-template",
        ),
        pytest.param(
            "- {name: x, title: t, description: d, policies: [],"
            " expect: [{from: demo/ghost, to: demo/server, port: 80, expect: allow}]}\n",
            f"scenarios[{NEW}].expect[0].from: unknown pod 'demo/ghost'",
            id="unknown-pod",
        ),
        pytest.param(
            "- {name: x, title: t, description: d, policies: [],"
            " expect: [{from: demo/client, to: demo/server, port: 9999, expect: allow}]}\n",
            "demo/server does not listen on 9999/TCP",
            id="unknown-port",
        ),
        pytest.param(
            "- {name: x, title: t, description: d, policies: [],"
            " expect: [{from: demo/client, to: demo/server, port: '80', expect: allow}]}\n",
            "expected a port number, got str",
            id="port-as-string",
        ),
        pytest.param(
            "- {name: x, title: t, description: d, policies: [],"
            " expect: [{from: demo/client, to: demo/server, port: 80, expect: maybe}]}\n",
            f"scenarios[{NEW}].expect[0].expect: 'maybe'; choose one of: allow, deny",
            id="bad-verdict",
        ),
        pytest.param(
            "- {name: x, title: t, description: d, policies: [],"
            " expect: [{from: demo/server, to: demo/server, port: 80, expect: allow}]}\n",
            "probing itself",
            id="self-probe",
        ),
        pytest.param(
            "- {name: x, name: y, title: t, description: d, policies: []}\n",
            "duplicate key 'name'",
            id="duplicate-yaml-key",
        ),
        pytest.param("- [unclosed\n", "not valid YAML: did not find", id="bad-yaml"),
    ],
)
def test_scenarios_file_is_checked_strictly(lab_dir: Path, entry: str, expected: str) -> None:
    add_scenario(lab_dir, entry)
    message = usage_error(policies.scenario_names, lab_dir)
    assert "scenarios.yaml" in message
    assert expected in message


def test_missing_scenarios_file_says_where(tmp_path: Path) -> None:
    message = usage_error(policies.scenario_names, tmp_path)
    assert "scenarios.yaml" in message


def test_expectations_are_parsed() -> None:
    first = policies.load_scenario("aks-demo").expectations[0]
    assert first == scenarios.Expectation("demo/client", "demo/server", 80, "TCP", True)
    assert first.describe() == "demo/client -> demo/server:80/TCP allow"


# --- the stated expectations agree with the policies ----------------------------------------
#
# A deliberately small reference reading of NetworkPolicy (kubernetes.io "Network Policies"):
# a connection needs the source's egress AND the destination's ingress; a pod is isolated for a
# direction when a policy of its namespace selects it with that type, and then only the union
# of the rules admits; a podSelector-only peer stays in the policy's namespace; selectors in one
# peer are ANDed; named ports resolve on the destination pod. It knows only what the shipped
# templates use and fails loudly on anything else, so it cannot silently agree.

MANIFESTS = workload.demo_manifests(LAB)
NS_LABELS = {
    o["metadata"]["name"]: {
        **o["metadata"]["labels"],
        "kubernetes.io/metadata.name": o["metadata"]["name"],
    }
    for o in MANIFESTS
    if o["kind"] == "Namespace"
}
POD_LABELS = {
    f"{o['metadata']['namespace']}/{o['metadata']['name']}": o["metadata"]["labels"]
    for o in MANIFESTS
    if o["kind"] == "Pod"
}
# Addresses from kind's pod subnet, for the engines that match ipBlocks against pod IPs.
POD_IPS = {ref: ipaddress.ip_address(f"10.244.1.{i + 10}") for i, ref in enumerate(POD_LABELS)}


def _selects(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, f"reference reading lacks {selector}"
    return selector.get("matchLabels", {}).items() <= labels.items()


def _admits(peer: dict, policy_ns: str, other: workload.PodSpec, ipblock_sees_pods: bool) -> bool:
    if "ipBlock" in peer:
        ip, block = POD_IPS[other.ref], peer["ipBlock"]
        inside = ip in ipaddress.ip_network(block["cidr"])
        excluded = any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
        return ipblock_sees_pods and inside and not excluded
    assert set(peer) <= {"podSelector", "namespaceSelector"}, peer
    if "namespaceSelector" in peer:
        ns_ok = _selects(peer["namespaceSelector"], NS_LABELS[other.namespace])
    else:
        ns_ok = other.namespace == policy_ns
    return ns_ok and _selects(peer.get("podSelector", {}), POD_LABELS[other.ref])


def _port_ok(ports: list | None, dest: workload.PodSpec, number: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        assert "endPort" not in p, "reference reading lacks endPort"
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p:
            return True
        if isinstance(p["port"], str):
            named = next((q for q in dest.ports if q.name == p["port"]), None)
            if named is not None and named.protocol == protocol and named.number == number:
                return True
        elif p["port"] == number:
            return True
    return False


def _direction_allows(
    objects: tuple,
    pod: workload.PodSpec,
    direction: str,
    other: workload.PodSpec,
    dest: workload.PodSpec,
    number: int,
    protocol: str,
    ipblock_sees_pods: bool,
) -> bool:
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolating = []
    for obj in objects:
        if obj["kind"] != "NetworkPolicy":
            # This reading knows the NetworkPolicy tier only: a scenario's stated expectations
            # must be decided there (cluster-guardrails' are: the server is selected); the tiers
            # around it are checked by the analyzer test below and tests/analysis/test_cnp_*.
            continue
        spec = obj["spec"]
        types = spec.get("policyTypes") or ["Ingress"] + (["Egress"] if spec.get("egress") else [])
        if (
            obj["metadata"]["namespace"] == pod.namespace
            and _selects(spec["podSelector"], POD_LABELS[pod.ref])
            and direction in types
        ):
            isolating.append(obj)
    if not isolating:
        return True
    return any(
        (
            not rule.get(peers_key)
            or any(
                _admits(peer, obj["metadata"]["namespace"], other, ipblock_sees_pods)
                for peer in rule[peers_key]
            )
        )
        and _port_ok(rule.get("ports"), dest, number, protocol)
        for obj in isolating
        for rule in obj["spec"].get(rules_key) or []
    )


def reference_verdict(objects: tuple, exp: scenarios.Expectation, ipblock_sees_pods: bool) -> bool:
    src, dst = workload.find_pod(exp.source), workload.find_pod(exp.target)
    assert src is not None and dst is not None
    args = (exp.port, exp.protocol, ipblock_sees_pods)
    return _direction_allows(objects, src, "Egress", dst, dst, *args) and _direction_allows(
        objects, dst, "Ingress", src, dst, *args
    )


@pytest.mark.parametrize("ipblock_sees_pods", [True, False], ids=["calico-npm", "cilium"])
@pytest.mark.parametrize("name", NAMES)
def test_stated_expectations_follow_from_the_policies(name: str, ipblock_sees_pods: bool) -> None:
    # Both readings of ipBlock-vs-pod-IP must agree: the lab's expectations hold on every engine.
    rendered = policies.render_scenario(name, LAB)
    assert rendered.scenario.expectations, "every scenario states what it shows"
    wrong = [
        exp.describe()
        for exp in rendered.scenario.expectations
        if reference_verdict(rendered.objects, exp, ipblock_sees_pods) != exp.allowed
    ]
    assert not wrong


def test_db_policy_peers_split_in_two_would_admit_the_intruder() -> None:
    # The claim made to attendees in db-combined: AND in one peer, OR across peers.
    (obj,) = policies.render_scenario("db-combined", LAB).objects
    split = copy.deepcopy(obj)
    peer = split["spec"]["ingress"][0]["from"][0]
    split["spec"]["ingress"][0]["from"][0:1] = [
        {"namespaceSelector": peer["namespaceSelector"]},
        {"podSelector": peer["podSelector"]},
    ]
    probe = scenarios.Expectation("demo/intruder", "demo/server", 80, "TCP", False)
    assert reference_verdict((obj,), probe, ipblock_sees_pods=False) is False
    assert reference_verdict((split,), probe, ipblock_sees_pods=False) is True


@pytest.mark.parametrize("engine", ["calico", "azure", "cilium"])
@pytest.mark.parametrize("name", NAMES)
def test_the_analyzer_agrees_with_the_stated_expectations(name: str, engine: str) -> None:
    # Cross-check with provisioning.analysis, written independently of the reference above.
    from provisioning.analysis.analyzer import analyze
    from provisioning.analysis.model import ClusterModel, Probe

    cluster = ClusterModel.from_dict(
        {
            "namespaces": {
                ns: {
                    "labels": {
                        k: v for k, v in labels.items() if k != "kubernetes.io/metadata.name"
                    }
                }
                for ns, labels in NS_LABELS.items()
            },
            "pods": [
                {
                    "namespace": pod.namespace,
                    "name": pod.name,
                    "labels": POD_LABELS[pod.ref],
                    "ip": str(POD_IPS[pod.ref]),
                    "ports": [
                        {"name": p.name, "port": p.number, "protocol": p.protocol}
                        for p in pod.ports
                    ],
                }
                for pod in workload.pods()
            ],
        }
    )
    scenario = policies.load_scenario(name)
    probes = [Probe(e.source, e.target, e.port, e.protocol) for e in scenario.expectations]
    objects = policies.render_scenario(name, LAB).objects
    results = list(analyze(cluster, objects, probes, engine=engine).results())
    wrong = [
        e.describe()
        for e, r in zip(scenario.expectations, results, strict=True)
        if r.allowed != e.allowed
    ]
    assert not wrong


# --- physical namespaces: a lab on a shared cluster ("existing") -----------------------------
#
# Scenarios and templates speak of demo/other; a lab whose namespaces carry a suffix must get
# every object in demo-mylab/other-mylab and nothing in demo/other.

SUFFIX = "-mylab"
PHYSICAL = ("demo-mylab", "other-mylab")


def _strings(value: object) -> list[str]:
    """Every string key and value anywhere in ``value``."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _moved(obj: Any, suffix: str) -> Any:
    """``obj`` with every string naming a lab namespace (its own namespace, a namespace name a
    selector matches) made physical: what rendering with ``suffix`` must give, and no more."""
    if isinstance(obj, dict):
        return {k: _moved(v, suffix) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_moved(v, suffix) for v in obj]
    if isinstance(obj, str) and obj in workload.NAMESPACES:
        return workload.physical_namespace(obj, suffix)
    if isinstance(obj, str):  # a Calico selector names them quoted: 'demo'
        for name in workload.NAMESPACES:
            obj = obj.replace(f"'{name}'", f"'{workload.physical_namespace(name, suffix)}'")
    return obj


def test_template_context_names_the_physical_namespaces() -> None:
    context = policies.template_context(LAB, SUFFIX)
    assert context["namespace"] == "demo-mylab"
    assert context["namespaces"] == {"demo": "demo-mylab", "other": "other-mylab"}
    assert policies.template_context(LAB) == policies.template_context(LAB, "")
    assert policies.template_context(LAB)["namespaces"] == {"demo": "demo", "other": "other"}


@pytest.mark.parametrize("name", NAMES)
def test_every_scenario_renders_into_the_physical_namespaces_only(name: str) -> None:
    rendered = policies.prepare_scenario(name, LAB, suffix=SUFFIX)  # validate_rendered passes
    assert rendered.suffix == SUFFIX and rendered.namespaces == PHYSICAL
    for template, obj in rendered.items():
        if obj["kind"] in CLUSTER_WIDE_KINDS:  # cluster-scoped: confined by the lab label
            assert "namespace" not in obj["metadata"], template
        else:
            assert obj["metadata"]["namespace"] in PHYSICAL, template
        logical = [s for s in _strings(obj) if s in workload.NAMESPACES]
        assert not logical, (template, logical)
    # The same policies as the unsuffixed lab's, each moved to the physical namespace.
    plain = policies.prepare_scenario(name, LAB)
    assert [_moved(o, SUFFIX) for o in plain.objects] == list(rendered.objects)
    assert rendered.templates == plain.templates


def test_a_scenarios_namespace_var_is_made_physical() -> None:
    # zero-trust says {template: default-deny-ingress, vars: {namespace: other}}: logical.
    objects = policies.prepare_scenario("zero-trust", LAB, suffix=SUFFIX).objects
    deny = {
        o["metadata"]["namespace"]
        for o in objects
        if o["metadata"]["name"] == "default-deny-ingress"
    }
    assert deny == set(PHYSICAL)
    assert policies.physical_vars({"namespace": "other", "x": "other"}, SUFFIX) == {
        "namespace": "other-mylab",
        "x": "other",
    }
    assert policies.physical_vars({"namespace": "kube-system"}, SUFFIX) == {
        "namespace": "kube-system"
    }


def test_a_template_that_hard_codes_a_namespace_is_refused_on_a_suffixed_lab(
    lab_dir: Path,
) -> None:
    add_template(
        lab_dir,
        "fixed",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
        "metadata: {name: fixed, namespace: demo, labels: {{ labels | tojson }}}\n"
        "spec: {podSelector: {}}\n",
    )
    add_scenario(lab_dir, "- {name: fixed, title: t, description: d, policies: [fixed]}\n")
    policies.prepare_scenario("fixed", LAB, lab_dir)  # fine where demo is the real name
    message = usage_error(
        functools.partial(policies.prepare_scenario, suffix=SUFFIX), "fixed", LAB, lab_dir
    )
    assert "fixed.yaml.j2" in message
    assert "metadata.namespace is 'demo'" in message and "demo-mylab, other-mylab" in message


@pytest.mark.parametrize(
    "selector",
    [
        "{matchLabels: {kubernetes.io/metadata.name: other}}",
        "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [other]}]}",
    ],
    ids=["matchLabels", "matchExpressions"],
)
def test_a_namespace_selected_by_its_logical_name_is_refused_on_a_suffixed_lab(
    lab_dir: Path, selector: str
) -> None:
    body = GOOD_HEADER.format(name="by-name") + (
        "spec:\n  podSelector: {}\n  ingress:\n    - from:\n"
        f"        - namespaceSelector: {selector}\n"
    )
    add_template(lab_dir, "by-name", body)
    add_scenario(lab_dir, "- {name: by-name, title: t, description: d, policies: [by-name]}\n")
    policies.prepare_scenario("by-name", LAB, lab_dir)
    message = usage_error(
        functools.partial(policies.prepare_scenario, suffix=SUFFIX), "by-name", LAB, lab_dir
    )
    assert "by-name.yaml.j2" in message
    assert "selects namespace 'other' by kubernetes.io/metadata.name" in message
    assert "'other-mylab'" in message and "namespaces.other" in message


def test_a_namespace_selected_through_the_variable_gets_the_physical_name(lab_dir: Path) -> None:
    body = GOOD_HEADER.format(name="by-name") + (
        "spec:\n  podSelector: {}\n  ingress:\n    - from:\n        - namespaceSelector:\n"
        "            matchLabels: {kubernetes.io/metadata.name: {{ namespaces.other }}}\n"
    )
    add_template(lab_dir, "by-name", body)
    add_scenario(lab_dir, "- {name: by-name, title: t, description: d, policies: [by-name]}\n")
    (obj,) = policies.prepare_scenario("by-name", LAB, lab_dir, suffix=SUFFIX).objects
    (peer,) = obj["spec"]["ingress"][0]["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "other-mylab"
    }
    assert obj["metadata"]["namespace"] == "demo-mylab"


@pytest.mark.parametrize("engine", ["calico", "cilium"])
@pytest.mark.parametrize("name", NAMES)
def test_the_analyzer_agrees_with_the_stated_expectations_on_a_suffixed_lab(
    name: str, engine: str
) -> None:
    # The suffixed manifests and policies, the stated expectations mapped to physical refs:
    # the verdicts must be those of the unsuffixed lab (the stated ones).
    from provisioning.analysis.analyzer import analyze
    from provisioning.analysis.model import ClusterModel, Probe

    manifests = workload.demo_manifests(LAB, suffix=SUFFIX)
    cluster = ClusterModel.from_dict(
        {
            "namespaces": {
                o["metadata"]["name"]: {"labels": o["metadata"]["labels"]}
                for o in manifests
                if o["kind"] == "Namespace"
            },
            "pods": [
                {
                    "namespace": o["metadata"]["namespace"],
                    "name": o["metadata"]["name"],
                    "labels": o["metadata"]["labels"],
                    "ip": f"10.244.1.{i + 10}",
                    "ports": [p for c in o["spec"]["containers"] for p in c.get("ports", [])],
                }
                for i, o in enumerate(o for o in manifests if o["kind"] == "Pod")
            ],
        }
    )
    scenario = policies.load_scenario(name)
    probes = [
        Probe(
            workload.physical_ref(e.source, SUFFIX),
            workload.physical_ref(e.target, SUFFIX),
            e.port,
            e.protocol,
        )
        for e in scenario.expectations
    ]
    assert all(p.source.startswith(PHYSICAL) for p in probes)
    objects = policies.prepare_scenario(name, LAB, suffix=SUFFIX).objects
    results = list(analyze(cluster, objects, probes, engine=engine).results())
    wrong = [
        e.describe()
        for e, r in zip(scenario.expectations, results, strict=True)
        if r.allowed != e.allowed
    ]
    assert not wrong
