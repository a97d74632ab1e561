"""``ClusterNetworkPolicy`` (``policy.networking.k8s.io/v1alpha2``), validated and read.

Source: kubernetes-sigs/network-policy-api@v0.2.0 ``apis/v1alpha2/clusternetworkpolicy_types.go``
and the CRDs generated from it (``config/crd/standard/`` and ``config/crd/experimental/
policy.networking.k8s.io_clusternetworkpolicies.yaml``). Validation mirrors the CRD's schema, as
the API server applies it:

* ``spec.tier``: enum Admin, Baseline; ``spec.priority``: integer 0-1000;
* ``spec.subject``: exactly one of ``namespaces`` (a LabelSelector) and ``pods``
  (``{namespaceSelector, podSelector}``; ``podSelector`` required) -- MinProperties/
  MaxProperties 1;
* ``spec.ingress`` / ``spec.egress``: at most 25 rules; a rule has ``name`` (at most 100
  characters), ``action`` (enum Accept, Deny, Pass), ``from`` / ``to`` (1-25 peers, each with
  exactly one field) and optional ``protocols`` (1-25 entries, each exactly one of ``tcp``,
  ``udp``, ``sctp`` and ``destinationNamedPort``; ``tcp``/``udp``/``sctp`` hold
  ``destinationPort`` with exactly one of ``number`` (1-65535) and ``range``
  (``start < end``));
* ingress peers: ``namespaces`` or ``pods``; egress peers also ``networks`` (1-25 CIDRs,
  ``isCIDR``, at most 43 characters) and the experimental ``nodes`` and ``domainNames``;
* experimental CRD: a rule with a ``networks``/``nodes``/``domainNames`` peer cannot use
  ``destinationNamedPort``.

``nodes`` and ``domainNames`` are experimental channel fields: the cluster model has no nodes
and the analyzer resolves no names, so such a peer matches no traffic here; reading one adds a
warning that says so (never silently).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.errors import UsageError

from .policy import EGRESS, INGRESS, IPBlock
from .selectors import Selector
from .validate import (
    _as_list,
    _check_fields,
    _choices,
    _is_int,
    _q,
    _type_name,
    _validate_metadata,
    _validate_selector,
    parse_cidr,
    port_name_errors,
)

API_VERSION = "policy.networking.k8s.io/v1alpha2"
KIND = "ClusterNetworkPolicy"
ADMIN = "Admin"
BASELINE = "Baseline"
TIERS = (ADMIN, BASELINE)
ACCEPT, DENY, PASS = "Accept", "Deny", "Pass"
ACTIONS = (ACCEPT, DENY, PASS)
MAX_ITEMS = 25  # rules per direction, peers per rule, protocols per rule, networks per peer
MAX_RULE_NAME = 100
PRIORITY_RANGE = (0, 1000)
_PROTOCOL_FIELDS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}
_INGRESS_PEER_FIELDS = ("namespaces", "pods")
_EGRESS_PEER_FIELDS = ("namespaces", "pods", "networks", "nodes", "domainNames")
_EXPERIMENTAL_PEERS = ("nodes", "domainNames")


@dataclass(frozen=True)
class CnpPort:
    """One ``protocols`` entry: a protocol with a port or range, or a destination port name."""

    protocol: str | None  # None with ``name``: a named port, whatever its protocol
    start: int | None = None
    end: int | None = None  # inclusive; equal to ``start`` for a single number
    name: str | None = None

    def matches_number(self, number: int, protocol: str) -> bool:
        """Whether a numeric entry covers the port; named entries are resolved on the pod."""
        if self.name is not None or protocol != self.protocol:
            return False
        assert self.start is not None and self.end is not None
        return self.start <= number <= self.end


@dataclass(frozen=True)
class CnpPeer:
    """One ``from``/``to`` entry; exactly one of its kinds is set."""

    kind: str  # namespaces | pods | networks | nodes | domainNames
    namespaces: Selector | None = None  # kind namespaces, or the pods' namespaceSelector
    pods: Selector | None = None
    networks: tuple[IPBlock, ...] = ()


@dataclass(frozen=True)
class CnpRule:
    direction: str
    index: int
    name: str
    action: str
    peers: tuple[CnpPeer, ...]
    ports: tuple[CnpPort, ...] | None  # None: every port and protocol

    @property
    def path(self) -> str:
        return f"spec.{self.direction}[{self.index}]"


@dataclass(frozen=True)
class ClusterPolicy:
    """A ClusterNetworkPolicy: cluster-scoped, in the Admin or the Baseline tier."""

    name: str
    tier: str
    priority: int
    subject_kind: str  # namespaces | pods
    subject_namespaces: Selector
    subject_pods: Selector  # the empty selector (every pod) for a ``namespaces`` subject
    ingress: tuple[CnpRule, ...]
    egress: tuple[CnpRule, ...]
    warnings: tuple[str, ...] = ()

    kind = KIND

    @property
    def key(self) -> str:
        return self.name

    def rules(self, direction: str) -> tuple[CnpRule, ...]:
        return self.ingress if direction == INGRESS else self.egress


def validate_cluster_network_policy(obj: Any) -> list[str]:
    """All reasons the API server (the CRD's schema) would reject ``obj``; empty when valid."""
    errors: list[str] = []
    _validate(obj, errors, [])
    return errors


def is_cluster_network_policy(obj: Any) -> bool:
    return isinstance(obj, Mapping) and obj.get("kind") == KIND


def parse_cluster_policy(obj: Mapping[str, Any], *, source: str = "") -> ClusterPolicy:
    """Validate ``obj`` as the CRD does and read it; ``UsageError`` names the field."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name")
    label = f"{KIND} {name if isinstance(name, str) and name else '<unnamed>'}"
    errors: list[str] = []
    warnings: list[str] = []
    _validate(obj, errors, warnings)
    where = f"{source}: " if source else ""
    if errors:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise UsageError(f"{where}{label}: {errors[0]}{more}")
    spec = obj["spec"]
    subject = spec["subject"]
    if "namespaces" in subject:
        kind, namespaces, pods = "namespaces", Selector.from_obj(subject["namespaces"]), Selector()
    else:
        kind = "pods"
        namespaces = Selector.from_obj(subject["pods"].get("namespaceSelector"))
        pods = Selector.from_obj(subject["pods"].get("podSelector"))
    return ClusterPolicy(
        name=str(name),
        tier=spec["tier"],
        priority=int(spec["priority"]),
        subject_kind=kind,
        subject_namespaces=namespaces,
        subject_pods=pods,
        ingress=_rules(spec.get("ingress"), INGRESS, "from"),
        egress=_rules(spec.get("egress"), EGRESS, "to"),
        warnings=tuple(f"{where}{label}: {w}" for w in warnings),
    )


# -- reading (after validation) -----------------------------------------------------------------


def _rules(raw: Any, direction: str, peers_key: str) -> tuple[CnpRule, ...]:
    rules = []
    for i, item in enumerate(raw or ()):
        protocols = item.get("protocols")
        rules.append(
            CnpRule(
                direction=direction,
                index=i,
                name=item.get("name") or "",
                action=item["action"],
                peers=tuple(_peer(p) for p in item[peers_key]),
                ports=None if protocols is None else tuple(_port(p) for p in protocols),
            )
        )
    return tuple(rules)


def _peer(raw: Mapping[str, Any]) -> CnpPeer:
    if raw.get("namespaces") is not None:
        return CnpPeer("namespaces", namespaces=Selector.from_obj(raw["namespaces"]))
    if raw.get("pods") is not None:
        pods = raw["pods"]
        return CnpPeer(
            "pods",
            namespaces=Selector.from_obj(pods.get("namespaceSelector")),
            pods=Selector.from_obj(pods.get("podSelector")),
        )
    if raw.get("networks") is not None:
        blocks = []
        for text in raw["networks"]:
            network = parse_cidr(text)
            assert network is not None  # validated before
            blocks.append(IPBlock(network))
        return CnpPeer("networks", networks=tuple(blocks))
    return CnpPeer("nodes" if raw.get("nodes") is not None else "domainNames")


def _port(raw: Mapping[str, Any]) -> CnpPort:
    if raw.get("destinationNamedPort") is not None:
        return CnpPort(None, name=raw["destinationNamedPort"])
    for field, protocol in _PROTOCOL_FIELDS.items():
        if raw.get(field) is not None:
            port = raw[field]["destinationPort"]
            if port.get("number") is not None:
                return CnpPort(protocol, port["number"], port["number"])
            return CnpPort(protocol, port["range"]["start"], port["range"]["end"])
    raise AssertionError("validated before")


# -- validation ---------------------------------------------------------------------------------


def _validate(obj: Any, errors: list[str], warnings: list[str]) -> None:
    if not isinstance(obj, Mapping):
        errors.append(f"<root>: must be an object, got {_type_name(obj)}")
        return
    _check_fields(obj, "", {"apiVersion", "kind", "metadata", "spec", "status"}, errors)
    if obj.get("apiVersion") not in (None, API_VERSION):
        errors.append(
            f"apiVersion: {_q(obj['apiVersion'])} is not {_q(API_VERSION)} (v0.2.0 replaced "
            "v1alpha1 AdminNetworkPolicy and BaselineAdminNetworkPolicy with this one kind)"
        )
    _validate_metadata(obj.get("metadata"), errors)
    spec = obj.get("spec")
    if spec is None:
        errors.append("spec: Required value")
        return
    if not isinstance(spec, Mapping):
        errors.append(f"spec: must be an object, got {_type_name(spec)}")
        return
    _check_fields(spec, "spec", {"tier", "priority", "subject", "ingress", "egress"}, errors)
    tier = spec.get("tier")
    if tier is None:
        errors.append("spec.tier: Required value")
    elif tier not in TIERS:
        errors.append(
            f"spec.tier: Unsupported value: {_q(tier)}: supported values: {_choices(TIERS)}"
        )
    priority = spec.get("priority")
    low, high = PRIORITY_RANGE
    if priority is None:
        errors.append("spec.priority: Required value")
    elif not _is_int(priority):
        errors.append(f"spec.priority: must be an integer, got {_type_name(priority)}")
    elif not low <= priority <= high:
        errors.append(f"spec.priority: {_q(priority)} must be between {low} and {high}")
    _validate_subject(spec.get("subject"), errors)
    for direction, peers_key, fields in (
        ("ingress", "from", _INGRESS_PEER_FIELDS),
        ("egress", "to", _EGRESS_PEER_FIELDS),
    ):
        path = f"spec.{direction}"
        rules = _as_list(spec.get(direction), path, errors)
        if len(rules) > MAX_ITEMS:
            errors.append(f"{path}: Too many: {len(rules)}: must have at most {MAX_ITEMS} items")
        for i, rule in enumerate(rules):
            _validate_rule(rule, f"{path}[{i}]", peers_key, fields, errors, warnings)


def _validate_subject(subject: Any, errors: list[str]) -> None:
    path = "spec.subject"
    if subject is None:
        errors.append(f"{path}: Required value")
        return
    if not isinstance(subject, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(subject)}")
        return
    _check_fields(subject, path, {"namespaces", "pods"}, errors)
    set_fields = _one_of(subject, ("namespaces", "pods"), path, errors)
    if set_fields == "namespaces":
        _validate_selector(subject["namespaces"], f"{path}.namespaces", errors)
    elif set_fields == "pods":
        _validate_namespaced_pod(subject["pods"], f"{path}.pods", errors)


def _validate_namespaced_pod(value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(value)}")
        return
    _check_fields(value, path, {"namespaceSelector", "podSelector"}, errors)
    if value.get("podSelector") is None:
        errors.append(f"{path}.podSelector: Required value")
    else:
        _validate_selector(value["podSelector"], f"{path}.podSelector", errors)
    if value.get("namespaceSelector") is not None:
        _validate_selector(value["namespaceSelector"], f"{path}.namespaceSelector", errors)


def _validate_rule(
    rule: Any,
    path: str,
    peers_key: str,
    peer_fields: tuple[str, ...],
    errors: list[str],
    warnings: list[str],
) -> None:
    if not isinstance(rule, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(rule)}")
        return
    _check_fields(rule, path, {"name", "action", peers_key, "protocols"}, errors)
    name = rule.get("name")
    if name is not None:
        if not isinstance(name, str):
            errors.append(f"{path}.name: must be a string, got {_type_name(name)}")
        elif len(name) > MAX_RULE_NAME:
            errors.append(
                f"{path}.name: Too long: may not be more than {MAX_RULE_NAME} bytes "
                f"(got {len(name)})"
            )
    action = rule.get("action")
    if action is None:
        errors.append(f"{path}.action: Required value")
    elif action not in ACTIONS:
        errors.append(
            f"{path}.action: Unsupported value: {_q(action)}: supported values: {_choices(ACTIONS)}"
        )
    peers_path = f"{path}.{peers_key}"
    if rule.get(peers_key) is None:
        errors.append(f"{peers_path}: Required value")
    peers = _as_list(rule.get(peers_key), peers_path, errors)
    _count(peers, peers_path, errors, minimum=rule.get(peers_key) is not None)
    kinds = []
    for j, peer in enumerate(peers):
        kinds.append(_validate_peer(peer, f"{peers_path}[{j}]", peer_fields, errors, warnings))
    protocols_path = f"{path}.protocols"
    protocols = _as_list(rule.get("protocols"), protocols_path, errors)
    _count(protocols, protocols_path, errors, minimum=rule.get("protocols") is not None)
    named = False
    for k, entry in enumerate(protocols):
        named |= _validate_protocol(entry, f"{protocols_path}[{k}]", errors)
    without_ports = [k for k in kinds if k in ("networks", "nodes", "domainNames")]
    if named and without_ports:
        # The experimental CRD's XValidation on ClusterNetworkPolicyEgressRule.
        errors.append(
            f"{path}: Invalid value: networks/nodes/domainNames peer cannot be set with "
            "namedPorts since there are no namedPorts for networks/nodes/domainNames"
        )


def _validate_peer(
    peer: Any, path: str, fields: tuple[str, ...], errors: list[str], warnings: list[str]
) -> str | None:
    if not isinstance(peer, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(peer)}")
        return None
    _check_fields(peer, path, set(fields), errors)
    kind = _one_of(peer, fields, path, errors)
    if kind == "namespaces":
        _validate_selector(peer["namespaces"], f"{path}.namespaces", errors)
    elif kind == "pods":
        _validate_namespaced_pod(peer["pods"], f"{path}.pods", errors)
    elif kind == "networks":
        networks = _as_list(peer["networks"], f"{path}.networks", errors)
        _count(networks, f"{path}.networks", errors, minimum=True)
        seen = set()
        for i, text in enumerate(networks):
            where = f"{path}.networks[{i}]"
            if not isinstance(text, str):
                errors.append(f"{where}: must be a string, got {_type_name(text)}")
            elif len(text) > 43:
                errors.append(f"{where}: Too long: may not be more than 43 bytes")
            elif parse_cidr(text) is None:
                errors.append(f"{where}: Invalid value: {_q(text)}: Invalid CIDR format provided")
            elif text in seen:  # listType=set
                errors.append(f"{where}: Duplicate value: {_q(text)}")
            else:
                seen.add(text)
    elif kind == "nodes":
        _validate_selector(peer["nodes"], f"{path}.nodes", errors)
    elif kind == "domainNames":
        names = _as_list(peer["domainNames"], f"{path}.domainNames", errors)
        _count(names, f"{path}.domainNames", errors, minimum=True)
        for i, text in enumerate(names):
            if not isinstance(text, str):
                errors.append(f"{path}.domainNames[{i}]: must be a string")
    if kind in _EXPERIMENTAL_PEERS:
        why = (
            "the cluster model has no nodes"
            if kind == "nodes"
            else "the analyzer resolves no domain names"
        )
        warnings.append(
            f"{path}.{kind}: experimental (network-policy-api experimental channel); {why}, so "
            "this peer matches no traffic in the analysis"
        )
    return kind


def _validate_protocol(entry: Any, path: str, errors: list[str]) -> bool:
    """Validate one ``protocols`` entry; True when it is a ``destinationNamedPort``."""
    if not isinstance(entry, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(entry)}")
        return False
    fields = (*_PROTOCOL_FIELDS, "destinationNamedPort")
    _check_fields(entry, path, set(fields), errors)
    kind = _one_of(entry, fields, path, errors)
    if kind == "destinationNamedPort":
        name = entry[kind]
        if not isinstance(name, str):
            errors.append(f"{path}.{kind}: must be a string, got {_type_name(name)}")
        else:
            errors.extend(f"{path}.{kind}: {_q(name)} {m}" for m in port_name_errors(name))
        return True
    if kind is None:
        return False
    body = entry[kind]
    where = f"{path}.{kind}"
    if not isinstance(body, Mapping):
        errors.append(f"{where}: must be an object, got {_type_name(body)}")
        return False
    _check_fields(body, where, {"destinationPort"}, errors)
    port = body.get("destinationPort")
    if port is None:
        errors.append(f"{where}: Invalid value: must have at least 1 properties")
        return False
    where += ".destinationPort"
    if not isinstance(port, Mapping):
        errors.append(f"{where}: must be an object, got {_type_name(port)}")
        return False
    _check_fields(port, where, {"number", "range"}, errors)
    which = _one_of(port, ("number", "range"), where, errors)
    if which == "number":
        _port_number(port["number"], f"{where}.number", errors)
    elif which == "range":
        span = port["range"]
        if not isinstance(span, Mapping):
            errors.append(f"{where}.range: must be an object, got {_type_name(span)}")
            return False
        _check_fields(span, f"{where}.range", {"start", "end"}, errors)
        ok = True
        for end in ("start", "end"):
            if span.get(end) is None:
                errors.append(f"{where}.range.{end}: Required value")
                ok = False
            else:
                ok &= _port_number(span[end], f"{where}.range.{end}", errors)
        if ok and not span["start"] < span["end"]:
            errors.append(f"{where}.range: Invalid value: Start port must be less than End port")
    return False


def _port_number(value: Any, path: str, errors: list[str]) -> bool:
    if not _is_int(value):
        errors.append(f"{path}: must be an integer, got {_type_name(value)}")
        return False
    if not 1 <= value <= 65535:
        errors.append(f"{path}: {_q(value)} must be between 1 and 65535")
        return False
    return True


def _one_of(
    obj: Mapping[str, Any], fields: tuple[str, ...], path: str, errors: list[str]
) -> str | None:
    """The one field of ``fields`` that is set (MinProperties=MaxProperties=1), else an error."""
    present = [f for f in fields if obj.get(f) is not None]
    if len(present) == 1:
        return present[0]
    if not present:
        errors.append(f"{path}: Required value: exactly one of {', '.join(fields)} must be set")
    else:
        errors.append(
            f"{path}: Invalid value: exactly one of {', '.join(fields)} may be set, got "
            f"{', '.join(present)}"
        )
    return None


def _count(items: list[Any], path: str, errors: list[str], *, minimum: bool) -> None:
    if minimum and not items:
        errors.append(f"{path}: Required value: must have at least 1 item")
    if len(items) > MAX_ITEMS:
        errors.append(f"{path}: Too many: {len(items)}: must have at most {MAX_ITEMS} items")
