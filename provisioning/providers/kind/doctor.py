"""The kind provider's ``doctor`` checks: Docker, kind, kubectl against the node image, the
Cilium installer, inotify limits, the cgroup version and the pinned versions.

Checks only read: programs on PATH and their versions, whether Docker's engine answers,
inotify limits and the cgroup version. Sources: kind docs, Known Issues > Pod errors due to "too
many open files" (kubernetes-sigs/kind site/content/docs/user/known-issues.md @ v0.31.0: raise
fs.inotify.max_user_watches to 524288 and fs.inotify.max_user_instances to 512); kind v0.31.0
release notes, Breaking Changes > Kubernetes 1.35+ Cgroup v1 (node images at those versions drop
cgroup v1 support; the Known Issues page does not cover this). The report also lists the pinned
versions (``provisioning/versions.py``), where each was read and the Kubernetes range each engine
is tested on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from provisioning import versions
from provisioning.doctor import FAIL, OK, SKIP, WARN, Finding, _first_line, check_kubectl
from provisioning.runner import Runner

INOTIFY_MIN = {"max_user_watches": 524288, "max_user_instances": 512}


def check_docker(runner: Runner) -> Finding:
    if runner.which("docker") is None:
        return Finding(
            "docker",
            FAIL,
            "docker is not on PATH",
            "install Docker Engine (docs.docker.com/engine/install), or use podman "
            "with KIND_EXPERIMENTAL_PROVIDER=podman",
        )
    result = runner.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"], check=False, timeout=30
    )
    if not result.ok or not result.stdout.strip():
        return Finding(
            "docker",
            FAIL,
            f"the Docker engine does not answer: {_first_line(result.output) or 'no output'}",
            "start it (sudo systemctl start docker) and make sure your user may use "
            "it (sudo usermod -aG docker $USER, then log in again)",
        )
    return Finding("docker", OK, f"engine {result.stdout.strip()} answers")


def parse_kind_version(text: str) -> tuple[int, int, int] | None:
    m = re.search(r"v(\d+)\.(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def check_kind(runner: Runner) -> Finding:
    fix = (
        f"install kind {versions.KIND_VERSION}: go install sigs.k8s.io/kind@"
        f"{versions.KIND_VERSION}, or the release binary from kind.sigs.k8s.io"
    )
    if runner.which("kind") is None:
        return Finding("kind", FAIL, "kind is not on PATH", fix)
    result = runner.run(["kind", "version"], check=False, timeout=30)
    found = parse_kind_version(result.stdout)
    if found is None:
        return Finding(
            "kind", WARN, f"could not read kind's version: {_first_line(result.output)}", fix
        )
    text = "v" + ".".join(map(str, found))
    if found < versions.KIND_MIN_VERSION:
        need = ".".join(map(str, versions.KIND_MIN_VERSION))
        return Finding(
            "kind", FAIL, f"kind {text} is too old (node labels in the config need >= v{need})", fix
        )
    pinned = parse_kind_version(versions.KIND_VERSION)
    if pinned and found < pinned:
        # Node images are published for one kind release; older kinds often cannot boot them.
        return Finding(
            "kind",
            WARN,
            f"kind {text} is older than {versions.KIND_VERSION}, the release the pinned node "
            "image was published for; `kind create` may fail",
            fix,
        )
    return Finding("kind", OK, f"kind {text} (tested with {versions.KIND_VERSION})")


def check_pins(node_image: str = versions.KIND_NODE_IMAGE) -> Finding:
    """The pinned versions, where each was read, and whether the node image's Kubernetes minor
    lies inside every engine's tested range (issue 9: pins must be inside what engines test)."""
    try:
        minor = versions.node_minor(node_image)
    except ValueError:
        return Finding(
            "pinned versions",
            WARN,
            f"cannot read a Kubernetes version from the node image {node_image!r}",
            f"use a tagged node image such as the pinned {versions.KIND_NODE_IMAGE}",
            required=False,
        )
    outside = [p for p in versions.PINS.values() if not p.covers(minor)]
    notes = []
    for pin in versions.PINS.values():
        tested = f", tested on Kubernetes {pin.tested_text}" if pin.tested else ""
        notes.append(f"{pin.name} {pin.version}{tested}")
        notes.append(f"  read from {pin.source}")
        if pin.tested_source:
            notes.append(f"  tested range from {pin.tested_source}")
    data: dict[str, Any] = {
        "node_image": node_image,
        "node_kubernetes_minor": minor,
        "pins": [p.as_dict() for p in versions.PINS.values()],
    }
    if node_image != versions.KIND_NODE_IMAGE:
        data["pinned_node_image"] = versions.KIND_NODE_IMAGE
    if outside:
        names = ", ".join(f"{p.name} {p.version} ({p.tested_text})" for p in outside)
        return Finding(
            "pinned versions",
            WARN,
            f"node image Kubernetes {minor} is outside the tested range of {names}",
            "use the pinned kind node image, or pin engine releases tested on it "
            "(provisioning/versions.py)",
            required=False,
            notes=tuple(notes),
            data=data,
        )
    return Finding(
        "pinned versions",
        OK,
        f"node image Kubernetes {minor} is inside every engine's tested range",
        required=False,
        notes=tuple(notes),
        data=data,
    )


