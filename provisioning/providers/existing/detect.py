"""Which NetworkPolicy engine runs in an existing cluster, and whether it will enforce.

``detect_engines`` is pure: it reads plain Kubernetes objects (dicts as the API returns them:
DaemonSets, Deployments, ConfigMaps, Nodes and, rarely, one ClusterRole) and answers with a
``Detection``: every engine found, each with ``enforced`` yes / no / unknown, the reason and the
evidence (``Kind/namespace/name[:key=value]``), and one overall verdict. ``collect`` fetches
exactly those objects through the ``KubeApi`` seam.

The facts behind every rule, with their upstream sources, are in ``docs/engine-detection.md``;
each rule below names the source it relies on. Facts the doc marks UNVERIFIED give ``unknown``.

Overall verdict (the doc's decision rule): "yes" if any engine enforces, "no" if every engine
found says no, otherwise "unknown". Finding nothing is "unknown", never "no": Kubernetes docs,
*Network Policies > Prerequisites*: "Creating a NetworkPolicy resource without a controller that
implements it will have no effect" -- but an engine this module does not know may still enforce.
The lab's canary (issue 10, item 5) stays the ground truth.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from provisioning.kube import KubeApi, KubeError, ObjectRef

Verdict = Literal["yes", "no", "unknown"]

NO_ENGINE_FOUND = "no known engine found"

# kubernetes-sigs/kind PR #3612 ("Kindnet network policies") bumped kindnetd from
# v20240513-cd2ac642 to v20240719-e7903573; first release with it: kind v0.24.0.
KINDNET_POLICY_SINCE = 20240719

K3S_NODE_ARGS = "k3s.io/node-args"  # k3s pkg/nodeconfig/nodeconfig.go NodeArgsAnnotation
TERWAY_EXCLUSIVE_ENI = "k8s.aliyun.com/exclusive-mode-eni-type"  # terway node controller

RBAC_API = "rbac.authorization.k8s.io/v1"


@dataclass(frozen=True)
class EngineMatch:
    """One engine found: its name, whether it enforces NetworkPolicy, why, and on what evidence."""

    name: str
    enforced: Verdict
    reason: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Detection:
    """Every engine found and the overall verdict; ``gaps`` name what could not be read."""

    engines: tuple[EngineMatch, ...]
    enforced: Verdict
    reason: str
    gaps: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The distinct engine names, in the order found."""
        return tuple(dict.fromkeys(m.name for m in self.engines))


@dataclass(frozen=True)
class Collected:
    """What ``collect`` read: the objects, and what it was not allowed to read."""

    objects: tuple[dict[str, Any], ...]
    gaps: tuple[str, ...] = ()


# --- reading objects --------------------------------------------------------------------------


def _ref(obj: Mapping[str, Any], detail: str = "") -> str:
    return f"{ObjectRef.of(obj)}{':' + detail if detail else ''}"


