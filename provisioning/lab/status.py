"""``status``: what the lab looks like right now, observed, for people (text) and scripts (JSON).

One document and one view for every provider: the shared part (cluster, ownership, engine, the
lab's objects, the scenario) plus the provider's own details (``Provider.status_details``: the
AKS cluster's ARM properties, the engine detected in an existing cluster), under its name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provisioning.lab.observe import ObservedLab
from provisioning.lab.provider import Provider
from provisioning.spec import LabSpec


@dataclass(frozen=True)
class LabStatus:
    spec: LabSpec
    observed: ObservedLab
    details: dict[str, Any]
    lines: list[str]  # the provider's lines, in place of the shared cluster and engine lines

    def document(self) -> dict[str, Any]:
        doc = status_document(self.spec, self.observed)
        if self.details:
            doc[self.spec.provider] = self.details
        return doc

    def text(self) -> str:
        return render_status(self.spec, self.observed, self.lines)


def lab_status(spec: LabSpec, provider: Provider) -> LabStatus:
    observed = provider.observe(spec)
    details, lines = provider.status_details(spec, observed)
    return LabStatus(spec, observed, details, lines)


def status_document(spec: LabSpec, observed: ObservedLab) -> dict[str, Any]:
    from provisioning.providers import info

    return {
        "lab": spec.name,
        "provider": spec.provider,
        # None where the provider never chooses the engine (it is found in the cluster).
        "desired_engine": spec.engine if info(spec.provider).engines else None,
        "kubeconfig": str(spec.kubeconfig) if spec.kubeconfig.exists() else None,
        **({"context": spec.kube_context} if spec.kube_context else {}),
        **observed.as_dict(),
    }


def up_command(spec: LabSpec) -> str:
    provider = f" --provider {spec.provider}" if spec.provider != "kind" else ""
    return f"invoke up{provider} --name {spec.name}"


def render_status(spec: LabSpec, observed: ObservedLab, provider_lines: Sequence[str] = ()) -> str:
    lines = [f"Lab {spec.name} ({spec.provider})"]
    if not observed.observed:
        lines.append(f"  {observed.reason}")
        return "\n".join(lines) + "\n"
    if provider_lines:
        lines += [f"  {line}" for line in provider_lines]
    if not observed.cluster_exists:
        if not provider_lines:
            lines.append(f"  cluster:    none (create it with `{up_command(spec)}`)")
        return "\n".join(lines) + "\n"
    if not provider_lines:
        owner = {
            True: "created by netpol-lab",
            False: "NOT created by netpol-lab",
            None: "owner unknown",
        }[observed.owned]
        lines.append(f"  cluster:    exists, {owner}")
    if observed.reason:
        lines.append(f"  note:       {observed.reason}")
    if observed.owned and not provider_lines:
        state = (
            "ready"
            if observed.engine_ready
            else ("installed, not ready" if observed.engine_installed else "not installed")
        )
        lines.append(f"  engine:     {observed.engine} {state} ({observed.engine_detail})")
    if observed.owned and (observed.api_reachable or not provider_lines):
        kinds = Counter(key.split("/", 1)[0] for key in observed.objects)
        ready = sum(observed.pods_ready.values())
        lines.append(
            f"  objects:    {kinds.get('Namespace', 0)} namespaces, {kinds.get('Pod', 0)} pods "
            f"({ready} ready), {kinds.get('NetworkPolicy', 0)} NetworkPolicies"
        )
        lines.append(f"  scenario:   {observed.scenario or '(no policies applied)'}")
    if spec.kubeconfig.exists() and observed.owned:
        context = f" --context {spec.kube_context}" if spec.kube_context else ""
        lines.append(f"  kubeconfig: {spec.kubeconfig}")
        lines.append(
            f"              export KUBECONFIG={spec.kubeconfig}  # to use kubectl{context}"
        )
    return "\n".join(lines) + "\n"
