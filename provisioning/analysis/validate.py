"""Strict validation of one ``networking.k8s.io/v1`` NetworkPolicy, as the API server does it.

Two layers, both mirrored from the API server so a rendered template that passes here is not
rejected on apply:

* structure, as with ``fieldValidation=Strict``: unknown fields and wrong JSON types are errors;
  ``null`` means "absent", as it does for Go's decoder;
* semantics, following ``ValidateNetworkPolicy`` in kubernetes/kubernetes
  ``pkg/apis/networking/validation/validation.go`` and ``ValidateLabelSelector`` in apimachinery
  ``pkg/apis/meta/v1/validation``: DNS-1123 name, selector operators and their values, exactly one
  kind of peer when ``ipBlock`` is used, CIDR syntax, ``except`` strictly inside ``cidr``, port
  number and name rules, ``endPort`` only with a numeric ``port`` and not below it, protocols
  TCP/UDP/SCTP, policy types Ingress/Egress.

Messages name the field path the way kubectl prints it, e.g.
``spec.ingress[0].from[1].ipBlock.except[0]: "10.0.0.0/8" is not inside cidr "192.168.0.0/16"``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"
PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_RE = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
_DNS1123_LABEL_RE = re.compile(rf"^{_DNS1123_LABEL}$")
_QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_PORT_NAME_RE = re.compile(r"^[-a-z0-9]+$")

_METADATA_FIELDS = {
    "name": str,
    "generateName": str,
    "namespace": str,
    "selfLink": str,
    "uid": str,
    "resourceVersion": str,
    "generation": int,
    "creationTimestamp": str,
    "deletionTimestamp": str,
    "deletionGracePeriodSeconds": int,
    "labels": dict,
    "annotations": dict,
    "ownerReferences": list,
    "finalizers": list,
    "managedFields": list,
}


def validate_networkpolicy(obj: Mapping[str, Any]) -> list[str]:
    """All reasons the API server would reject ``obj``; an empty list when it is valid."""
    errors: list[str] = []
    if not isinstance(obj, Mapping):
        return [f"<root>: must be an object, got {_type_name(obj)}"]
    # No `status`: NetworkPolicyStatus (KEP-2943, alpha in 1.24) was withdrawn and removed from
    # the API in Kubernetes 1.28 (kubernetes/kubernetes#115843), so strict field validation
    # rejects it as an unknown field.
    _check_fields(obj, "", {"apiVersion", "kind", "metadata", "spec"}, errors)
    if obj.get("apiVersion") not in (None, API_VERSION):
        errors.append(f"apiVersion: {_q(obj['apiVersion'])} is not {_q(API_VERSION)}")
    if obj.get("kind") not in (None, KIND):
        errors.append(f"kind: {_q(obj['kind'])} is not {_q(KIND)}")
    _validate_metadata(obj.get("metadata"), errors)
    spec = obj.get("spec")
    if spec is not None:
        if isinstance(spec, Mapping):
            _validate_spec(spec, errors)
        else:
            errors.append(f"spec: must be an object, got {_type_name(spec)}")
    return errors


# -- metadata -----------------------------------------------------------------------------------


def _validate_metadata(meta: Any, errors: list[str]) -> None:
    if meta is None:
        errors.append("metadata.name: Required value: name is required")
        return
    if not isinstance(meta, Mapping):
        errors.append(f"metadata: must be an object, got {_type_name(meta)}")
        return
    for key, value in meta.items():
        expected = _METADATA_FIELDS.get(key)
        if expected is None:
            errors.append(f"metadata.{key}: unknown field")
        elif value is not None and not _is_type(value, expected):
            errors.append(
                f"metadata.{key}: must be {_json_type(expected)}, got {_type_name(value)}"
            )
    name = meta.get("name")
    if not name:
        errors.append("metadata.name: Required value: name is required")
    elif isinstance(name, str):
        errors.extend(f"metadata.name: {_q(name)} {m}" for m in _dns1123_subdomain(name))
    namespace = meta.get("namespace")
    if isinstance(namespace, str) and namespace:
        errors.extend(f"metadata.namespace: {_q(namespace)} {m}" for m in _dns1123_label(namespace))
    labels = meta.get("labels")
    if isinstance(labels, Mapping):
        _validate_label_map(labels, "metadata.labels", errors)
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping):
        for key, value in annotations.items():
            for m in _qualified_name(str(key)):
                errors.append(f"metadata.annotations: key {_q(key)} {m}")
            if not isinstance(value, str):
                errors.append(f"metadata.annotations[{key}]: must be a string")


# -- spec ---------------------------------------------------------------------------------------


def _validate_spec(spec: Mapping[str, Any], errors: list[str]) -> None:
    _check_fields(spec, "spec", {"podSelector", "ingress", "egress", "policyTypes"}, errors)
    if spec.get("podSelector") is not None:
        _validate_selector(spec["podSelector"], "spec.podSelector", errors)
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        rules = _as_list(spec.get(direction), f"spec.{direction}", errors)
        for i, rule in enumerate(rules):
            _validate_rule(rule, f"spec.{direction}[{i}]", peers_key, errors)
    types = _as_list(spec.get("policyTypes"), "spec.policyTypes", errors)
    if len(types) > len(POLICY_TYPES):
        errors.append("spec.policyTypes: may not specify more than two policyTypes")
    for i, value in enumerate(types):
        if value not in POLICY_TYPES:
            errors.append(
                f"spec.policyTypes[{i}]: Unsupported value: {_q(value)}: "
                f"supported values: {_choices(POLICY_TYPES)}"
            )


def _validate_rule(rule: Any, path: str, peers_key: str, errors: list[str]) -> None:
    if rule is None:
        return
    if not isinstance(rule, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(rule)}")
        return
    _check_fields(rule, path, {"ports", peers_key}, errors)
    for i, port in enumerate(_as_list(rule.get("ports"), f"{path}.ports", errors)):
        _validate_port(port, f"{path}.ports[{i}]", errors)
    for i, peer in enumerate(_as_list(rule.get(peers_key), f"{path}.{peers_key}", errors)):
        _validate_peer(peer, f"{path}.{peers_key}[{i}]", errors)


def _validate_port(port: Any, path: str, errors: list[str]) -> None:
    if port is None:
        return
    if not isinstance(port, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(port)}")
        return
    _check_fields(port, path, {"protocol", "port", "endPort"}, errors)
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        errors.append(
            f"{path}.protocol: Unsupported value: {_q(protocol)}: "
            f"supported values: {_choices(PROTOCOLS)}"
        )
    number = port.get("port")
    end = port.get("endPort")
    if end is not None and not _is_int(end):
        errors.append(f"{path}.endPort: must be an integer, got {_type_name(end)}")
        end = None
    if number is None:
        if end is not None:
            errors.append(f"{path}.endPort: may not be specified when `port` is not specified")
    elif _is_int(number):
        errors.extend(f"{path}.port: {number} {m}" for m in _port_number(number))
        if end is not None:
            if end < number:
                errors.append(f"{path}.endPort: {end} must be greater than or equal to `port`")
            errors.extend(f"{path}.endPort: {end} {m}" for m in _port_number(end))
    elif isinstance(number, str):
        if end is not None:
            errors.append(f"{path}.endPort: may not be specified when `port` is non-numeric")
        errors.extend(f"{path}.port: {_q(number)} {m}" for m in port_name_errors(number))
    else:
        errors.append(f"{path}.port: must be an integer or a string, got {_type_name(number)}")


def _validate_peer(peer: Any, path: str, errors: list[str]) -> None:
    if peer is None:
        errors.append(f"{path}: Required value: must specify a peer")
        return
    if not isinstance(peer, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(peer)}")
        return
    _check_fields(peer, path, {"podSelector", "namespaceSelector", "ipBlock"}, errors)
    present = [
        k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None
    ]
    if not present:
        errors.append(f"{path}: Required value: must specify a peer")
    elif "ipBlock" in present and len(present) > 1:
        errors.append(f"{path}: ipBlock cannot be combined with podSelector or namespaceSelector")
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            _validate_selector(peer[key], f"{path}.{key}", errors)
    if peer.get("ipBlock") is not None:
        _validate_ip_block(peer["ipBlock"], f"{path}.ipBlock", errors)


def _validate_ip_block(block: Any, path: str, errors: list[str]) -> None:
    if not isinstance(block, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(block)}")
        return
    _check_fields(block, path, {"cidr", "except"}, errors)
    cidr = block.get("cidr")
    if not cidr:
        errors.append(f"{path}.cidr: Required value")
        return
    if not isinstance(cidr, str):
        errors.append(f"{path}.cidr: must be a string, got {_type_name(cidr)}")
        return
    network = parse_cidr(cidr)
    if network is None:
        errors.append(f"{path}.cidr: {_q(cidr)} must be a valid CIDR value, (e.g. 10.9.8.0/24)")
    for i, item in enumerate(_as_list(block.get("except"), f"{path}.except", errors)):
        item_path = f"{path}.except[{i}]"
        if not isinstance(item, str):
            errors.append(f"{item_path}: must be a string, got {_type_name(item)}")
            continue
        excluded = parse_cidr(item)
        if excluded is None:
            errors.append(f"{item_path}: {_q(item)} must be a valid CIDR value, (e.g. 10.9.8.0/24)")
        elif network is not None and not _strict_subnet(excluded, network):
            errors.append(f"{item_path}: {_q(item)} is not inside cidr {_q(cidr)}")


def _strict_subnet(inner: ipaddress._BaseNetwork, outer: ipaddress._BaseNetwork) -> bool:
    """The API server's rule: same family, longer prefix, network address inside ``outer``."""
    return (
        inner.version == outer.version
        and inner.prefixlen > outer.prefixlen
        and inner.network_address in outer
    )


