"""A simulated machine for pipeline tests: docker, kind, kubectl, helm and the cilium CLI behind
the Runner seam, and clusters behind the Kubernetes seam whose "controllers" react the way the
real ones do.

Nothing here decides a test's outcome: it only answers commands the way the real tools answer
(cluster lists, exit codes, which stream a line goes to, files written) and moves object statuses
the way the controllers would (nodes Ready once a CNI is installed, TigeraStatus Available once an
Installation exists, pods Ready once the network is up). The code under test still has to issue
the right commands and objects for the lab to come up.

Every imitated output names the upstream file it imitates, so it can be checked: kind v0.31.0
(kubernetes-sigs/kind, the version ``provisioning/versions.py`` pins), tigera/operator v1.42.3
(the operator Calico v3.32.1 ships, ``manifests/tigera-operator.yaml``), helm v3.21.4, kubectl
kubernetes-1.35.0 (kubernetes/kubectl, the release of the pinned node image), docker/cli v29.7.2,
the cilium chart and CLI in cilium/cilium, and the ClusterNetworkPolicy CRD of
kubernetes-sigs/network-policy-api v0.2.0 (which the cilium engine applies; Calico's
operator-crds.yaml carries the same CRD).

Docker's image store is modelled because `kind load docker-image` depends on it: every image
these labs use is multi-platform (an OCI index over linux/amd64 and linux/arm64). Docker's
containerd image store (``containerd_store``, the default of new Docker Engine installs and of
Docker Desktop) keeps the index but pulls only the host's platform; `docker save` without
``--platform`` exports the whole index, and kind's ``ctr images import --all-platforms`` then fails
on the missing platform's manifest (kubernetes-sigs/kind#3795, #4224). The classic store keeps
one platform and saves just that. Archives are real tar files holding an OCI ``index.json`` and
the blobs present, so what is imported is decided by the archive's content, as in ``ctr``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import json
import re
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioning import versions
from provisioning.errors import CommandError
from provisioning.runner import Result
from tests.fake_kube import FakeKube

CALICO_CRDS = "operator-crds.yaml"
CALICO_OPERATOR = "tigera-operator.yaml"
# kubernetes-sigs/network-policy-api config/crd/standard/ @ v0.2.0: one CRD, ClusterNetworkPolicy.
CNP_CRD = versions.CLUSTER_NETWORK_POLICY_CRD_URL.rsplit("/", 1)[-1]
# The CustomResourceDefinitions each manifest creates (only those this lab looks at or waits for).
# projectcalico/calico manifests/operator-crds.yaml @ v3.32.1 carries the operator's CRDs and, at
# :38942-38950, ClusterNetworkPolicy's (bundle-version v0.2.0, standard channel).
MANIFEST_CRDS: dict[str, tuple[str, ...]] = {
    CALICO_CRDS: (
        "apiservers.operator.tigera.io",
        "installations.operator.tigera.io",
        "tigerastatuses.operator.tigera.io",
        versions.CLUSTER_NETWORK_POLICY_CRD,
    ),
    CNP_CRD: (versions.CLUSTER_NETWORK_POLICY_CRD,),
}
PLATFORMS = ("linux/amd64", "linux/arm64")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
IMAGE_NAME = "io.containerd.image.name"
# The helm release `_helm` imitates; .github/workflows/e2e.yml installs this one (helm/helm tag).
HELM_VERSION = "v3.21.4"
# kind's default networking.podSubnet (kubernetes-sigs/kind v0.31.0
# pkg/apis/config/v1alpha4/default.go SetDefaultsCluster).
KIND_DEFAULT_POD_SUBNET = "10.244.0.0/16"

# The fields of kind's v1alpha4 config, per Go type, as its strict decoder knows them:
# kubernetes-sigs/kind pkg/apis/config/v1alpha4/types.go (v0.31.0). Values are the nested types.
KIND_CONFIG_FIELDS: dict[str, dict[str, str | None]] = {
    "v1alpha4.Cluster": {
        "kind": None,
        "apiVersion": None,
        "name": None,
        "nodes": "v1alpha4.Node",
        "networking": "v1alpha4.Networking",
        "featureGates": None,
        "runtimeConfig": None,
        "kubeadmConfigPatches": None,
        "kubeadmConfigPatchesJSON6902": None,
        "containerdConfigPatches": None,
        "containerdConfigPatchesJSON6902": None,
    },
    "v1alpha4.Node": {
        "role": None,
        "image": None,
        "labels": None,
        "extraMounts": None,
        "extraPortMappings": None,
        "kubeadmConfigPatches": None,
        "kubeadmConfigPatchesJSON6902": None,
    },
    "v1alpha4.Networking": {
        "ipFamily": None,
        "apiServerPort": None,
        "apiServerAddress": None,
        "podSubnet": None,
        "serviceSubnet": None,
        "disableDefaultCNI": None,
        "kubeProxyMode": None,
        "dnsSearch": None,
    },
}


def kind_node_names(cluster: str, roles: Sequence[str]) -> list[str]:
    """kind's node names: ``<cluster>-<role>``, then ``<cluster>-<role>2``, ``3``...
    Imitates kubernetes-sigs/kind pkg/cluster/internal/providers/common/namer.go (v0.31.0)."""
    counter: dict[str, int] = {}
    names = []
    for role in roles:
        count = counter.get(role, 0) + 1
        counter[role] = count
        names.append(f"{cluster}-{role}{count if count > 1 else ''}")
    return names


def kind_config_errors(text: str) -> list[str]:
    """What kind's strict decoder refuses in a v1alpha4 config, one line per unknown field.

    kind v0.31.0 decodes with go.yaml.in/yaml/v3 and ``KnownFields(true)``
    (kubernetes-sigs/kind pkg/internal/apis/config/encoding/load.go, ``yamlUnmarshalStrict``);
    each unknown key gives ``line N: field X not found in type T`` (yaml/go-yaml decode.go,
    v3.0.4, N the key's 1-based line), joined under ``yaml: unmarshal errors:`` (yaml.go).
    """
    errors: list[str] = []

    def walk(node: yaml.Node, type_name: str) -> None:
        fields = KIND_CONFIG_FIELDS.get(type_name)
        if fields is None:
            return
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item, type_name)
            return
        if not isinstance(node, yaml.MappingNode):
            return
        for key, value in node.value:
            if key.value not in fields:
                errors.append(
                    f"line {key.start_mark.line + 1}: field {key.value} not found in type "
                    f"{type_name}"
                )
            elif nested := fields[key.value]:
                walk(value, nested)

    root = yaml.compose(text)
    if root is not None:
        walk(root, "v1alpha4.Cluster")
    return errors


def _digest(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("|".join(parts).encode()).hexdigest()


def _canonical(ref: str) -> str:
    """``repo:tag@sha256:d`` names the digest only, as Docker and containerd resolve it."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        return f"{repo}@{digest}"
    return ref


def _index_digest(ref: str) -> str:
    """An image's multi-platform index digest: the pinned one when the reference has one."""
    canonical = _canonical(ref)
    return canonical.split("@", 1)[1] if "@" in canonical else _digest("index", canonical)


def _manifest_digest(index: str, platform: str) -> str:
    return _digest("manifest", index, platform)


class SimCluster(FakeKube):
    """A FakeKube plus the controllers a lab depends on. ``lag``: polls before things settle.

    ``node_images``: the image names containerd in the nodes knows (from `kind load`);
    ``registry_pulls``: images the kubelet had to pull because no node had them (with
    ``imagePullPolicy: IfNotPresent`` it looks the reference up by digest when it has one).
    """

    def __init__(
        self,
        name: str,
        nodes: Sequence[Mapping[str, Any]],
        lag: int = 1,
        engine_images: Callable[[str], Sequence[str]] = lambda _e: (),
        pod_subnet: str = KIND_DEFAULT_POD_SUBNET,
    ) -> None:
        super().__init__()
        self.name = name
        self.pod_subnet = ipaddress.ip_network(pod_subnet)
        self.lag = lag
        self.urls_applied: list[str] = []
        self.cni: str | None = None
        self.cilium_values: dict[str, Any] = {}
        self.helm_revision = 0
        self.loaded_images: list[str] = []  # what `kind load` was asked to load, in order
        self.node_images: set[str] = set()
        self.registry_pulls: list[str] = []
        self.envoy_lag = 0  # extra polls before cilium-envoy's pods become available
        self.apiserver_lag = 0  # extra polls before Calico's API server reports Available
        self._engine_images = engine_images
        self._polls = 0
        self._next_ip = 0
        roles = [str(node.get("role", "worker")) for node in nodes]
        for node, node_name in zip(nodes, kind_node_names(name, roles), strict=True):
            self.seed(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": node_name, "labels": dict(node.get("labels") or {})},
                    "status": {"conditions": [{"type": "Ready", "status": "False"}]},
                }
            )
        for ns in ("default", "kube-system"):
            self.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    @classmethod
    def running(cls, name: str, objects: Sequence[Mapping[str, Any]]) -> SimCluster:
        """A cluster the user already runs, its network up: ``objects`` (an engine's
        DaemonSets, ConfigMaps, Nodes, a user's workloads) seeded as they are, each namespace
        they name created first; one Ready node unless ``objects`` bring their own. Its kubelets
        start a pod once it is written (Running, an IP, Ready); nodes report Ready.
        """
        from provisioning.kube import Resource

        own_nodes = any(o.get("kind") == "Node" for o in objects)
        cluster = cls(name, [] if own_nodes else [{"role": "control-plane"}], lag=0)
        # Served by every API server, unknown to the fake (which takes unknown kinds as namespaced).
        role = Resource("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False)
        cluster._resources[(role.api_version, role.kind)] = role
        cluster.cni = "the cluster's own"  # whatever it is, pods start: the network is up
        for obj in objects:  # namespaces first, with their labels, as given
            if obj.get("kind") == "Namespace":
                cluster.seed(obj)
        present = {o["metadata"]["name"] for o in cluster.objects() if o["kind"] == "Namespace"}
        for obj in objects:
            ns = obj.get("metadata", {}).get("namespace")
            if ns and ns not in present and cluster._namespaced(obj["apiVersion"], obj["kind"]):
                cluster.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
                present.add(ns)
            if obj.get("kind") != "Namespace":
                cluster.seed(obj)
        cluster.reconcile()  # the controllers have run: what a user's cluster looks like
        return cluster

    @property
    def node_count(self) -> int:
        return sum(1 for key in self._objects if key[1] == "Node")

    def kubelet_needs(self, image: str) -> None:
        """A pod wants ``image``: pulled from its registry unless a node already has it."""
        wanted = _canonical(image)
        if wanted not in self.node_images and image not in self.registry_pulls:
            self.registry_pulls.append(image)

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
        installation = ("operator.tigera.io", "Installation", "", "default") in store
        calico = installation and CALICO_OPERATOR in self.urls_applied
        if calico and self.cni is None:
            self.cni = "calico"
            for image in self._engine_images("calico"):
                self.kubelet_needs(image)
        if self.cni == "calico":
            # tigera/operator v1.42.3 (the operator Calico v3.32.1 ships): the core controller
            # reports in TigeraStatus "calico" (pkg/controller/installation/core_controller.go),
            # the IP pool controller in "ippools" once an Installation exists
            # (pkg/controller/ippool/pool_controller.go), the API server controller in
            # "apiserver" once an APIServer exists (pkg/controller/apiserver/
            # apiserver_controller.go), and the tiers controller in "tiers" always
            # (pkg/controller/tiers/tiers_controller.go, registered unconditionally by
            # internal/controller/controllers.go since v1.42.0, commit 32ab43e4f "Enable tiers
            # oss (#4489)"; in v1.40.3 its Add returned early unless EnterpriseCRDExists). Its
            # Reconcile calls OnCRFound() unconditionally and reports Degraded "Waiting for
            # Tigera API server to be ready" until the API server is up
            # (utils.IsProjectCalicoV3Available: the APIServer's status.state Ready, which the
            # API server controller sets when it reports "apiserver" Available), so "tiers"
            # lags "apiserver" by one reconcile. goldmane and whisker report only when their
            # own resources exist, which this lab does not create.
            apiserver_up = self._tigerastatus_available("apiserver")
            if apiserver_up:
                # Once the API server is Available its APIService is registered and
                # projectcalico.org/v3 is served (tigera/operator pkg/render/apiserver.go,
                # apiServiceRegistration: APIService v3.projectcalico.org).
                self.serve_api("v3.projectcalico.org")
            names = ["calico", "ippools", "tiers"]
            if ("operator.tigera.io", "APIServer", "", "default") in store:
                names.append("apiserver")
            # The core controller renders the node agent: DaemonSet calico-node in
            # calico-system, container calico-node (tigera/operator v1.42.3 pkg/render/node.go,
            # common.CalicoNamespace in pkg/common/common.go), its selector and pod labels
            # k8s-app: calico-node (pkg/controller/utils/component.go
            # setStandardSelectorAndLabels); the namespace with its labels from
            # pkg/render/namespaces.go CreateNamespace(..., PSSPrivileged). What `existing`
            # detects.
            node_key = ("apps", "DaemonSet", "calico-system", "calico-node")
            if ("", "Namespace", "", "calico-system") not in store:
                super().seed(
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {
                            "name": "calico-system",
                            "labels": {
                                "name": "calico-system",
                                "pod-security.kubernetes.io/enforce": "privileged",
                                "pod-security.kubernetes.io/enforce-version": "latest",
                            },
                        },
                    }
                )
            if node_key not in store:
                super().seed(
                    {
                        "apiVersion": "apps/v1",
                        "kind": "DaemonSet",
                        "metadata": {"name": "calico-node", "namespace": "calico-system"},
                        "spec": {
                            "selector": {"matchLabels": {"k8s-app": "calico-node"}},
                            "template": {
                                "metadata": {"labels": {"k8s-app": "calico-node"}},
                                "spec": {"containers": [{"name": "calico-node"}]},
                            },
                        },
                        "status": self._daemonset_status(self.node_count),
                    }
                )
            for name in names:
                key = ("operator.tigera.io", "TigeraStatus", "", name)
                if key not in store:
                    super().seed(
                        {
                            "apiVersion": "operator.tigera.io/v1",
                            "kind": "TigeraStatus",
                            "metadata": {"name": name},
                        }
                    )
                if name == "apiserver" and self.apiserver_lag > 0:
                    self.apiserver_lag -= 1
                    self._set(key, _tigerastatus(progressing=True))
                elif name == "tiers" and not apiserver_up:
                    self._set(
                        key,
                        _tigerastatus(
                            degraded=(
                                "ResourceNotReady",
                                "Waiting for Tigera API server to be ready",
                            )
                        ),
                    )
                else:
                    self._set(key, _tigerastatus())
        if self.cni is None:
            return
        if self.cni == "cilium" and self.envoy_lag > 0:
            self.envoy_lag -= 1
            if self.envoy_lag == 0:
                self._roll_out("cilium-envoy")
        for key, obj in list(store.items()):
            if key[1] == "Node":
                self._set(key, {"conditions": [{"type": "Ready", "status": "True"}]})
            if key[1] == "Pod" and "status" not in obj:
                for container in obj.get("spec", {}).get("containers", []):
                    self.kubelet_needs(container.get("image", ""))
                self._next_ip += 1
                self._set(
                    key,
                    {
                        "phase": "Running",
                        "podIP": self._pod_ip(self._next_ip),
                        "conditions": [{"type": "Ready", "status": "True"}],
                    },
                )

    def _pod_ip(self, index: int) -> str:
        """The ``index``-th pod's address, from the cluster's pod subnet (kind's
        ``networking.podSubnet``, default 10.244.0.0/16: kubernetes-sigs/kind v0.31.0
        pkg/apis/config/v1alpha4/default.go), in /24s after the first, skipping each /24's .0
        and .255. Which address a pod gets is the IPAM's choice; only its subnet is upstream's.
        A subnet that runs out is the test's mistake, said as such."""
        block, host = divmod(index - 1, 254)
        address = self.pod_subnet.network_address + 256 * (block + 1) + host + 1
        if address not in self.pod_subnet:
            raise AssertionError(f"pod subnet {self.pod_subnet} of {self.name} is full")
        return str(address)

    def _set(self, key: tuple[str, str, str, str], status: dict[str, Any]) -> None:
        self._objects[key]["status"] = status

    def _tigerastatus_available(self, name: str) -> bool:
        obj = self._objects.get(("operator.tigera.io", "TigeraStatus", "", name))
        conditions = (obj or {}).get("status", {}).get("conditions", [])
        return {"type": "Available", "status": "True"} in [
            {"type": c.get("type"), "status": c.get("status")} for c in conditions
        ]

    def _daemonset_status(self, available: int) -> dict[str, Any]:
        nodes = self.node_count
        return {
            "currentNumberScheduled": nodes,
            "desiredNumberScheduled": nodes,
            "updatedNumberScheduled": nodes,
            "numberReady": available,
            "numberAvailable": available,
            "observedGeneration": 1,
        }

    def _roll_out(self, daemonset: str) -> None:
        key = ("apps", "DaemonSet", "kube-system", daemonset)
        if key in self._objects:
            self._set(key, self._daemonset_status(self.node_count))

    def install_cilium(self, values: dict[str, Any]) -> None:
        """What the cilium chart creates that readiness looks at.

        cilium/cilium install/kubernetes/cilium/templates: ``cilium-agent/daemonset.yaml``
        (DaemonSet ``cilium``), ``cilium-envoy/daemonset.yaml`` (DaemonSet ``cilium-envoy``
        when ``envoy.enabled``, which values.yaml defaults to true for new installations since
        1.16), ``cilium-operator/deployment.yaml`` (``replicas: {{ .Values.operator.replicas }}``,
        chart default 2). DaemonSets have no ``spec.replicas``: one pod per schedulable node.
        """
        self.cilium_values = values
        self.cni = "cilium"
        for image in self._engine_images("cilium"):
            self.kubelet_needs(image)
        envoy = (values.get("envoy") or {}).get("enabled", True) is not False
        daemonsets = ["cilium"] + (["cilium-envoy"] if envoy else [])
        for name in daemonsets:
            available = self.node_count
            if name == "cilium-envoy" and self.envoy_lag > 0:
                available = 0
            super().seed(
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "metadata": {"name": name, "namespace": "kube-system"},
                    "spec": {"selector": {"matchLabels": {"k8s-app": name}}},
                    "status": self._daemonset_status(available),
                }
            )
        replicas = int((values.get("operator") or {}).get("replicas", 2))
        super().seed(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "cilium-operator", "namespace": "kube-system"},
                "spec": {"replicas": replicas},
                "status": {
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "availableReplicas": replicas,
                    "observedGeneration": 1,
                    "conditions": [{"type": "Available", "status": "True"}],
                },
            }
        )


