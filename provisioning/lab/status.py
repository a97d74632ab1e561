"""``status``: what the lab looks like right now, observed, for people (text) and scripts (JSON)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from provisioning.lab.observe import ObservedLab
from provisioning.spec import LabSpec


def status_document(spec: LabSpec, observed: ObservedLab) -> dict[str, Any]:
    return {
        "lab": spec.name,
        "provider": spec.provider,
        "desired_engine": spec.engine,
        "kubeconfig": str(spec.kubeconfig) if spec.kubeconfig.exists() else None,
        **observed.as_dict(),
    }


def render_status(spec: LabSpec, observed: ObservedLab) -> str:
    lines = [f"Lab {spec.name} ({spec.provider})"]
    if not observed.observed:
        lines.append(f"  {observed.reason}")
        return "\n".join(lines) + "\n"
    if not observed.cluster_exists:
        lines.append(f"  cluster:    none (create it with `invoke up --name {spec.name}`)")
        return "\n".join(lines) + "\n"
    owner = {
        True: "created by netpol-lab",
        False: "NOT created by netpol-lab",
        None: "owner unknown",
    }[observed.owned]
    lines.append(f"  cluster:    exists, {owner}")
    if observed.reason:
        lines.append(f"  note:       {observed.reason}")
    if observed.owned:
        state = (
            "ready"
            if observed.engine_ready
            else ("installed, not ready" if observed.engine_installed else "not installed")
        )
        lines.append(f"  engine:     {observed.engine} {state} ({observed.engine_detail})")
        if spec.kubeconfig.exists():
            lines.append(f"  kubeconfig: {spec.kubeconfig}")
            lines.append(f"              export KUBECONFIG={spec.kubeconfig}  # to use kubectl")
        kinds = Counter(key.split("/", 1)[0] for key in observed.objects)
        ready = sum(observed.pods_ready.values())
        lines.append(
            f"  objects:    {kinds.get('Namespace', 0)} namespaces, {kinds.get('Pod', 0)} pods "
            f"({ready} ready), {kinds.get('NetworkPolicy', 0)} NetworkPolicies"
        )
        lines.append(f"  scenario:   {observed.scenario or '(no policies applied)'}")
    return "\n".join(lines) + "\n"