def check_cilium_installer(runner: Runner, engine: str) -> Finding:
    required = engine in ("cilium", "none")
    helm, cli = runner.which("helm"), runner.which("cilium")
    if helm or cli:
        used = "helm" if helm else "cilium CLI"
        both = " (cilium CLI present too)" if helm and cli else ""
        return Finding(
            "helm or cilium CLI",
            OK,
            f"Cilium will be installed with {used}{both}",
            required=required,
        )
    return Finding(
        "helm or cilium CLI",
        FAIL if required else SKIP,
        "neither helm nor the cilium CLI is on PATH"
        + ("" if required else f" (only needed for engines cilium and none; engine is {engine})"),
        "install Helm (helm.sh/docs/intro/install) or the cilium CLI "
        "(docs.cilium.io, 'Install the Cilium CLI')",
        required=required,
    )


def check_inotify(proc: Path = Path("/proc")) -> Finding:
    low = []
    for key, minimum in INOTIFY_MIN.items():
        try:
            value = int((proc / "sys/fs/inotify" / key).read_text().strip())
        except (OSError, ValueError):
            return Finding(
                "inotify limits", SKIP, "cannot read /proc/sys/fs/inotify", required=False
            )
        if value < minimum:
            low.append(f"{key}={value} (< {minimum})")
    if low:
        return Finding(
            "inotify limits",
            WARN,
            "low: " + ", ".join(low) + "; kind nodes fail with 'too many open files'",
            "sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 "
            "(add both to /etc/sysctl.d/99-kind.conf to keep them)",
            required=False,
        )
    return Finding(
        "inotify limits",
        OK,
        "max_user_watches and max_user_instances are high enough",
        required=False,
    )


def check_cgroup(cgroup_root: Path = Path("/sys/fs/cgroup")) -> Finding:
    if (cgroup_root / "cgroup.controllers").exists():
        return Finding("cgroup version", OK, "cgroup v2")
    return Finding(
        "cgroup version",
        FAIL,
        "cgroup v1: kind node images for Kubernetes 1.35 and later need cgroup v2",
        "boot with systemd.unified_cgroup_hierarchy=1 (most current distributions default to v2)",
    )


def run_checks(
    runner: Runner,
    *,
    engine: str,
    proc: Path = Path("/proc"),
    cgroup_root: Path = Path("/sys/fs/cgroup"),
    node_image: str = versions.KIND_NODE_IMAGE,
) -> list[Finding]:
    """Every check a kind lab needs, kubectl against the node image's Kubernetes included."""
    return [
        check_docker(runner),
        check_kind(runner),
        check_kubectl(runner, _node_version(node_image)),
        check_cilium_installer(runner, engine),
        check_inotify(proc),
        check_cgroup(cgroup_root),
        check_pins(node_image),
    ]


def _node_version(node_image: str) -> tuple[int, int, int] | None:
    try:
        return versions.node_kubernetes_version(node_image)
    except ValueError:  # a profile's own node image without a version tag: no skew check
        return None