@dataclass
class World:
    """The machine: which programs exist, which kind clusters run, what each command did.

    Docker: ``images`` are the references in the local image store, ``containerd_store`` which
    store it uses, ``docker_version``/``docker_api`` the CLI's version and the API version it
    negotiated with the daemon, ``arch`` the daemon's architecture.
    """

    programs: set[str] = field(default_factory=lambda: {"docker", "kind", "kubectl", "helm"})
    clusters: dict[str, SimCluster] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    envs: list[dict[str, str]] = field(default_factory=list)
    docker_running: bool = True
    images: set[str] = field(default_factory=set)  # in the local Docker
    containerd_store: bool = True
    docker_version: str = "29.1.3"
    docker_api: str = "1.52"
    arch: str = "amd64"
    lag: int = 1
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)  # argv prefix -> (rc, stderr)
    interrupt: set[str] = field(default_factory=set)  # argv prefixes that raise KeyboardInterrupt
    # The images each engine's pods run (the kubelet pulls those no node has).
    engine_images: Callable[[str], Sequence[str]] = versions.engine_images
    envoy_lag: int = 0  # polls before cilium-envoy's pods are available in new clusters
    apiserver_lag: int = 0  # polls before Calico's API server is Available in new clusters
    archives: list[Path] = field(default_factory=list)  # every archive `docker save` wrote
    tags: dict[str, str] = field(default_factory=dict)  # `docker tag` name -> source reference

    ports: dict[str, int] = field(default_factory=dict)  # kind cluster -> its API server port

    def port(self, name: str) -> int:
        """The host port of the cluster's API server. kind asks the system for a free one
        (kubernetes-sigs/kind v0.31.0 pkg/cluster/internal/providers/common/getport.go); these
        numbers are the fake's own, one per cluster."""
        return self.ports.setdefault(name, 40001 + len(self.ports))

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
        failed = next(((rc, err) for p, (rc, err) in self.fail.items() if line.startswith(p)), None)
        if failed is not None:
            rc, out, err = failed[0], "", failed[1]
        else:
            if argv[0] not in self.programs:
                raise FileNotFoundError(argv[0])
            rc, out, err = self._answer(argv, env or {})
        result = Result(argv, rc, out, err)
        if check and rc != 0:
            raise CommandError(argv, rc, result.output)
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

    # --- what each tool answers: (exit code, stdout, stderr) --------------------------------

    def _answer(self, argv: tuple[str, ...], env: Mapping[str, str]) -> tuple[int, str, str]:
        tool, args = argv[0], list(argv[1:])
        if tool == "kind":
            return self._kind(args)
        if tool == "kubectl":
            return self._kubectl(args)
        if tool == "helm":
            return self._helm(args)
        if tool == "cilium":
            return self._cilium(args, env)
        if tool == "docker":
            return self._docker(args)
        return 127, "", f"{tool}: command not found"

    # --- docker -----------------------------------------------------------------------------

    def _has_image(self, ref: str) -> bool:
        return _canonical(ref) in {_canonical(i) for i in self.images}

    def _source_of(self, ref: str) -> str:
        """The reference an image was first pulled as (``docker tag`` adds names to it)."""
        return self.tags.get(_canonical(ref), _canonical(ref))

    def _docker(self, args: list[str]) -> tuple[int, str, str]:
        if not self.docker_running:
            # docker/cli v29.7.2 cli/command/cli.go: the daemon connection error on stderr.
            return (
                1,
                "",
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                "Is the docker daemon running?",
            )
        if args[:1] == ["version"]:
            # docker/cli v29.7.2 cli/command/system/version.go: --format over clientVersion
            # (Version, APIVersion: the negotiated API version) and serverVersion (Arch: GOARCH).
            fields = {
                ".Client.Version": self.docker_version,
                ".Client.APIVersion": self.docker_api,
                ".Server.Version": self.docker_version,
                ".Server.APIVersion": self.docker_api,
                ".Server.Arch": self.arch,
            }
            template = _flag(args, "--format") or _flag(args, "-f")
            field_re = r"\{\{\s*(\.[\w.]+)\s*\}\}"
            out = re.sub(field_re, lambda m: fields.get(m.group(1), ""), template)
            return 0, out + "\n", ""
        if args[:2] == ["image", "inspect"]:
            # docker/cli v29.7.2 cli/command/inspect/inspector.go: "[]" on stdout, and the
            # daemon's error (moby client: "Error response from daemon: No such image: X").
            ref = args[-1]
            if self._has_image(ref):
                return 0, "[{}]\n", ""
            return 1, "[]\n", f"Error response from daemon: No such image: {ref}"
        if args[:1] == ["pull"]:
            # docker/cli v29.7.2 cli/command/image/pull.go: the daemon's progress stream, then
            # the reference on its own line, all on stdout.
            ref = args[-1]
            self.images.add(ref)
            return (
                0,
                f"Digest: {_index_digest(ref)}\nStatus: Downloaded newer image for {ref}\n{ref}\n",
                "",
            )
        if args[:1] == ["tag"]:
            # docker/cli v29.7.2 cli/command/image/tag.go: silent on success.
            source, target = args[1], args[2]
            if not self._has_image(source):
                return 1, "", f"Error response from daemon: No such image: {source}"
            self.images.add(target)
            self.tags[_canonical(target)] = self._source_of(source)
            return 0, "", ""
        if args[:1] == ["save"] or args[:2] == ["image", "save"]:
            return self._docker_save(args[1:] if args[0] == "save" else args[2:])
        if args[:1] == ["info"]:
            return 0, f"{self.docker_version}\n", ""  # docker info --format {{.ServerVersion}}
        return 1, "", f"unknown docker command {args}"

    def _docker_save(self, args: list[str], *, record: bool = True) -> tuple[int, str, str]:
        """`docker save [--platform P] -o FILE REF...` (docker/cli v29.7.2
        cli/command/image/save.go; the export is moby daemon/containerd/image_exporter.go)."""
        platform = _flag(args, "--platform")
        if platform and _version_tuple(self.docker_version) < (28, 0):
            # --platform arrived in docker/cli v28.0.0 (commit a20eb45, "image/save: Add
            # `--platform`"); older clients reject it as cobra does any unknown flag.
            return 125, "", "unknown flag: --platform\nSee 'docker save --help'."
        if platform and _version_tuple(self.docker_api) < (1, 48):
            # docker/cli v29.7.2 cmd/docker/docker.go areFlagsSupported.
            return (
                1,
                "",
                f'"--platform" requires API version 1.48, but the Docker daemon API version '
                f"is {self.docker_api}",
            )
        output = _flag(args, "-o") or _flag(args, "--output")
        skip = {"-o", "--output", "--platform"}
        refs = [a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1] not in skip]
        if not output:
            return 1, "", "cowardly refusing to save to a terminal. Use the -o flag or redirect"
        if not self.containerd_store and _version_tuple(self.docker_version) < (25, 0):
            return self._docker_save_legacy(refs, Path(output), record=record)
        entries, blobs = [], {}
        host = f"linux/{self.arch}"
        for ref in refs:
            if not self._has_image(ref):
                return 1, "", f"Error response from daemon: No such image: {ref}"
            index = _index_digest(self._source_of(ref))
            # A digest reference is exported without a name (image_exporter.go:
            # "If user exports a specific digest, it shouldn't have a tag").
            name = None if "@" in _canonical(ref) else ref
            annotations = {IMAGE_NAME: name} if name else {}
            if platform:
                if platform != host and self.containerd_store:
                    return (
                        1,
                        "",
                        f"Error response from daemon: no suitable export target found: "
                        f"platform {platform}: content not available",
                    )
                digest = _manifest_digest(index, platform)
                entries.append({"mediaType": OCI_MANIFEST, "digest": digest, **_ann(annotations)})
                blobs[digest] = {"platform": platform}
            elif self.containerd_store:
                # The whole index is exported; only the host's manifest was ever pulled.
                manifests = [
                    {"digest": _manifest_digest(index, p), "platform": p} for p in PLATFORMS
                ]
                entries.append({"mediaType": OCI_INDEX, "digest": index, **_ann(annotations)})
                blobs[index] = {"manifests": manifests}
                blobs[_manifest_digest(index, host)] = {"platform": host}
            else:
                digest = _manifest_digest(index, host)
                entries.append({"mediaType": OCI_MANIFEST, "digest": digest, **_ann(annotations)})
                blobs[digest] = {"platform": host}
        _write_archive(Path(output), {"schemaVersion": 2, "manifests": entries}, blobs)
        if record:
            self.archives.append(Path(output))
        return 0, "", ""

    def _docker_save_legacy(
        self, refs: list[str], output: Path, *, record: bool
    ) -> tuple[int, str, str]:
        """`docker save` of Docker 24 and older on the classic image store: a docker-archive,
        ``manifest.json`` (``Config``, ``RepoTags``, ``Layers``), ``repositories``, the config
        and a layer per image, and no OCI ``index.json`` (moby image/tarexport/save.go at
        v24.0.9; ``index.json`` and ``oci-layout`` are written from v25.0.0). The containerd
        image store of Docker 24 exported through containerd and wrote an ``index.json``."""
        items, files, repositories = [], {}, {}
        host = f"linux/{self.arch}"
        for ref in refs:
            if not self._has_image(ref):
                return 1, "", f"Error response from daemon: No such image: {ref}"
            config = _manifest_digest(_index_digest(self._source_of(ref)), host).split(":", 1)[1]
            tags = [] if "@" in _canonical(ref) else [ref]
            items.append(
                {"Config": f"{config}.json", "RepoTags": tags, "Layers": [f"{config}/layer.tar"]}
            )
            files[f"{config}.json"] = {"architecture": self.arch, "os": "linux"}
            files[f"{config}/layer.tar"] = {}
            for tag in tags:
                repo, _, name = tag.rpartition(":")
                repositories.setdefault(repo, {})[name] = config
        files["manifest.json"] = items
        if repositories:
            files["repositories"] = repositories
        _write_files(output, files)
        if record:
            self.archives.append(output)
        return 0, "", ""

    # --- kind -------------------------------------------------------------------------------
    # kind logs progress and errors on stderr (kubernetes-sigs/kind pkg/cmd/logger.go, v0.31.0:
    # "This logger writes to os.Stderr"), errors as "ERROR: <err>" (cmd/kind/app/main.go
    # logError); only program output (cluster names, kubeconfig, version) goes to stdout.

    def _kind(self, args: list[str]) -> tuple[int, str, str]:
        if not self.docker_running and args[:1] != ["version"]:
            return 1, "", 'ERROR: failed to list clusters: command "docker ps" failed'
        if args[:2] == ["get", "clusters"]:
            # pkg/cmd/kind/get/clusters/clusters.go
            if not self.clusters:
                return 0, "", "No kind clusters found.\n"
            return 0, "".join(f"{n}\n" for n in sorted(self.clusters)), ""
        if args[:1] == ["version"]:
            # pkg/cmd/kind/version/version.go DisplayVersion: "kind v" + Version() + " " +
            # runtime.Version() + " " + GOOS/GOARCH; the pinned release, built with the Go of
            # its .go-version (1.25.5 at v0.31.0).
            return 0, f"kind {versions.KIND_VERSION} go1.25.5 linux/{self.arch}\n", ""
        name = _flag(args, "--name") or _flag(args, "-n") or "kind"
        if args[:2] == ["load", "docker-image"]:
            return self._kind_load_docker_image(name, [a for a in args[2:] if a not in (name,)])
        if args[:2] == ["load", "image-archive"]:
            return self._kind_load_archive(name, args[2])
        if args[:2] == ["create", "cluster"]:
            return self._kind_create(name, args)
        if args[:2] == ["get", "kubeconfig"]:
            if name not in self.clusters:
                # pkg/cluster/internal/kubeconfig/kubeconfig.go
                return (
                    1,
                    "",
                    "ERROR: could not locate any control plane nodes for cluster named "
                    f"'{name}'. Use the --name option to select a different cluster",
                )
            return 0, kind_kubeconfig(name, self.port(name)), ""
        if args[:2] == ["delete", "cluster"]:
            # pkg/cmd/kind/delete/cluster/deletecluster.go and pkg/cluster/internal/delete
            # (delete.go logs Go's %q of the node names: ["a" "b"]).
            cluster = self.clusters.pop(name, None)
            deleted = ""
            if cluster is not None:
                nodes = [o["metadata"]["name"] for o in cluster.objects() if o["kind"] == "Node"]
                deleted = "Deleted nodes: [" + " ".join(f'"{n}"' for n in nodes) + "]\n"
            return 0, "", f'Deleting cluster "{name}" ...\n{deleted}'
        return 1, "", f"ERROR: unknown command {args}"

    def _kind_create(self, name: str, args: list[str]) -> tuple[int, str, str]:
        if name in self.clusters:
            # pkg/cluster/internal/create/create.go
            return (
                1,
                "",
                "ERROR: failed to create cluster: node(s) already exist for a cluster "
                f'with the name "{name}"',
            )
        text = Path(_flag(args, "--config")).read_text()
        if errors := kind_config_errors(text):
            # pkg/cmd/kind/create/cluster/createcluster.go wraps "failed to create cluster";
            # pkg/internal/apis/config/encoding/load.go wraps "unable to decode config".
            return (
                1,
                "",
                "ERROR: failed to create cluster: unable to decode config: "
                "yaml: unmarshal errors:\n  " + "\n  ".join(errors),
            )
        config = yaml.safe_load(text)
        nodes = config.get("nodes") or [{"role": "control-plane"}]
        self.clusters[name] = SimCluster(
            name,
            nodes,
            lag=self.lag,
            engine_images=self.engine_images,
            pod_subnet=(config.get("networking") or {}).get("podSubnet", KIND_DEFAULT_POD_SUBNET),
        )
        self.clusters[name].envoy_lag = self.envoy_lag
        self.clusters[name].apiserver_lag = self.apiserver_lag
        kubeconfig = _flag(args, "--kubeconfig")
        Path(kubeconfig).write_text(kind_kubeconfig(name, self.port(name)))
        workers = sum(1 for n in nodes if n.get("role") == "worker")
        image = (nodes[0].get("image") or "kindest/node").split("@")[0]
        # pkg/cluster/internal/create/create.go and its actions' Status.Start titles.
        progress = [
            f'Creating cluster "{name}" ...',
            f" ✓ Ensuring node image ({image}) 🖼",
            " ✓ Preparing nodes " + " ".join("📦" for _ in nodes),
            " ✓ Writing configuration 📜",
            " ✓ Starting control-plane 🕹️",
            " ✓ Installing StorageClass 💾",
        ]
        if workers:
            progress.append(" ✓ Joining worker nodes 🚜")
        progress.append(f'Set kubectl context to "kind-{name}"')
        return 0, "", "\n".join(progress) + "\n"

    def _kind_load_docker_image(self, name: str, images: list[str]) -> tuple[int, str, str]:
        """pkg/cmd/kind/load/docker-image/docker-image.go (v0.31.0): check each image with
        `docker image inspect`, then `docker save -o images.tar IMAGES` (no --platform) and
        import that archive into every node."""
        images = [i for i in images if not i.startswith("-")]
        for image in images:
            if not self._has_image(image):
                return 1, "", f'ERROR: image: "{image}" not present locally'
        if name not in self.clusters:
            return 1, "", f'ERROR: no nodes found for cluster "{name}"'
        cluster = self.clusters[name]
        loading = "".join(
            f'Image: "{i}" with ID "{_index_digest(self._source_of(i))}" not yet present on '
            f'node "{name}-control-plane", loading...\n'
            for i in images
        )
        with tempfile.TemporaryDirectory(prefix="images-tar") as scratch:
            archive = Path(scratch) / "images.tar"
            rc, _, err = self._docker_save(["-o", str(archive), *images], record=False)
            if rc != 0:
                return 1, "", f"ERROR: {err}"
            rc, _, err = self._import(cluster, archive)
        return rc, "", loading + err

    def _kind_load_archive(self, name: str, path: str) -> tuple[int, str, str]:
        """pkg/cmd/kind/load/image-archive/image-archive.go (v0.31.0)."""
        if not Path(path).exists():
            return 1, "", f"ERROR: stat {path}: no such file or directory"
        if name not in self.clusters:
            return 1, "", f'ERROR: no nodes found for cluster "{name}"'
        return self._import(self.clusters[name], Path(path))

    def _import(self, cluster: SimCluster, archive: Path) -> tuple[int, str, str]:
        """`ctr --namespace=k8s.io images import --all-platforms --digests` in each node
        (pkg/cluster/nodeutils/util.go LoadImageArchive): every manifest the archive's index
        reaches must be in it, or ctr fails on the first missing one."""
        index, blobs, docker_manifest = _read_archive(archive)
        if not index and docker_manifest:
            # containerd's importer reads a docker-archive too (containerd
            # core/images/archive/importer.go): one image per manifest.json RepoTags entry,
            # named by its tag only.
            for item in docker_manifest:
                for tag in item.get("RepoTags") or []:
                    cluster.loaded_images.append(tag)
                    cluster.node_images.add(_canonical(tag))
            return 0, "", ""
        node = f"{cluster.name}-control-plane"
        for entry in index.get("manifests", []):
            missing = [entry["digest"]] if entry["digest"] not in blobs else []
            if not missing and entry.get("mediaType") == OCI_INDEX:
                children = blobs[entry["digest"]].get("manifests", [])
                missing = [c["digest"] for c in children if c["digest"] not in blobs]
            if missing:
                # pkg/exec/types.go RunError, wrapped "failed to load image"; logError then
                # prints the command's output (cmd/kind/app/main.go).
                return (
                    1,
                    "",
                    f'ERROR: failed to load image: command "docker exec --privileged -i {node} '
                    "ctr --namespace=k8s.io images import --all-platforms --digests "
                    '--snapshotter=overlayfs -" failed with error: exit status 1\n'
                    f"Command Output: ctr: content digest {missing[0]}: not found",
                )
        for entry in index.get("manifests", []):
            name = (entry.get("annotations") or {}).get(IMAGE_NAME)
            if name:
                cluster.loaded_images.append(name)
                cluster.node_images.add(_canonical(name))
        return 0, "", ""

    # --- kubectl ----------------------------------------------------------------------------

    def _named_in(self, kubeconfig: str) -> str:
        try:
            text = Path(kubeconfig).read_text()
        except OSError:
            return ""
        marker = [line for line in text.splitlines() if line.startswith("# kind-")]
        return marker[0][len("# kind-") :] if marker else ""

    def _cluster_for(self, kubeconfig: str) -> SimCluster | None:
        return self.clusters.get(self._named_in(kubeconfig))

    def _kubectl(self, args: list[str]) -> tuple[int, str, str]:
        if args[:2] == ["version", "--client"]:
            # kubernetes/kubectl pkg/cmd/version/version.go at kubernetes-1.35.0 (the release of
            # the pinned node image, which the e2e workflow installs): "Client Version: %s" and
            # "Kustomize Version: %s", the kustomize module in its go.mod
            # (sigs.k8s.io/kustomize/kustomize/v5 v5.7.1).
            client = "v{}.{}.{}".format(*versions.node_kubernetes_version())
            return 0, f"Client Version: {client}\nKustomize Version: v5.7.1\n", ""
        cluster = self._cluster_for(_flag(args, "--kubeconfig"))
        if cluster is None:
            # client-go's connection error as kubectl prints it (pkg/cmd/util/helpers.go).
            return (
                1,
                "",
                "The connection to the server 127.0.0.1:6443 was refused - did you specify "
                "the right host or port?",
            )
        if "apply" in args and "--server-side" in args:
            url = _flag(args, "-f")
            manifest = url.rsplit("/", 1)[-1]
            cluster.urls_applied.append(manifest)
            # pkg/cmd/apply/apply.go: one "<kind>.<group>/<name> serverside-applied" per object.
            crds = MANIFEST_CRDS.get(manifest, ())
            for crd in crds:  # the API server now serves the kinds these CRDs define
                cluster.install_crd(crd)
            objects = [f"customresourcedefinition.apiextensions.k8s.io/{crd}" for crd in crds]
            if manifest == CALICO_OPERATOR:
                objects = [
                    "namespace/tigera-operator",
                    "serviceaccount/tigera-operator",
                    "deployment.apps/tigera-operator",
                ]
            return 0, "".join(f"{o} serverside-applied\n" for o in objects), ""
        if "wait" in args:
            # pkg/cmd/wait/wait.go: a named resource is fetched first; a missing one is the
            # server's NotFound as pkg/cmd/util/helpers.go prints it ("Error from server
            # (NotFound): ..."); each one met prints "<kind>.<group>/<name> condition met".
            names = [a.split("/", 1)[1] for a in args if a.startswith("crd/")]
            served = {crd for url in cluster.urls_applied for crd in MANIFEST_CRDS.get(url, ())}
            missing = [n for n in names if n not in served]
            if missing:
                return (
                    1,
                    "",
                    "Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "
                    f'"{missing[0]}" not found',
                )
            met = "".join(
                f"customresourcedefinition.apiextensions.k8s.io/{n} condition met\n" for n in names
            )
            return 0, met, ""
        return 1, "", f"error: unknown command {args}"

    # --- helm and the cilium CLI ------------------------------------------------------------

    def _helm(self, args: list[str]) -> tuple[int, str, str]:
        """`helm upgrade --install` as helm v3.21.4 cmd/helm/upgrade.go (v4.2.4:
        pkg/cmd/upgrade.go) prints it, on stdout: a first install announces itself, then the
        release status (cmd/helm/status.go); an upgrade says so first."""
        cluster = self._cluster_for(_flag(args, "--kubeconfig"))
        if cluster is None:
            # helm prints errors as "Error: ..." on stderr (cmd/helm/helm.go).
            return 1, "", "Error: Kubernetes cluster unreachable: connection refused"
        release = args[args.index("--install") + 1] if "--install" in args else "cilium"
        first = cluster.helm_revision == 0
        cluster.install_cilium(yaml.safe_load(Path(_flag(args, "--values")).read_text()))
        cluster.helm_revision += 1
        status = (
            f"NAME: {release}\nLAST DEPLOYED: Thu Jan  1 00:00:00 2026\n"
            f"NAMESPACE: {_flag(args, '--namespace')}\nSTATUS: deployed\n"
            f"REVISION: {cluster.helm_revision}\nTEST SUITE: None\n"
        )
        if first:
            return 0, f'Release "{release}" does not exist. Installing it now.\n' + status, ""
        return 0, f'Release "{release}" has been upgraded. Happy Helming!\n' + status, ""

    def _cilium(self, args: list[str], env: Mapping[str, str]) -> tuple[int, str, str]:
        """`cilium install`: cilium/cilium cilium-cli/cli/install.go writes its log to stdout
        (``Writer: os.Stdout``), lines from cilium-cli/install/install.go; fatal errors go to
        stderr as "Error: Unable to install Cilium: ..."."""
        cluster = self._cluster_for(env.get("KUBECONFIG", ""))
        if cluster is None:
            return 1, "", "Error: Unable to install Cilium: Kubernetes cluster unreachable"
        cluster.install_cilium(yaml.safe_load(Path(_flag(args, "--values")).read_text()))
        version = _flag(args, "--version")
        return (
            0,
            "🔮 Auto-detected Kubernetes kind: kind\n"
            f"ℹ️  Using Cilium version {version}\n"
            f"🔮 Auto-detected cluster name: kind-{cluster.name}\n",
            "",
        )


