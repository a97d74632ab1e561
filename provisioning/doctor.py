"""``doctor``: is this machine (and account) ready for a lab? Each check says how to fix it.

The findings type, the kubectl check every provider shares, and the report. Each provider adds
its own checks (``Provider.doctor``): kind checks Docker, kind and the host's limits
(``provisioning/providers/kind/doctor.py``); AKS the Azure subscription; an existing cluster the
API and the permissions the lab needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from provisioning import versions
from provisioning.runner import Runner

OK, FAIL, WARN, SKIP = "ok", "fail", "warn", "skip"
MARKS = {OK: "✓", FAIL: "✗", WARN: "!", SKIP: "-"}


@dataclass(frozen=True)
class Finding:
    name: str
    status: str
    detail: str
    fix: str = ""
    required: bool = True
    notes: tuple[str, ...] = ()  # extra lines the text report prints under the finding
    data: dict[str, Any] | None = None  # structured detail for --json

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "check": self.name,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
            "required": self.required,
        }
        if self.data is not None:
            out["data"] = self.data
        return out


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:160]


def parse_kubectl_client_version(text: str) -> tuple[int, int, int] | None:
    """The client version from ``kubectl version --client``, old and new output formats.

    New: ``Client Version: v1.35.0``; old: ``Client Version: version.Info{Major:"1", ...,
    GitVersion:"v1.23.4", ...}``.
    """
    for line in text.splitlines():
        if line.strip().startswith("Client Version"):
            m = re.search(r"v(\d+)\.(\d+)\.(\d+)", line)
            if m:
                return int(m.group(1)), int(m.group(2)), int(m.group(3))
    return None


def kubectl_fix(node: tuple[int, int, int]) -> str:
    version = "v" + ".".join(map(str, node))
    return (
        f"install kubectl {version} (the node image's version): "
        f"curl -LO https://dl.k8s.io/release/{version}/bin/linux/amd64/kubectl "
        "(kubernetes.io/docs/tasks/tools/)"
    )


def check_kubectl(runner: Runner, node_version: tuple[int, int, int] | None = None) -> Finding:
    """kubectl is on PATH and, when ``node_version`` is given, within the supported skew of it.

    kubectl is supported within one minor version (older or newer) of kube-apiserver
    (kubernetes.io/docs/setup/release/version-skew-policy/#kubectl); outside that it is a warning.
    """
    if runner.which("kubectl") is None:
        return Finding(
            "kubectl",
            FAIL,
            "kubectl is not on PATH",
            kubectl_fix(node_version)
            if node_version
            else "install kubectl: kubernetes.io/docs/tasks/tools/",
        )
    result = runner.run(["kubectl", "version", "--client"], check=False, timeout=30)
    client = parse_kubectl_client_version(result.output)
    if node_version is None or client is None:
        return Finding("kubectl", OK if result.ok else WARN, _first_line(result.output))
    text = "v" + ".".join(map(str, client))
    node = "v" + ".".join(map(str, node_version))
    skew = client[1] - node_version[1]
    if client[0] != node_version[0] or abs(skew) > versions.KUBECTL_SKEW_MINORS:
        return Finding(
            "kubectl",
            WARN,
            f"kubectl {text} is outside the supported skew of the pinned Kubernetes {node} "
            f"(±{versions.KUBECTL_SKEW_MINORS} minor, kubernetes.io/docs/setup/release/"
            "version-skew-policy/#kubectl)",
            kubectl_fix(node_version),
        )
    return Finding("kubectl", OK, f"kubectl {text} (pinned Kubernetes {node}, within ±1 minor)")


def run_checks(provider: Any, spec: Any) -> list[Finding]:
    """The provider's checks; each includes ``check_kubectl`` (every lab probes with kubectl)."""
    return list(provider.doctor(spec))


def render(findings: list[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"{MARKS[f.status]} {f.name}: {f.detail}")
        if f.fix and f.status in (FAIL, WARN):
            lines.append(f"    fix: {f.fix}")
        lines.extend(f"    {note}" for note in f.notes)
    failed = [f for f in findings if f.status == FAIL and f.required]
    lines.append("")
    lines.append(
        "ready for a lab" if not failed else f"not ready: {len(failed)} required check(s) failed"
    )
    return "\n".join(lines) + "\n"


def healthy(findings: list[Finding]) -> bool:
    return not any(f.status == FAIL and f.required for f in findings)
