"""Warnings about policies that are valid but probably not what their author meant.

* a policy that selects no pod;
* pods isolated for egress with no rule allowing DNS (UDP/53 and TCP/53): name resolution
  breaks; when the cluster model has the cluster DNS pods (``k8s-app=kube-dns``, as CoreDNS
  is labelled in kubeadm, kind and AKS), the check is that those pods are reachable;
* a named port that no pod it could resolve on declares (ingress: the selected pods;
  egress: the rule's peer pods), so the rule never matches;
* rules shadowed by an allow-all rule (no peers, no ports) of the same direction that applies
  to the same pods or more;
* rules of a direction that an explicit ``policyTypes`` leaves out: they have no effect;
* ``policyTypes`` omitted on a policy with egress rules and no ingress rules: it is defaulted
  to ``[Ingress, Egress]``, so the policy also isolates the pods it selects for ingress and
  admits nothing in (told only when no other policy already isolates them for ingress).

Both last two follow the ``policyTypes`` doc of ``NetworkPolicySpec`` (kubernetes/api
``networking/v1/types.go``, tag v0.36.3): "If this field is not specified, it will default
based on the existence of ingress or egress rules; policies that contain an egress section are
assumed to affect egress, and all policies (whether or not they contain an ingress section)
are assumed to affect ingress. If you want to write an egress-only policy, you must explicitly
specify policyTypes [ "Egress" ]." A listed type is what a policy "affects"
(``PolicyTypeIngress``: "a NetworkPolicy that affects ingress traffic on selected pods").
"""

from __future__ import annotations

from collections import defaultdict

from provisioning.spec import CLUSTER_DNS_LABELS

from .engine import CompiledPolicies, CompiledRule
from .policy import EGRESS, INGRESS

DNS_SELECTOR_LABEL = next(iter(CLUSTER_DNS_LABELS.items()))


def lint(c: CompiledPolicies) -> list[str]:
    """All warnings, in a stable order."""
    if not c.engine.enforces:
        return []
    return [
        *_selects_nothing(c),
        *_unlisted_rules(c),
        *_defaulted_ingress(c),
        *_no_dns(c),
        *_unresolvable_named_ports(c),
        *_shadowed(c),
        *c.tiers.ambiguities(),
    ]


def _selects_nothing(c: CompiledPolicies) -> list[str]:
    return [
        f"policy {p.key} selects no pod (podSelector {p.pod_selector.describe()} in namespace "
        f"{p.namespace}); it has no effect"
        for p, selected in zip(c.policies, c.selected, strict=True)
        if not selected
    ]


def _unlisted_rules(c: CompiledPolicies) -> list[str]:
    return [
        f"policy {p.key} spec.{direction} has no effect: policyTypes does not list "
        f"{direction.capitalize()}"
        for p in c.policies
        for direction in p.unlisted
    ]


def _defaulted_ingress(c: CompiledPolicies) -> list[str]:
    """An egress-only policy written without policyTypes isolates its pods for ingress too."""
    once = twice = 0  # pods isolated for ingress by at least one policy, by two or more
    for p, selected in zip(c.policies, c.selected, strict=True):
        if p.ingress_isolating:
            twice |= once & selected
            once |= selected
    warnings = []
    for pi, p in enumerate(c.policies):
        if p.policy_types_explicit or p.ingress or not p.egress:
            continue
        newly = c.selected[pi] & ~twice  # this policy isolates them, and no other does
        if not newly:
            continue  # selects nothing (told above) or already isolated for ingress by others
        pods = [pod.key for bit, pod in enumerate(c.pods) if newly >> bit & 1]
        shown = ", ".join(pods[:3]) + (f" and {len(pods) - 3} more" if len(pods) > 3 else "")
        warnings.append(
            f"policy {p.key}: policyTypes is omitted, so this policy also isolates the pods it "
            f"selects for ingress; with no ingress rule it admits nothing into {shown}. For an "
            "egress-only policy, set policyTypes: [Egress]"
        )
    return warnings