FAKE_CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfakekindCA\n-----END CERTIFICATE-----\n"
FAKE_CA_DATA = base64.b64encode(FAKE_CA_PEM.encode()).decode()


def kind_kubeconfig(name: str, port: int) -> str:
    """What ``kind create cluster --kubeconfig`` writes and ``kind get kubeconfig`` prints
    (kubernetes-sigs/kind v0.31.0 pkg/cluster/internal/kubeconfig: internal/kubeconfig/read.go
    ``KINDFromRawKubeadm`` names cluster, user, context and current-context ``kind-<name>``;
    kubeconfig.go ``get`` puts the server at https://127.0.0.1:<port>; internal/kubeconfig/
    encode.go writes through sigs.k8s.io/yaml, so keys are sorted; ``preferences: {}`` comes
    from kubeadm's admin.conf). The CA and client data are placeholders, not PEM certificates.
    The trailing ``# kind-<name>`` comment is the fake's own: it routes the fake clients to the
    cluster (``World.kube_factory``)."""
    user = base64.b64encode(b"client").decode()
    config = {
        "apiVersion": "v1",
        "clusters": [
            {
                "cluster": {
                    "certificate-authority-data": FAKE_CA_DATA,
                    "server": f"https://127.0.0.1:{port}",
                },
                "name": f"kind-{name}",
            }
        ],
        "contexts": [
            {"context": {"cluster": f"kind-{name}", "user": f"kind-{name}"}, "name": f"kind-{name}"}
        ],
        "current-context": f"kind-{name}",
        "kind": "Config",
        "preferences": {},
        "users": [
            {
                "name": f"kind-{name}",
                "user": {"client-certificate-data": user, "client-key-data": user},
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False) + f"# kind-{name}\n"


def _tigerastatus(
    *, progressing: bool = False, degraded: tuple[str, str] | None = None
) -> dict[str, Any]:
    """A TigeraStatus ``status`` with the condition types tigera/operator
    pkg/controller/status/status.go (v1.42.3) writes: Available, Progressing and Degraded; a
    degraded one carries the controller's reason and message (SetDegraded)."""

    def condition(kind: str, on: bool, reason: str = "", message: str = "") -> dict[str, Any]:
        extra = {"reason": reason, "message": message} if on and reason else {}
        return {"type": kind, "status": "True" if on else "False", **extra}

    available = not progressing and degraded is None
    reason, message = degraded or ("", "")
    return {
        "conditions": [
            condition("Available", available),
            condition("Progressing", progressing),
            condition("Degraded", degraded is not None, reason, message),
        ]
    }


def _ann(annotations: Mapping[str, str]) -> dict[str, Any]:
    return {"annotations": dict(annotations)} if annotations else {}


def _write_archive(path: Path, index: Mapping[str, Any], blobs: Mapping[str, Any]) -> None:
    """An OCI image layout tar: ``oci-layout``, ``index.json`` and ``blobs/sha256/<hex>``."""
    _write_files(
        path,
        {
            "oci-layout": {"imageLayoutVersion": "1.0.0"},
            "index.json": index,
            **{f"blobs/sha256/{d.split(':', 1)[1]}": b for d, b in blobs.items()},
        },
    )


def _write_files(path: Path, files: Mapping[str, Any]) -> None:
    """A tar of JSON documents, one member per name."""
    with tarfile.open(path, "w") as tar:
        for name, content in files.items():
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _read_archive(path: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """An archive's OCI ``index.json``, its blobs, and its docker-archive ``manifest.json``."""
    index: dict[str, Any] = {}
    blobs: dict[str, Any] = {}
    docker_manifest: list[dict[str, Any]] = []
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            if member.name == "index.json":
                index = json.loads(data)
            elif member.name == "manifest.json":
                docker_manifest = json.loads(data)
            elif member.name.startswith("blobs/sha256/"):
                blobs["sha256:" + member.name.rsplit("/", 1)[1]] = json.loads(data or b"{}")
    return index, blobs, docker_manifest


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _flag(args: Sequence[str], name: str) -> str:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return ""