def _validate_selector(selector: Any, path: str, errors: list[str]) -> None:
    if not isinstance(selector, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(selector)}")
        return
    _check_fields(selector, path, {"matchLabels", "matchExpressions"}, errors)
    labels = selector.get("matchLabels")
    if labels is not None:
        if isinstance(labels, Mapping):
            _validate_label_map(labels, f"{path}.matchLabels", errors)
        else:
            errors.append(f"{path}.matchLabels: must be an object, got {_type_name(labels)}")
    exprs = _as_list(selector.get("matchExpressions"), f"{path}.matchExpressions", errors)
    for i, expr in enumerate(exprs):
        _validate_expression(expr, f"{path}.matchExpressions[{i}]", errors)


def _validate_expression(expr: Any, path: str, errors: list[str]) -> None:
    if not isinstance(expr, Mapping):
        errors.append(f"{path}: must be an object, got {_type_name(expr)}")
        return
    _check_fields(expr, path, {"key", "operator", "values"}, errors)
    key = expr.get("key")
    if not key:
        errors.append(f"{path}.key: Required value")
    elif not isinstance(key, str):
        errors.append(f"{path}.key: must be a string, got {_type_name(key)}")
    else:
        errors.extend(f"{path}.key: {_q(key)} {m}" for m in _qualified_name(key))
    operator = expr.get("operator")
    values = _as_list(expr.get("values"), f"{path}.values", errors)
    if operator in ("In", "NotIn"):
        if not values:
            errors.append(
                f"{path}.values: Required value: must be specified when `operator` is 'In' or "
                "'NotIn'"
            )
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errors.append(
                f"{path}.values: Forbidden: may not be specified when `operator` is 'Exists' or "
                "'DoesNotExist'"
            )
    elif operator is None:
        errors.append(f"{path}.operator: Required value")
    else:
        errors.append(
            f"{path}.operator: Unsupported value: {_q(operator)}: "
            f"supported values: {_choices(OPERATORS)}"
        )
    for i, value in enumerate(values):
        if not isinstance(value, str):
            errors.append(f"{path}.values[{i}]: must be a string, got {_type_name(value)}")
        else:
            errors.extend(f"{path}.values[{i}]: {_q(value)} {m}" for m in _label_value(value))


