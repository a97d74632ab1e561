"""A simulated machine for pipeline tests: kind, kubectl, helm behind the Runner seam, and
clusters behind the Kubernetes seam whose "controllers" react the way the real ones do.

Nothing here decides a test's outcome: it only answers commands the way the real tools answer
(cluster lists, exit codes, files written) and moves object statuses the way the controllers
would (nodes Ready once a CNI is installed, TigeraStatus Available once an Installation exists,
pods Ready once the network is up). The code under test still has to issue the right commands
and objects for the lab to come up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioning.errors import CommandError
from provisioning.fake_kube import FakeKube
from provisioning.runner import Result

CALICO_CRDS = "operator-crds.yaml"
CALICO_OPERATOR = "tigera-operator.yaml"


class SimCluster(FakeKube):
    """A FakeKube plus the controllers a lab depends on. ``lag``: polls before things settle."""

    def __init__(self, name: str, nodes: Sequence[Mapping[str, Any]], lag: int = 1) -> None:
        super().__init__()
        self.name = name
        self.lag = lag
        self.urls_applied: list[str] = []
        self.cni: str | None = None
        self.cilium_values: dict[str, Any] = {}
        self.loaded_images: list[str] = []
        self._polls = 0
        self._next_ip = 0
        for i, node in enumerate(nodes):
            self.seed(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": f"{name}-{node.get('role', 'worker')}-{i}",
                        "labels": dict(node.get("labels") or {}),
                    },
                    "status": {"conditions": [{"type": "Ready", "status": "False"}]},
                }
            )
        for ns in ("default", "kube-system"):
            self.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    # Controllers run before every read, like the real ones running in the background.
    def get(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        self.reconcile()
        return super().get(*args, **kwargs)

    def list(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        self.reconcile()
        return super().list(*args, **kwargs)

    def reconcile(self) -> None:
        if self.unreachable:
            return
        self._polls += 1
        if self._polls <= self.lag:
            return
        store = self._objects
        calico = any(k[1] == "Installation" for k in store) and CALICO_OPERATOR in self.urls_applied
        if calico and self.cni is None:
            self.cni = "calico"
        if self.cni == "calico":
            for name in ("calico", "apiserver"):
                key = ("operator.tigera.io", "TigeraStatus", "", name)
                if key not in store:
                    super().seed(
                        {
                            "apiVersion": "operator.tigera.io/v1",
                            "kind": "TigeraStatus",
                            "metadata": {"name": name},
                        }
                    )
                self._set(
                    key,
                    {
                        "conditions": [
                            {"type": "Available", "status": "True"},
                            {"type": "Degraded", "status": "False"},
                        ]
                    },
                )
        if self.cni is None:
            return
        for key, obj in list(store.items()):
            if key[1] == "Node":
                self._set(key, {"conditions": [{"type": "Ready", "status": "True"}]})
            if key[1] == "Pod" and "status" not in obj:
                self._next_ip += 1
                index = self._next_ip
                self._set(
                    key,
                    {
                        "phase": "Running",
                        "podIP": f"10.244.1.{index}",
                        "conditions": [{"type": "Ready", "status": "True"}],
                    },
                )

    def _set(self, key: tuple[str, str, str, str], status: dict[str, Any]) -> None:
        self._objects[key]["status"] = status

    def install_cilium(self, values: dict[str, Any]) -> None:
        self.cilium_values = values
        self.cni = "cilium"
        for kind, name, status in (
            (
                "DaemonSet",
                "cilium",
                {
                    "desiredNumberScheduled": 2,
                    "updatedNumberScheduled": 2,
                    "numberAvailable": 2,
                    "observedGeneration": 1,
                },
            ),
            (
                "Deployment",
                "cilium-operator",
                {
                    "updatedReplicas": 1,
                    "availableReplicas": 1,
                    "observedGeneration": 1,
                    "conditions": [{"type": "Available", "status": "True"}],
                },
            ),
        ):
            super().seed(
                {
                    "apiVersion": "apps/v1",
                    "kind": kind,
                    "metadata": {"name": name, "namespace": "kube-system"},
                    "spec": {"replicas": 1},
                    "status": status,
                }
            )


@dataclass
class World:
    """The machine: which programs exist, which kind clusters run, what each command did."""

    programs: set[str] = field(default_factory=lambda: {"docker", "kind", "kubectl", "helm"})
    clusters: dict[str, SimCluster] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)
    docker_running: bool = True
    images: set[str] = field(default_factory=set)  # in the local Docker
    lag: int = 1
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)  # argv prefix -> (rc, output)
    interrupt: set[str] = field(default_factory=set)  # argv prefixes that raise KeyboardInterrupt

    # --- the Runner protocol ---------------------------------------------------------------

    def which(self, program: str) -> str | None:
        return f"/usr/local/bin/{program}" if program in self.programs else None

    def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        argv = tuple(str(a) for a in argv)
        self.calls.append(argv)
        self.envs.append(dict(env or {}))
        line = " ".join(argv)
        for prefix in self.interrupt:
            if line.startswith(prefix):
                self.interrupt.discard(prefix)
                raise KeyboardInterrupt
        rc, out = next(
            ((rc, out) for p, (rc, out) in self.fail.items() if line.startswith(p)), (None, "")
        )
        if rc is None:
            if argv[0] not in self.programs:
                raise FileNotFoundError(argv[0])
            rc, out = self._answer(argv, env or {})
        result = Result(argv, rc, out if rc == 0 else "", "" if rc == 0 else out)
        if check and rc != 0:
            raise CommandError(argv, rc, out)
        return result

    # --- the Kubernetes seam ----------------------------------------------------------------

    def kube_factory(self) -> Callable[[Path], Any]:
        def factory(path: Path) -> Any:
            # Like a real client, the kubeconfig file decides which cluster is reached.
            name = self._named_in(str(path))
            if name in self.clusters:
                return self.clusters[name]
            gone = FakeKube()
            gone.unreachable = True
            return gone

        return factory

    def user_cluster(self, name: str) -> SimCluster:
        """A kind cluster the user made by hand: no netpol-lab labels on its nodes."""
        cluster = SimCluster(name, [{"role": "control-plane"}], lag=0)
        self.clusters[name] = cluster
        return cluster

    # --- what each tool answers ------------------------------------------------------------

    def _answer(self, argv: tuple[str, ...], env: Mapping[str, str]) -> tuple[int, str]:
        tool, args = argv[0], list(argv[1:])
        if tool == "kind":
            return self._kind(args)
        if tool == "kubectl":
            return self._kubectl(args)
        if tool == "helm":
            return self._helm(args)
        if tool == "cilium":
            kubeconfig = env.get("KUBECONFIG", "")
            return self._install_cilium(kubeconfig, _flag(args, "--values"))
        if tool == "docker":
            return self._docker(args)
        return 127, f"{tool}: command not found"

    def _docker(self, args: list[str]) -> tuple[int, str]:
        if not self.docker_running:
            return 1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
        if args[:2] == ["image", "inspect"]:
            return (0, "[{}]\n") if args[2] in self.images else (1, f"No such image: {args[2]}")
        if args[:1] == ["pull"]:
            self.images.add(args[1])
            return 0, f"Status: Downloaded newer image for {args[1]}\n"
        return 0, "28.2.2\n"  # docker info --format {{.ServerVersion}}

    def _kind(self, args: list[str]) -> tuple[int, str]:
        if not self.docker_running and args[:1] != ["version"]:
            return 1, 'ERROR: failed to list clusters: command "docker ps" failed'
        if args[:2] == ["get", "clusters"]:
            return 0, "".join(f"{n}\n" for n in sorted(self.clusters))
        if args[:1] == ["version"]:
            return 0, "kind v0.32.0 go1.24.2 linux/amd64\n"
        if args[:2] == ["load", "docker-image"]:
            if args[2] not in self.images:
                return 1, f'ERROR: image: "{args[2]}" not present locally'
            if _flag(args, "--name") not in self.clusters:
                return 1, "ERROR: no nodes found for cluster"
            self.clusters[_flag(args, "--name")].loaded_images.append(args[2])
            return 0, ""
        name = _flag(args, "--name")
        if args[:2] == ["create", "cluster"]:
            if name in self.clusters:
                return (
                    1,
                    "ERROR: failed to create cluster: node(s) already exist for a cluster "
                    f'with the name "{name}"',
                )
            config = yaml.safe_load(Path(_flag(args, "--config")).read_text())
            self.clusters[name] = SimCluster(name, config["nodes"], lag=self.lag)
            kubeconfig = _flag(args, "--kubeconfig")
            Path(kubeconfig).write_text(f"apiVersion: v1\nkind: Config\n# kind-{name}\n")
            return 0, f'Creating cluster "{name}" ...\n'
        if args[:2] == ["get", "kubeconfig"]:
            if name not in self.clusters:
                return (
                    1,
                    f'ERROR: could not locate any control plane nodes for cluster named "{name}"',
                )
            return 0, f"apiVersion: v1\nkind: Config\n# kind-{name}\n"
        if args[:2] == ["delete", "cluster"]:
            self.clusters.pop(name, None)
            return 0, f'Deleting cluster "{name}" ...\n'
        return 1, f"unknown kind command {args}"

    def _named_in(self, kubeconfig: str) -> str:
        try:
            text = Path(kubeconfig).read_text()
        except OSError:
            return ""
        marker = [line for line in text.splitlines() if line.startswith("# kind-")]
        return marker[0][len("# kind-") :] if marker else ""

    def _cluster_for(self, kubeconfig: str) -> SimCluster | None:
        return self.clusters.get(self._named_in(kubeconfig))

    def _kubectl(self, args: list[str]) -> tuple[int, str]:
        if args[:2] == ["version", "--client"]:
            return 0, "Client Version: v1.36.1\nKustomize Version: v5.7.1\n"
        cluster = self._cluster_for(_flag(args, "--kubeconfig"))
        if cluster is None:
            return 1, "The connection to the server 127.0.0.1:6443 was refused"
        if "apply" in args and "--server-side" in args:
            url = _flag(args, "-f")
            cluster.urls_applied.append(url.rsplit("/", 1)[-1])
            return 0, f"applied {url}\n"
        if "wait" in args:
            if CALICO_CRDS not in cluster.urls_applied:
                return 1, 'error: the server doesn\'t have a resource type "crd"'
            return 0, "condition met\n"
        return 1, f"unknown kubectl command {args}"

    def _helm(self, args: list[str]) -> tuple[int, str]:
        return self._install_cilium(_flag(args, "--kubeconfig"), _flag(args, "--values"))

    def _install_cilium(self, kubeconfig: str, values_path: str) -> tuple[int, str]:
        cluster = self._cluster_for(kubeconfig)
        if cluster is None:
            return 1, "Error: Kubernetes cluster unreachable"
        cluster.install_cilium(yaml.safe_load(Path(values_path).read_text()))
        return 0, 'Release "cilium" has been upgraded. Happy Helming!\n'


def _flag(args: Sequence[str], name: str) -> str:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return ""