def _meta(obj: Mapping[str, Any], field: str) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get(field) or {})


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _namespace(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
    pod = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    return list(pod.get("containers") or [])


def _container(workload: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    return next((c for c in _containers(workload) if c.get("name") == name), None)


def _flag(container: Mapping[str, Any], name: str, *, boolean: bool) -> str | None:
    """The value of ``--name`` on a container's command line, ``None`` when absent.

    Go pflag syntax: ``--name=value``; a bare boolean ``--name`` means true; a non-boolean flag
    may take its value from the next word.
    """
    words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    for i, word in enumerate(words):
        if word.startswith(f"--{name}="):
            return word.split("=", 1)[1]
        if word == f"--{name}":
            if boolean:
                return "true"
            return words[i + 1] if i + 1 < len(words) else ""
    return None


def _go_bool(value: str | None) -> bool | None:
    """Go ``strconv.ParseBool``: the spellings pflag and Go config readers accept."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _not_running(ds: Mapping[str, Any]) -> str | None:
    """Why a DaemonSet runs no ready pod, when its status says so (no status: no opinion)."""
    status = ds.get("status") or {}
    if "desiredNumberScheduled" not in status:
        return None
    desired, ready = status.get("desiredNumberScheduled") or 0, status.get("numberReady") or 0
    if desired == 0:
        return "scheduled on no node"
    if ready == 0:
        return f"no pod ready (0 of {desired})"
    return None


class _Cluster:
    """The objects, indexed the way the rules read them."""

    def __init__(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self.daemonsets: list[Mapping[str, Any]] = []
        self.deployments: list[Mapping[str, Any]] = []
        self.nodes: list[Mapping[str, Any]] = []
        self.configmaps: dict[tuple[str, str], Mapping[str, Any]] = {}
        self.clusterroles: dict[str, Mapping[str, Any]] = {}
        for obj in objects:
            kind = obj.get("kind")
            if kind == "DaemonSet":
                self.daemonsets.append(obj)
            elif kind == "Deployment":
                self.deployments.append(obj)
            elif kind == "Node":
                self.nodes.append(obj)
            elif kind == "ConfigMap":
                self.configmaps[(_namespace(obj), _name(obj))] = obj
            elif kind == "ClusterRole":
                self.clusterroles[_name(obj)] = obj

    def deployment(self, name: str) -> Mapping[str, Any] | None:
        return next((d for d in self.deployments if _name(d) == name), None)


# --- which engine a DaemonSet belongs to ------------------------------------------------------


def classify(ds: Mapping[str, Any]) -> str | None:
    """The engine a DaemonSet belongs to (by name or characteristic container), or ``None``.

    Order matters: a Canal DaemonSet also has a ``calico-node`` container.
    """
    name = _name(ds)
    containers = {str(c.get("name")) for c in _containers(ds)}
    rules: list[tuple[str, bool]] = [
        # GKE docs, "GKE Dataplane V2": "a DaemonSet named anetd", "in the kube-system namespace"
        ("gke-dataplane-v2", name == "anetd" and _namespace(ds) == "kube-system"),
        # projectcalico/calico@v3.32.1 manifests/canal.yaml: DaemonSet canal, calico-node + flannel
        ("canal", name == "canal" or {"calico-node", "kube-flannel"} <= containers),
        # tigera/operator@v1.42.3 pkg/render/node.go; calico@v3.32.1 manifests/calico.yaml
        ("calico", name == "calico-node" or "calico-node" in containers),
        # cilium/cilium chart templates/cilium-agent/daemonset.yaml: cilium, container cilium-agent
        ("cilium", name == "cilium" or "cilium-agent" in containers),
        # aws/amazon-vpc-cni-k8s@v1.23.0 config/master/aws-k8s-cni.yaml: DaemonSet aws-node
        ("aws-vpc-cni", name == "aws-node" or "aws-eks-nodeagent" in containers),
        # Azure/azure-container-networking@v1.16.17 npm/azure-npm.yaml (Windows: azure-npm-win)
        ("azure-npm", name in ("azure-npm", "azure-npm-win") or "azure-npm" in containers),
        # antrea-io/antrea@v2.7.0 build/yamls/antrea.yml: DaemonSet antrea-agent
        ("antrea", name == "antrea-agent" or "antrea-agent" in containers),
        # cloudnativelabs/kube-router@v2.11.1 daemonset/kubeadm-kuberouter.yaml
        ("kube-router", name == "kube-router" or "kube-router" in containers),
        # kubernetes-sigs/kind@v0.24.0 pkg/build/nodeimage/const_cni.go: kindnet / kindnet-cni
        ("kindnet", name == "kindnet" or "kindnet-cni" in containers),
        # kubernetes-sigs/kube-network-policies@v1.1.1 install.yaml
        (
            "kube-network-policies",
            name == "kube-network-policies" or "kube-network-policies" in containers,
        ),
        # AliyunContainerService/terway@v1.17.5 charts/terway/templates/terwayd/daemonset.yaml
        ("terway", name == "terway-eniip" or "terway" in containers),
        # kubernetes/minikube@v1.38.1 flannel.yaml: DaemonSet kube-flannel-ds in kube-flannel
        ("flannel", name == "kube-flannel-ds" or "kube-flannel" in containers),
    ]
    return next((engine for engine, hit in rules if hit), None)


def wanted_configmaps(daemonsets: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The ConfigMaps (namespace, name) the rules read, given the DaemonSets found.

    ``kube-system/amazon-vpc-cni`` is always wanted: on EKS Auto Mode it exists without aws-node.
    """
    wanted = {("kube-system", "amazon-vpc-cni")}
    per_engine = {
        "cilium": "cilium-config",
        "aws-vpc-cni": "amazon-vpc-cni",
        "terway": "eni-config",
    }
    for ds in daemonsets:
        if (configmap := per_engine.get(classify(ds) or "")) is not None:
            wanted.add((_namespace(ds), configmap))
    return sorted(wanted)


def _kindnet_date(ds: Mapping[str, Any]) -> int | None:
    """The date in a ``kindest/kindnetd:vYYYYMMDD-<sha>`` tag, ``None`` if there is none."""
    container = _container(ds, "kindnet-cni") or {}
    image = str(container.get("image") or "").split("@", 1)[0]
    repo, _, tag = image.rpartition(":")
    if "/" in tag or not repo:
        return None
    m = re.fullmatch(r"v(\d{8})(?:-.*)?", tag)
    return int(m.group(1)) if m else None


def needs_kindnet_clusterrole(daemonsets: Iterable[Mapping[str, Any]]) -> bool:
    """True when a kindnet DaemonSet's image tag does not date it (then its ClusterRole does)."""
    return any(classify(ds) == "kindnet" and _kindnet_date(ds) is None for ds in daemonsets)


# --- the rules: one per engine, each (DaemonSet, cluster) -> (enforced, reason, evidence) ---

_Rule = tuple[Verdict, str, list[str]]


def _calico(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # tigera/operator@v1.42.3 pkg/render/node.go, calico@v3.32.1 manifests/calico.yaml and
    # calico-policy-only.yaml (CALICO_NETWORKING_BACKEND none still enforces). No Felix switch
    # that disables Kubernetes NetworkPolicy was found (the doc: absence of evidence).
    extra = [
        _ref(d) for n in ("tigera-operator", "calico-kube-controllers") if (d := c.deployment(n))
    ]
    return "yes", "calico-node (Felix) enforces Kubernetes NetworkPolicy", extra


def _canal(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # calico@v3.32.1 manifests/canal.yaml: Calico policy on flannel networking.
    return "yes", "Canal runs calico-node (Felix), which enforces NetworkPolicy", []


def _cilium(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # Chart templates/cilium-configmap.yaml (cilium/cilium main 002c6fff): the mode is key
    # `enable-policy` (Helm policyEnforcementMode); docs.cilium.io security/policy/intro/
    # "Policy Enforcement Modes": default (also when unset), always, never = "policy
    # enforcement is disabled on all endpoints". The agent may get --enable-policy on its
    # command line too (Terway does, cmd/terway-cli/policy.go).
    ns = _namespace(ds)
    cm = c.configmaps.get((ns, "cilium-config"))
    agent = _container(ds, "cilium-agent") or {}
    arg = _flag(agent, "enable-policy", boolean=False)
    data = dict((cm or {}).get("data") or {})
    if arg is not None:
        mode, evidence = arg, [_ref(ds, f"cilium-agent --enable-policy={arg}")]
    elif cm is None:
        return "unknown", f"ConfigMap {ns}/cilium-config not found: mode unknown", []
    else:
        mode = data.get("enable-policy", "default")
        shown = mode if "enable-policy" in data else "(absent: default)"
        evidence = [_ref(cm, f"enable-policy={shown}")]
    mode = mode.lower()
    if mode == "never":
        return "no", "Cilium policy enforcement mode 'never' disables enforcement", evidence
    if mode not in ("default", "always"):
        return "unknown", f"unrecognised Cilium policy enforcement mode {mode!r}", evidence
    # The semantics of these two keys are UNVERIFIED in the doc (inferred from their names).
    if cm is not None and _go_bool(data.get("enable-k8s-networkpolicy")) is False:
        evidence.append(_ref(cm, "enable-k8s-networkpolicy=false"))
        return (
            "unknown",
            "enable-k8s-networkpolicy=false likely turns off Kubernetes NetworkPolicy (UNVERIFIED)",
            evidence,
        )
    if cm is not None and _go_bool(data.get("policy-audit-mode")) is True:
        evidence.append(_ref(cm, "policy-audit-mode=true"))
        return "unknown", "policy-audit-mode=true likely only audits (UNVERIFIED)", evidence
    return "yes", f"Cilium policy enforcement mode {mode!r} enforces NetworkPolicy", evidence


def _aws_vpc_cni(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # aws/amazon-vpc-cni-k8s@v1.23.0 charts/aws-vpc-cni/templates/daemonset.yaml: container
    # aws-eks-nodeagent only if nodeAgent.enabled, with
    # --enable-network-policy=<enableNetworkPolicy>; templates/configmap.yaml:
    # enable-network-policy-controller, same value; values.yaml: "false".
    # aws/aws-network-policy-agent@v1.4.1 pkg/config/controller_config.go: flag default false.
    # README: enable-network-policy-controller "If enabled, the VPC CNI will enforce
    # NetworkPolicies."
    agent = _container(ds, "aws-eks-nodeagent")
    if agent is None:
        return "no", "aws-node has no aws-eks-nodeagent container (network policy agent)", []
    flag = _flag(agent, "enable-network-policy", boolean=True)
    cm = c.configmaps.get((_namespace(ds), "amazon-vpc-cni"))
    key = dict((cm or {}).get("data") or {}).get("enable-network-policy-controller")
    evidence = [_ref(ds, f"aws-eks-nodeagent --enable-network-policy={flag or '(absent: false)'}")]
    evidence.append(
        _ref(cm, f"enable-network-policy-controller={key if key is not None else '(absent)'}")
        if cm is not None
        else f"ConfigMap/{_namespace(ds)}/amazon-vpc-cni:(not found)"
    )
    agent_on, controller_on = _go_bool(flag) is True, _go_bool(key) is True
    if agent_on and controller_on:
        return "yes", "network policy agent and controller both enabled", evidence
    off = [
        what
        for what, on in (
            ("agent --enable-network-policy", agent_on),
            ("ConfigMap enable-network-policy-controller", controller_on),
        )
        if not on
    ]
    return "no", f"disabled: {' and '.join(off)} (both default false)", evidence


def _azure_npm(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # Azure/azure-container-networking@v1.16.17 npm/azure-npm.yaml; no off switch found.
    return "yes", "Azure NPM enforces NetworkPolicy", []


def _antrea(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # antrea-io/antrea@v2.7.0 build/yamls/antrea.yml; no switch for Kubernetes NetworkPolicy
    # (trafficEncapMode networkPolicyOnly still enforces).
    extra = [_ref(d) for d in [c.deployment("antrea-controller")] if d is not None]
    return "yes", "Antrea enforces NetworkPolicy", extra


def _kube_router(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # cloudnativelabs/kube-router@v2.11.1 pkg/options/options.go: "run-firewall", default true,
    # "Enables Network Policy -- sets up iptables to provide ingress firewall for pods."
    flag = _flag(_container(ds, "kube-router") or {}, "run-firewall", boolean=True)
    evidence = [_ref(ds, f"kube-router --run-firewall={flag or '(absent: true)'}")]
    on = True if flag is None else _go_bool(flag)
    if on is None:
        return "unknown", f"unreadable --run-firewall value {flag!r}", evidence
    if on:
        return "yes", "kube-router runs its network policy firewall", evidence
    return "no", "kube-router started with --run-firewall=false", evidence


def _kindnet(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # kubernetes-sigs/kind@v0.24.0: kindnetd runs networkpolicy.NewController (PR #3612, image
    # v20240719-e7903573 onwards; const_cni.go ships v20240813-c6f155d6). The manifest comes
    # with the node image, so the kindnetd tag, not the kind CLI, decides. No flag disables it.
    image = str((_container(ds, "kindnet-cni") or {}).get("image") or "")
    evidence = [_ref(ds, f"kindnet-cni image={image or '(none)'}")]
    date = _kindnet_date(ds)
    if date is not None and date >= KINDNET_POLICY_SINCE:
        return "yes", f"kindnetd {date} >= {KINDNET_POLICY_SINCE} has network policies", evidence
    if date is not None:
        return "no", f"kindnetd {date} predates network policies ({KINDNET_POLICY_SINCE})", evidence
    # Tag does not date it: kind v0.24.0's ClusterRole kindnet gained list/watch networkpolicies.
    role = c.clusterroles.get("kindnet")
    if role is not None and _grants_networkpolicies(role):
        evidence.append(_ref(role, "networking.k8s.io/networkpolicies"))
        return "yes", "ClusterRole kindnet lets kindnetd watch NetworkPolicies", evidence
    return "unknown", "kindnetd image tag carries no date; cannot tell its version", evidence


def _grants_networkpolicies(role: Mapping[str, Any]) -> bool:
    return any(
        "networking.k8s.io" in (rule.get("apiGroups") or [])
        and "networkpolicies" in (rule.get("resources") or [])
        and {"list", "watch"} <= set(rule.get("verbs") or [])
        for rule in role.get("rules") or []
    )


def _kube_network_policies(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # kubernetes-sigs/kube-network-policies@v1.1.1 install.yaml.
    return "yes", "kube-network-policies enforces NetworkPolicy", []


def _anetd(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # GKE docs, "GKE Dataplane V2", Security: "Kubernetes NetworkPolicy is always on in clusters
    # with GKE Dataplane V2".
    return "yes", "GKE Dataplane V2: NetworkPolicy is always on", []


def _terway(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # AliyunContainerService/terway@v1.17.5: containers terway and policy read ConfigMap
    # eni-config key disable_network_policy (chart default "true": policy OFF);
    # cmd/terway-cli/common.go: "false", "0", "" or a missing key -> enabled, anything else ->
    # disabled; cmd/terway-cli/policy.go: exclusive-ENI nodes run no policy at all.
    ns = _namespace(ds)
    cm = c.configmaps.get((ns, "eni-config"))
    if cm is None:
        return "unknown", f"ConfigMap {ns}/eni-config not found", []
    value = dict(cm.get("data") or {}).get("disable_network_policy")
    evidence = [_ref(cm, f"disable_network_policy={value if value is not None else '(absent)'}")]
    if value not in (None, "false", "0", ""):
        return "no", "Terway eni-config disables network policy", evidence
    exclusive = [n for n in c.nodes if _meta(n, "labels").get(TERWAY_EXCLUSIVE_ENI) == "eniOnly"]
    if exclusive:
        evidence += [_ref(n, f"{TERWAY_EXCLUSIVE_ENI}=eniOnly") for n in exclusive]
        return "unknown", "policy enabled, but exclusive-ENI nodes run no policy", evidence
    return "yes", "Terway eni-config enables network policy", evidence


def _flannel(ds: Mapping[str, Any], c: _Cluster) -> _Rule:
    # kubernetes/minikube@v1.38.1 flannel.yaml. That flannel alone does not enforce is widely
    # documented but UNVERIFIED in the doc.
    return "unknown", "flannel does not implement NetworkPolicy (UNVERIFIED)", []


_RULES: dict[str, Callable[[Mapping[str, Any], _Cluster], _Rule]] = {
    "gke-dataplane-v2": _anetd,
    "canal": _canal,
    "calico": _calico,
    "cilium": _cilium,
    "aws-vpc-cni": _aws_vpc_cni,
    "azure-npm": _azure_npm,
    "antrea": _antrea,
    "kube-router": _kube_router,
    "kindnet": _kindnet,
    "kube-network-policies": _kube_network_policies,
    "terway": _terway,
    "flannel": _flannel,
}


# --- engines without a DaemonSet of their own -------------------------------------------------


def _k3s(c: _Cluster) -> EngineMatch | None:
    # k3s docs, "Networking > Network Policy Controller": embedded kube-router netpol controller,
    # in-process; "start each server with the --disable-network-policy flag" to disable it.
    # k3s pkg/nodeconfig/nodeconfig.go: annotation k3s.io/node-args = JSON list of the args,
    # "--flag=value" split in two (k3s-io/k3s#7244: '["server","--disable-network-policy","true"]').
    nodes = [n for n in c.nodes if K3S_NODE_ARGS in _meta(n, "annotations")]
    if not nodes:
        return None
    evidence, disabled = [], []
    for node in nodes:
        raw = _meta(node, "annotations")[K3S_NODE_ARGS]
        evidence.append(_ref(node, f"{K3S_NODE_ARGS}={raw}"))
        try:
            args = json.loads(raw)
        except ValueError:
            args = None
        if not isinstance(args, list) or not args:
            return EngineMatch("k3s", "unknown", f"unreadable {K3S_NODE_ARGS}", tuple(evidence))
        if args[0] == "server":
            disabled.append(_k3s_netpol_disabled([str(a) for a in args]))
    if not disabled:
        return EngineMatch("k3s", "unknown", "no k3s server node visible", tuple(evidence))
    if all(disabled):
        return EngineMatch(
            "k3s", "no", "k3s servers run with --disable-network-policy", tuple(evidence)
        )
    if any(disabled):
        reason = "only some k3s servers run with --disable-network-policy"
        return EngineMatch("k3s", "unknown", reason, tuple(evidence))
    reason = "k3s embedded network policy controller (kube-router) is on"
    return EngineMatch("k3s", "yes", reason, tuple(evidence))


def _k3s_netpol_disabled(args: list[str]) -> bool:
    for i, arg in enumerate(args):
        if arg.startswith("--disable-network-policy="):
            return _go_bool(arg.split("=", 1)[1]) is not False
        if arg == "--disable-network-policy":
            following = args[i + 1] if i + 1 < len(args) else None
            return _go_bool(following) is not False
    return False


def _eks_auto_mode(c: _Cluster, found: set[str]) -> EngineMatch | None:
    # Doc, AWS section: EKS Auto Mode has no aws-node DaemonSet; enforcement is switched by the
    # same ConfigMap key (seen only quoted; docs.aws.amazon.com .../auto-net-pol.html UNVERIFIED).
    cm = c.configmaps.get(("kube-system", "amazon-vpc-cni"))
    if cm is None or "aws-vpc-cni" in found:
        return None
    key = dict(cm.get("data") or {}).get("enable-network-policy-controller")
    shown = key if key is not None else "(absent)"
    evidence = (_ref(cm, f"enable-network-policy-controller={shown}"),)
    reason = "ConfigMap amazon-vpc-cni without DaemonSet aws-node (EKS Auto Mode?): UNVERIFIED"
    return EngineMatch("aws-vpc-cni", "unknown", reason, evidence)


def _orphan_deployments(c: _Cluster, found: set[str]) -> list[EngineMatch]:
    # An operator or controller whose node agent is missing: installed, not (yet) enforcing.
    matches = []
    # calico@v3.32.1 manifests/tigera-operator.yaml; antrea@v2.7.0 build/yamls/antrea.yml.
    for engine, name, agent in (
        ("calico", "tigera-operator", "calico-node"),
        ("antrea", "antrea-controller", "antrea-agent"),
    ):
        deployment = c.deployment(name)
        if deployment is not None and engine not in found:
            reason = f"{name} found but no {agent} DaemonSet"
            matches.append(EngineMatch(engine, "unknown", reason, (_ref(deployment),)))
    return matches


# --- the verdict ------------------------------------------------------------------------------


def detect_engines(objects: Iterable[Mapping[str, Any]], *, gaps: Iterable[str] = ()) -> Detection:
    """Every NetworkPolicy engine the objects show, and whether NetworkPolicy will be enforced.

    ``gaps`` name objects that could not be read (no permission): they turn "no" into "unknown".
    """
    c = _Cluster(objects)
    gaps = tuple(gaps)
    matches: list[EngineMatch] = []
    for ds in c.daemonsets:
        engine = classify(ds)
        if engine is None:
            continue
        enforced, reason, evidence = _RULES[engine](ds, c)
        if enforced == "yes" and (why := _not_running(ds)):
            enforced, reason = "unknown", f"{reason}, but DaemonSet {why}"
        matches.append(EngineMatch(engine, enforced, reason, (_ref(ds), *evidence)))
    found = {m.name for m in matches}
    matches += _orphan_deployments(c, found)
    matches += [m for m in (_k3s(c), _eks_auto_mode(c, found)) if m is not None]
    return _verdict(tuple(matches), gaps)


def _verdict(matches: tuple[EngineMatch, ...], gaps: tuple[str, ...]) -> Detection:
    unread = f"; could not read: {', '.join(gaps)}" if gaps else ""
    if enforcing := [m.name for m in matches if m.enforced == "yes"]:
        names = ", ".join(dict.fromkeys(enforcing))
        return Detection(matches, "yes", f"enforced by {names}", gaps)
    if not matches:
        return Detection(matches, "unknown", NO_ENGINE_FOUND + unread, gaps)
    if all(m.enforced == "no" for m in matches) and not gaps:
        return Detection(matches, "no", "no engine found enforces NetworkPolicy", gaps)
    undecided = ", ".join(dict.fromkeys(m.name for m in matches if m.enforced != "no"))
    reason = f"cannot tell for {undecided}" if undecided else "every engine found says no"
    return Detection(matches, "unknown", reason + unread, gaps)


# --- reading the cluster ----------------------------------------------------------------------


def collect(kube: KubeApi) -> Collected:
    """Read what ``detect_engines`` needs, in few calls.

    Always: list DaemonSets (all namespaces), list Deployments (all namespaces), list Nodes, get
    ConfigMap kube-system/amazon-vpc-cni. Then only as the DaemonSets found require: get
    ConfigMap ``cilium-config`` / ``amazon-vpc-cni`` / ``eni-config`` in the namespace of a
    Cilium / aws-node / Terway DaemonSet, and get ClusterRole ``kindnet`` when a kindnetd image
    tag carries no date. A 403 is recorded as a gap (itself evidence); other errors propagate.
    """
    objects: list[dict[str, Any]] = []
    gaps: list[str] = []

    def read(what: str, call: Callable[[], Any]) -> None:
        try:
            result = call()
        except KubeError as err:
            if err.status != 403:
                raise
            gaps.append(f"{what} (forbidden)")
            return
        if isinstance(result, list):
            objects.extend(result)
        elif result is not None:
            objects.append(result)

    read("DaemonSets in all namespaces", lambda: kube.list("apps/v1", "DaemonSet"))
    read("Deployments in all namespaces", lambda: kube.list("apps/v1", "Deployment"))
    read("Nodes", lambda: kube.list("v1", "Node"))
    daemonsets = [o for o in objects if o.get("kind") == "DaemonSet"]
    for ns, name in wanted_configmaps(daemonsets):
        read(
            f"ConfigMap {ns}/{name}",
            lambda ns=ns, name=name: kube.get("v1", "ConfigMap", name, ns),
        )
    if needs_kindnet_clusterrole(daemonsets):
        read("ClusterRole kindnet", lambda: kube.get(RBAC_API, "ClusterRole", "kindnet"))
    return Collected(tuple(objects), tuple(gaps))


def detect(kube: KubeApi) -> Detection:
    """``collect`` then ``detect_engines``."""
    collected = collect(kube)
    return detect_engines(collected.objects, gaps=collected.gaps)
