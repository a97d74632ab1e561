"""The live lab as validation sees it: namespaces, pods and NetworkPolicies read from the cluster.

``observe`` reads through the Kubernetes seam (``KubeApi``) only: the lab's namespaces (selected
by the tool's labels, and only those the lab creates: ``lab.observe.lab_namespaces``), every pod
in them (labels, IP, container ports, container names) and every NetworkPolicy in them, including
ones a user applied by hand, since those are enforced too. Pods and policies are listed per lab
namespace, never across the cluster, so a lab on a user's cluster needs no rights elsewhere.
``cluster_dict`` is the analyzer's ``--cluster`` shape, so the expectations come from exactly the
objects the cluster holds. ``plan_probes`` decides what to probe: probes run from pods with an
agnhost container (the image ``versions.AGNHOST_IMAGE``), exec'd into that container, to every
declared port of every pod; ``analyzer_expectations`` asks the analyzer
(``provisioning.analysis``) what each probe should do.

When any policy isolates pods for egress, every source pod also gets a DNS check
(``plan_dns_probes``): egress deny blocks name resolution unless UDP/53 to the cluster DNS is
allowed. ``dns_expectations`` asks the analyzer about exactly that connection, to the cluster DNS
pods read from kube-system (``k8s-app=kube-dns``, one list in that namespace only) or, where they
cannot be read, a stand-in pod with the same labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provisioning import versions
from provisioning.errors import LabError, OperationError
from provisioning.spec import CLUSTER_DNS_LABELS, LabSpec, lab_selector
from provisioning.validation.model import Expectation, LeftOut
from provisioning.validation.probe import (
    CLUSTER_DNS,
    DNS_PORT,
    PodRef,
    Probe,
    dns_probe,
)

# The lab's engine name -> the analyzer's engine profile; none enforces nothing.
ANALYZER_ENGINES = {"calico": "calico", "cilium": "cilium", "azure": "azure", "none": "none"}


@dataclass(frozen=True)
class PortInfo:
    port: int
    protocol: str = "TCP"
    name: str = ""


@dataclass(frozen=True)
class LivePod:
    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: str
    containers: tuple[str, ...]
    ports: tuple[PortInfo, ...] = ()
    # The container probes exec into: the first one running the agnhost image; "" when none
    # does (a user's nginx, a distroless app), and then the pod is only a destination.
    probe_container: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_source(self) -> bool:
        """Whether probes can run from this pod: it has agnhost (``connect``, a shell)."""
        return bool(self.probe_container)

    def ref(self) -> PodRef:
        return PodRef(self.namespace, self.name, self.ip, self.probe_container)


@dataclass(frozen=True)
class LiveLab:
    namespaces: Mapping[str, Mapping[str, str]]  # name -> labels
    pods: tuple[LivePod, ...]
    policies: tuple[dict[str, Any], ...]
    notes: tuple[str, ...] = ()  # worth knowing, not failing: pods that are destinations only
    dns_pods: tuple[LivePod, ...] = ()  # the cluster DNS pods as read from kube-system
    # Lab pods that cannot be probed (Pending, no IP, ...): validation fails while any exists.
    left_out: tuple[LeftOut, ...] = ()

    @property
    def not_sources(self) -> tuple[str, ...]:
        """The pods probes cannot run from (no agnhost container)."""
        return tuple(p.key for p in self.pods if not p.is_source)

    def cluster_dict(self) -> dict[str, Any]:
        """The analyzer's ``--cluster`` document for these pods."""
        return {
            "namespaces": {n: {"labels": dict(labels)} for n, labels in self.namespaces.items()},
            "pods": [pod_dict(p) for p in self.pods],
        }


def pod_dict(p: LivePod, *, namespace: str | None = None) -> dict[str, Any]:
    """A live pod as the analyzer's cluster model takes it (``namespace``: another name for
    its namespace, e.g. the logical one an exercise is written in)."""
    return {
        "namespace": p.namespace if namespace is None else namespace,
        "name": p.name,
        "labels": dict(p.labels),
        "ip": p.ip,
        "ports": [
            {"port": q.port, "protocol": q.protocol} | ({"name": q.name} if q.name else {})
            for q in p.ports
        ],
    }


# Stands in for CoreDNS when its pods cannot be read: its labels and container ports as kubeadm,
# kind and AKS deploy it. The IP is a placeholder (TEST-NET-3, RFC 5737) that no lab ipBlock
# names, so only selectors decide, as they do for a real DNS pod unless an ipBlock covers it.
STAND_IN_DNS = LivePod(
    CLUSTER_DNS.namespace,
    CLUSTER_DNS.name,
    CLUSTER_DNS_LABELS,
    "203.0.113.53",
    ("coredns",),
    (
        PortInfo(DNS_PORT, "UDP", "dns"),
        PortInfo(DNS_PORT, "TCP", "dns-tcp"),
        PortInfo(9153, "TCP", "metrics"),
    ),
)