def _no_dns(c: CompiledPolicies) -> list[str]:
    dns_pods = 0
    for bit, pod in enumerate(c.pods):
        if pod.labels.get(DNS_SELECTOR_LABEL[0]) == DNS_SELECTOR_LABEL[1]:
            dns_pods |= 1 << bit
    # (isolating policies, missing protocols) -> affected pods, so each cause is told once.
    affected: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = defaultdict(list)
    for cls in c.classes:
        if not cls.egress_policies:
            continue
        missing = tuple(
            proto for proto in ("UDP", "TCP") if not _dns_allowed(c, cls.id, proto, dns_pods)
        )
        if missing:
            policies = tuple(c.policies[p].key for p in cls.egress_policies)
            affected[policies, missing].extend(p.key for p in _members(c, cls.id))
    warnings = []
    for (policies, missing), pods in affected.items():
        shown = ", ".join(pods[:3]) + (f" and {len(pods) - 3} more" if len(pods) > 3 else "")
        target = "the cluster DNS pods" if dns_pods else "any destination"
        warnings.append(
            f"{shown} {'is' if len(pods) == 1 else 'are'} isolated for egress by "
            f"{', '.join(policies)} and no egress rule allows DNS "
            f"({' and '.join(f'{p}/53' for p in missing)}) to {target}; name resolution will fail"
        )
    return warnings


def _dns_allowed(c: CompiledPolicies, class_id: int, protocol: str, dns_pods: int) -> bool:
    view = c.view((53, protocol))
    outbound = view.outbound[class_id]
    if outbound is None:
        return True
    if dns_pods:
        return bool(outbound & dns_pods)
    if outbound:
        return True
    return any(
        (c.rules[r].ip_blocks or c.rules[r].rule.peers is None)
        and c.rules[r].ports_cover_number(53, protocol)
        for r in view.egress_rules[class_id]
    )


def _members(c: CompiledPolicies, class_id: int) -> list:
    cls = c.classes[class_id]
    return c.pods[cls.start : cls.start + cls.count]


def _unresolvable_named_ports(c: CompiledPolicies) -> list[str]:
    declares: dict[tuple[str, str], int] = defaultdict(int)
    for bit, pod in enumerate(c.pods):
        for p in pod.ports:
            if p.name:
                declares[p.name, p.protocol] |= 1 << bit
    warnings = []
    for rule in c.rules:
        if not rule.rule.ports:
            continue
        candidates = c.selected[rule.policy_index] if rule.rule.direction == INGRESS else rule.peers
        who = "pod the policy selects" if rule.rule.direction == INGRESS else "peer pod"
        for i, m in enumerate(rule.rule.ports):
            if isinstance(m.port, str) and not declares.get((m.port, m.protocol), 0) & candidates:
                warnings.append(
                    f"policy {rule.policy.key} {rule.rule.path}.ports[{i}]: no {who} declares "
                    f"a {m.protocol} port named {m.port!r}, so this entry matches nothing"
                )
    return warnings


def _shadowed(c: CompiledPolicies) -> list[str]:
    warnings = []
    for direction in (INGRESS, EGRESS):
        allow_all: list[tuple[int, CompiledRule]] = [
            (pi, c.rules[r])
            for pi in range(len(c.policies))
            for r in c.rules_of[pi][direction]
            if c.rules[r].rule.allows_all and c.selected[pi]
        ]
        for pi, policy in enumerate(c.policies):
            selected = c.selected[pi]
            if not selected:
                continue
            for rid in c.rules_of[pi][direction]:
                rule = c.rules[rid]
                cover = next(
                    (
                        a
                        for api, a in allow_all
                        if a.id != rid
                        and (api == pi or (c.selected[api] & selected) == selected)
                        and not (rule.rule.allows_all and a.id > rid)
                    ),
                    None,
                )
                if cover is None:
                    continue
                by = (
                    cover.rule.path
                    if cover.policy is policy
                    else f"{cover.policy.key} {cover.rule.path}"
                )
                warnings.append(
                    f"policy {policy.key} {rule.rule.path} is shadowed by {by}, which allows all "
                    f"{direction} for the pods this rule applies to"
                )
    return warnings