def _validate_label_map(labels: Mapping[Any, Any], path: str, errors: list[str]) -> None:
    for key, value in labels.items():
        if not isinstance(key, str):
            errors.append(f"{path}: key {key!r} must be a string")
            continue
        errors.extend(f"{path}: key {_q(key)} {m}" for m in _qualified_name(key))
        if not isinstance(value, str):
            errors.append(f"{path}[{key}]: must be a string, got {_type_name(value)}")
        else:
            errors.extend(f"{path}[{key}]: {_q(value)} {m}" for m in _label_value(value))


# -- syntax helpers (public ones are reused by the cluster model) --------------------------------


def parse_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR as the API server reads it (host bits allowed, prefix length required, no IPv6
    zone: Go's net.ParseCIDR and netip.ParsePrefix both refuse ``fe80::1%eth0/128``)."""
    if "/" not in text or "%" in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def port_name_errors(name: str) -> list[str]:
    """IANA_SVC_NAME rules, as ``IsValidPortName`` in apimachinery applies them."""
    found = []
    if not 1 <= len(name) <= 15:
        found.append("must be no more than 15 characters")
    if not _PORT_NAME_RE.match(name):
        found.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        found.append("must not contain consecutive hyphens")
    if not any(c.isalpha() for c in name):
        found.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        found.append("must not begin or end with a hyphen")
    return found


def label_key_errors(key: str) -> list[str]:
    """Errors for a label key (``prefix/name``), empty when valid."""
    return _qualified_name(key)


def label_value_errors(value: str) -> list[str]:
    """Errors for a label value, empty when valid."""
    return _label_value(value)


def _port_number(number: int) -> list[str]:
    return [] if 1 <= number <= 65535 else ["must be between 1 and 65535, inclusive"]


def _dns1123_subdomain(name: str) -> list[str]:
    found = []
    if len(name) > 253:
        found.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN_RE.match(name):
        found.append(
            "must be a lowercase RFC 1123 subdomain: lowercase alphanumeric characters, '-' or "
            "'.', starting and ending with an alphanumeric character"
        )
    return found


def _dns1123_label(name: str) -> list[str]:
    found = []
    if len(name) > 63:
        found.append("must be no more than 63 characters")
    if not _DNS1123_LABEL_RE.match(name):
        found.append(
            "must be a lowercase RFC 1123 label: lowercase alphanumeric characters or '-', "
            "starting and ending with an alphanumeric character"
        )
    return found


def _qualified_name(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    found = []
    if "/" in key:
        if not prefix:
            found.append("prefix part must be non-empty")
        else:
            found.extend(f"prefix part {m}" for m in _dns1123_subdomain(prefix))
    if not name:
        found.append("name part must be non-empty")
    elif len(name) > 63:
        found.append("name part must be no more than 63 characters")
    elif not _QUALIFIED_NAME_RE.match(name):
        found.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character"
        )
    return found


def _label_value(value: str) -> list[str]:
    if value == "":
        return []
    if len(value) > 63:
        return ["must be no more than 63 characters"]
    if not _QUALIFIED_NAME_RE.match(value):
        return [
            "must be empty or consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character"
        ]
    return []


# -- structure helpers --------------------------------------------------------------------------


def _check_fields(obj: Mapping[str, Any], path: str, known: set[str], errors: list[str]) -> None:
    for key in obj:
        if key not in known:
            where = f"{path}.{key}" if path else str(key)
            errors.append(f"{where}: unknown field {_q(key)}")


def _as_list(value: Any, path: str, errors: list[str]) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    errors.append(f"{path}: must be a list, got {_type_name(value)}")
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_type(value: Any, expected: type) -> bool:
    if expected is int:
        return _is_int(value)
    if expected is dict:
        return isinstance(value, Mapping)
    if expected is list:
        return isinstance(value, list | tuple)
    return isinstance(value, expected)


_JSON_TYPES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    dict: "an object",
    list: "a list",
}


def _json_type(expected: type) -> str:
    return _JSON_TYPES.get(expected, expected.__name__)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _q(value: Any) -> str:
    """Quote a value the way the API server's messages do."""
    from provisioning.documents import cut, shown

    if isinstance(value, str):
        return cut('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return shown(value)


def _choices(values: tuple[str, ...]) -> str:
    return ", ".join(f'"{v}"' for v in values)