def observe(kube: Any, spec: LabSpec) -> LiveLab:
    """The lab's namespaces, running pods and policies; ``OperationError`` when there is no lab.

    A pod that cannot be probed is kept in ``left_out`` with the reason, so the report names it
    and fails: a lab with its server Pending must not pass with nothing probed.
    """
    from provisioning.lab.observe import lab_namespaces

    # Only the namespaces this lab creates: one that merely carries its labels is not read.
    ours = set(lab_namespaces(spec))
    namespaces = [
        n
        for n in kube.list("v1", "Namespace", label_selector=lab_selector(spec.name))
        if n["metadata"]["name"] in ours
    ]
    if not namespaces:
        raise OperationError(
            f"lab {spec.name!r} has no namespaces in the cluster, so there is nothing to validate",
            hint="create it with `invoke up`, or check `invoke status`",
        )
    ns_labels = {
        n["metadata"]["name"]: dict(n["metadata"].get("labels") or {})
        for n in sorted(namespaces, key=lambda n: n["metadata"]["name"])
    }
    pods: list[LivePod] = []
    policies: list[dict[str, Any]] = []
    notes: list[str] = []
    left_out: list[LeftOut] = []
    for ns in ns_labels:
        for raw in sorted(kube.list("v1", "Pod", ns), key=lambda p: p["metadata"]["name"]):
            pod, why = pod_from_object(raw)
            if pod is None:
                left_out.append(LeftOut(f"{ns}/{raw['metadata']['name']}", why))
                continue
            pods.append(pod)
            if not pod.is_source:
                notes.append(not_a_source(pod))
        for raw in kube.list("networking.k8s.io/v1", "NetworkPolicy", ns):
            policies.append(policy_for_analysis(raw))
    wide, wide_notes = cluster_policies(kube, spec)
    policies += [policy_for_analysis(raw) for raw in wide]
    notes += wide_notes
    return LiveLab(
        ns_labels,
        tuple(pods),
        tuple(policies),
        tuple(notes),
        observe_dns(kube),
        tuple(left_out),
    )


def cluster_policies(
    kube: Any, spec: LabSpec | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The cluster-scoped policies that act on the lab's pods, and notes on what is left out.

    Every ClusterNetworkPolicy, whoever made it: an Admin-tier one of the cluster's own decides
    before any of the lab's. Of Calico's GlobalNetworkPolicies only the lab's own (``spec``
    given): the cluster's others live among tiers, network sets and host-endpoint policies the
    analyzer is not given, so they are counted in a note instead. A kind whose API is absent
    (404), forbidden (403) or unavailable (503) has none.
    """
    from provisioning.kube import KubeError
    from provisioning.lab.observe import LAB_CLUSTER_KINDS, is_lab_cluster_object

    found: list[dict[str, Any]] = []
    notes: list[str] = []
    for api_version, kind in LAB_CLUSTER_KINDS:
        try:
            listed = kube.list(api_version, kind)
        except KubeError as exc:
            if exc.status not in (403, 404, 503):
                raise
            continue
        if kind == "ClusterNetworkPolicy":
            found += listed
            continue
        ours = [o for o in listed if spec is not None and is_lab_cluster_object(o, spec)]
        found += ours
        others = sorted(o["metadata"]["name"] for o in listed if o not in ours)
        if others:
            notes.append(
                f"{len(others)} Calico {kind}(s) of the cluster's own not modelled (they may act "
                f"on the lab's pods too): {', '.join(others[:5])}"
                + (" ..." if len(others) > 5 else "")
            )
    return sorted(found, key=lambda o: (o["kind"], o["metadata"]["name"])), notes


def not_a_source(pod: LivePod) -> str:
    """The note for a pod probes cannot run from: what it is still probed as, if anything."""
    head = f"{pod.key} is not a probe source (no agnhost container, image {versions.AGNHOST_IMAGE})"
    if pod.ports:
        return f"{head}; it is probed as a destination on its declared ports"
    return f"{head}, and it declares no ports, so no probe involves it"


def observe_dns(kube: Any) -> tuple[LivePod, ...]:
    """The running cluster DNS pods (kube-system, ``k8s-app=kube-dns``); none when unreadable.

    One list of pods in kube-system by label: on an existing cluster that is the optional
    ``access.DNS_ACCESS``; without it the DNS checks are judged against ``STAND_IN_DNS``.
    """
    selector = ",".join(f"{k}={v}" for k, v in CLUSTER_DNS_LABELS.items())
    try:
        raw = kube.list("v1", "Pod", CLUSTER_DNS.namespace, label_selector=selector)
    except LabError:  # e.g. no permission to list kube-system: fall back to the stand-in
        return ()
    found = (pod_from_object(p)[0] for p in sorted(raw, key=lambda p: p["metadata"]["name"]))
    return tuple(p for p in found if p is not None)


def pod_from_object(raw: Mapping[str, Any]) -> tuple[LivePod | None, str]:
    """A probe-able pod from a Pod object, or None and every reason it cannot be probed.

    Reasons read after "demo/server was not probed: ", e.g. ``phase Pending, no IP yet``.
    """
    meta, spec, status = raw["metadata"], raw.get("spec") or {}, raw.get("status") or {}
    ip = status.get("podIP")
    containers = tuple(c["name"] for c in spec.get("containers") or [])
    reasons = []
    if meta.get("deletionTimestamp"):
        reasons.append("being deleted")
    if status.get("phase") != "Running":
        reasons.append(f"phase {status.get('phase') or 'unknown'}")
    if not ip:
        reasons.append("no IP yet")
    if spec.get("hostNetwork"):
        # A host-network pod has the node's IP; NetworkPolicy does not apply to it.
        reasons.append("it uses the host network, where NetworkPolicy does not apply")
    if not containers:
        reasons.append("no containers")
    if reasons:
        return None, ", ".join(reasons)
    agnhost = next(
        (c["name"] for c in spec["containers"] if c.get("image") == versions.AGNHOST_IMAGE), ""
    )
    ports = tuple(
        PortInfo(int(p["containerPort"]), p.get("protocol") or "TCP", p.get("name") or "")
        for c in spec.get("containers") or []
        for p in c.get("ports") or []
    )
    labels = dict(meta.get("labels") or {})
    return LivePod(meta["namespace"], meta["name"], labels, ip, containers, ports, agnhost), ""


def policy_for_analysis(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The policy as written: server-side bookkeeping (managedFields, status) left out."""
    meta = raw.get("metadata") or {}
    return {
        "apiVersion": raw.get("apiVersion", "networking.k8s.io/v1"),
        "kind": raw.get("kind", "NetworkPolicy"),
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta
        },
        "spec": raw.get("spec") or {},
    }


def policy_key(raw: Mapping[str, Any]) -> str:
    """``NetworkPolicy/ns/name`` or ``ClusterNetworkPolicy/name``."""
    meta = raw.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{raw.get('kind', 'NetworkPolicy')}/{where}{meta.get('name')}"


def plan_probes(lab: LiveLab, *, protocols: Sequence[str] = ("TCP", "UDP")) -> list[Probe]:
    """Every pod to every declared port of every pod, in a stable order.

    Sources are the pods with an agnhost container (a server probing itself shows the loopback
    case); destinations are all pods that declare ports, since only a declared port has a
    listener worth asking about.
    """
    probes = []
    sources = [p for p in lab.pods if p.is_source]
    for dst in lab.pods:
        for port in dst.ports:
            if port.protocol not in protocols:
                continue
            for src in sources:
                probes.append(Probe(src.ref(), dst.ref(), port.port, port.protocol, port.name))
    return probes


def analyzer_expectations(lab: LiveLab, probes: Sequence[Probe], engine: str) -> list[Expectation]:
    """The analyzer's verdict for each probe, with the sentence that explains it."""
    from provisioning.analysis.analyzer import analyze
    from provisioning.analysis.model import ClusterModel
    from provisioning.analysis.model import Probe as AnalyzerProbe

    model = ClusterModel.from_dict(lab.cluster_dict(), source="live cluster")
    wanted = [AnalyzerProbe(p.source.key, p.destination.key, p.port, p.protocol) for p in probes]
    analysis = analyze(model, list(lab.policies), wanted, ANALYZER_ENGINES.get(engine, engine))
    return [Expectation(r.allowed, explanation(r)) for r in analysis.results()]


def left_out_notes(lab: LiveLab, engine: str) -> tuple[str, ...]:
    """The analyzer's word on policy kinds this engine does not enforce (ClusterNetworkPolicy
    on Azure NPM, Calico's own policies anywhere but Calico): left out of the expectations,
    and the report says so."""
    from provisioning.analysis.analyzer import analyze
    from provisioning.analysis.model import ClusterModel

    if all(p.get("kind", "NetworkPolicy") == "NetworkPolicy" for p in lab.policies):
        return ()
    model = ClusterModel.from_dict(lab.cluster_dict(), source="live cluster")
    analysis = analyze(model, list(lab.policies), [], ANALYZER_ENGINES.get(engine, engine))
    return tuple(w for w in analysis.warnings if "left out of the analysis" in w)


def explanation(result: Any) -> str:
    """The sentences that decided the verdict: for a deny, the direction(s) that denied it."""
    directions = [result.egress, result.ingress]
    if not result.allowed:
        directions = [d for d in directions if d.verdict != "allow"] or directions
    return "; ".join(d.sentence() for d in directions)


def needs_dns_checks(lab: LiveLab) -> bool:
    """Whether any policy can act on egress: a NetworkPolicy with the Egress type (read with the
    API's defaulting, the analyzer's), a ClusterNetworkPolicy with egress rules, or a Calico
    policy whose ``types`` (explicit, or defaulted from its rules) include Egress."""
    from provisioning.analysis.policy import parse_policy

    def egress(p: Mapping[str, Any]) -> bool:
        kind, body = p.get("kind", "NetworkPolicy"), p.get("spec") or {}
        calico = p.get("apiVersion") == "projectcalico.org/v3"
        if kind == "NetworkPolicy" and not calico:
            return parse_policy(p).egress_isolating
        if kind == "ClusterNetworkPolicy":
            return bool(body.get("egress"))
        return "Egress" in (body.get("types") or ()) or bool(body.get("egress"))

    return any(egress(p) for p in lab.policies)


def plan_dns_probes(lab: LiveLab) -> list[Probe]:
    """One DNS check per source pod (one with agnhost) when the lab has egress rules, else none."""
    if not needs_dns_checks(lab):
        return []
    return [dns_probe(p.ref()) for p in lab.pods if p.is_source]


def dns_expectations(lab: LiveLab, probes: Sequence[Probe], engine: str) -> list[Expectation]:
    """Whether each client should resolve names: may it reach a cluster DNS pod on UDP/53?

    The analyzer answers for the client -> DNS pod connection on UDP/53 (the resolver's first
    choice), with the DNS pods added to the model; any one DNS pod reachable is enough.
    """
    from provisioning.analysis.analyzer import analyze
    from provisioning.analysis.model import ClusterModel
    from provisioning.analysis.model import Probe as AnalyzerProbe

    if not probes:
        return []
    dns_pods = lab.dns_pods or (STAND_IN_DNS,)
    cluster = lab.cluster_dict()
    for pod in dns_pods:
        cluster["namespaces"].setdefault(pod.namespace, {"labels": {}})
    cluster["pods"] += [pod_dict(p) for p in dns_pods]
    model = ClusterModel.from_dict(cluster, source="live cluster and its DNS pods")
    wanted = [
        AnalyzerProbe(p.source.key, d.key, DNS_PORT, protocol)
        for p in probes
        for d in dns_pods
        for protocol in ("UDP", "TCP")
    ]
    results = list(
        analyze(model, list(lab.policies), wanted, ANALYZER_ENGINES.get(engine, engine)).results()
    )
    per_probe = 2 * len(dns_pods)
    return [
        dns_expectation(results[i * per_probe : (i + 1) * per_probe]) for i in range(len(probes))
    ]


def dns_expectation(results: Sequence[Any]) -> Expectation:
    """From the analyzer's UDP/53 and TCP/53 results for one client (per DNS pod, UDP first)."""
    udp, tcp = results[0::2], results[1::2]
    chosen = next((r for r in udp if r.allowed), udp[0])
    sentence = dns_sentence(chosen)
    if chosen.allowed and not any(r.allowed for r in tcp):
        sentence += " (TCP/53 is not allowed: answers too large for UDP will fail)"
    return Expectation(chosen.allowed, sentence)


def dns_sentence(result: Any) -> str:
    """One sentence for a client -> DNS pod UDP/53 verdict, in the words of a DNS check."""
    from provisioning.analysis.explain import ENGINE_NONE, NOT_ISOLATED, RULE_MATCHED

    egress, dns = result.egress, CLUSTER_DNS.key
    head = "expected DNS to " + ("resolve: " if result.allowed else "fail: ")
    if egress.reason == ENGINE_NONE:
        text = f"engine {egress.engine} enforces no NetworkPolicy"
    elif egress.reason == NOT_ISOLATED:
        text = f"{egress.subject} is not isolated for egress, so it may reach {dns} on UDP/53"
    else:
        isolated = f"{egress.subject} is isolated for egress by {_join(egress.isolated_by)}"
        if egress.reason == RULE_MATCHED:
            rules = _join([f"{r.policy} {r.rule}" for r in egress.allowed_by])
            verb = "allows" if len(egress.allowed_by) == 1 else "allow"
            text = f"{isolated}, and {rules} {verb} UDP/53 to {dns}"
        else:
            text = f"{isolated} and no egress rule allows UDP/53 to {dns}"
    if result.ingress.verdict != "allow":  # only when the DNS pods themselves are isolated
        text += f"; {result.ingress.sentence()}"
    return head + text


def _join(items: Sequence[str]) -> str:
    items = list(items)
    return " and ".join(items) if len(items) <= 2 else ", ".join(items[:-1]) + " and " + items[-1]
