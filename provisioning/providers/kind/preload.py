"""``preload``: fetch every image a lab needs once, on a good network, before the workshop.

What a kind lab pulls from registries: the kind node image (hundreds of MB, used by
`kind create`), the demo image (agnhost) and the chosen engine's images (``versions.
engine_images``: Calico's operator and components, or Cilium's agent, operator and envoy).
``preload`` pulls them all into the local Docker and, when the lab's cluster exists, loads all but
the node image into its nodes; ``up`` loads the cached ones into every cluster it creates, before
installing the engine. So after ``preload``, ``up`` pulls nothing from a registry: the engine's
pods and the demo pods find their images in the nodes (the chart, the operator and the demo use
``imagePullPolicy: IfNotPresent``).

How images reach the nodes. ``kind load docker-image`` runs ``docker save`` without a platform and
imports with ``ctr images import --all-platforms``; with Docker's containerd image store (the
default on Docker Desktop and new Docker Engine installs) a multi-platform image such as agnhost
is saved as its whole index while only the host's platform was pulled, and the import fails with
``ctr: content digest sha256:...: not found`` (kubernetes-sigs/kind#3795, #4224; kind
``pkg/cmd/kind/load/docker-image/docker-image.go`` and ``pkg/cluster/nodeutils/util.go`` at
v0.31.0, the pinned kind). So each image is saved for the nodes' platform only, ``docker save
--platform linux/<arch> -o FILE``, and loaded with ``kind load image-archive FILE``.
``--platform`` on ``docker save`` needs docker CLI 28.0.0 or later talking to API 1.48 or later
(docker/cli ``cli/command/image/save.go``: added in commit a20eb45, first tag v28.0.0, flag
annotation ``version 1.48``); an older Docker saves without it, which works with the classic image
store (for images pinned by tag; those pinned by digest also need Docker 25, below) and fails on
the containerd store with a message saying to upgrade.

Images pinned by digest (Cilium's chart pins its images as ``repo:tag@sha256:<index>``): the
kubelet looks such a reference up by its digest, so the node must know the image under
``repo@sha256:<index>``. Docker exports a digest reference without any name (moby
``daemon/containerd/image_exporter.go``), so the image is pulled by digest, tagged ``repo:tag``,
saved by that tag, and the archive's OCI ``index.json`` gets a second entry naming the same
manifest ``repo@sha256:<index>`` (``io.containerd.image.name``, which ``ctr images import``
uses as the image name). ``docker save`` writes that ``index.json`` from Docker 25 on (moby
``image/tarexport/save.go``: v25.0.0 writes ``oci-layout`` and ``index.json``; v24.0.9 and older
write a docker-archive with ``manifest.json`` only, which ``ctr`` imports under its tags alone),
so digest-pinned images need Docker 25 or later: with an older one ``preload`` fails saying so,
rather than load them by tag only and leave the kubelet to pull them at the venue. The archive
goes to a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from provisioning import versions
from provisioning.errors import OperationError
from provisioning.progress import Progress
from provisioning.providers.kind.provider import KindProvider
from provisioning.runner import Runner
from provisioning.spec import LabSpec

IMAGE_NAME_ANNOTATION = "io.containerd.image.name"
SAVE_PLATFORM_SINCE = (28, 0)  # docker CLI that added `docker save --platform`
SAVE_PLATFORM_API = (1, 48)  # the API version that flag needs


@dataclass(frozen=True)
class Image:
    """One image the lab needs: its reference as pinned, and what it is for."""

    ref: str
    purpose: str
    into_nodes: bool = True  # loaded into the nodes (all but the kind node image)

    @property
    def pull_ref(self) -> str:
        """What to pull and inspect: ``repo@sha256:...`` when pinned by digest."""
        repo, digest = split_digest(self.ref)
        return f"{strip_tag(repo)}@{digest}" if digest else self.ref

    @property
    def tag_ref(self) -> str:
        """The name the image is saved under: the reference without its digest."""
        return split_digest(self.ref)[0]


@dataclass(frozen=True)
class PreloadResult:
    pulled: tuple[str, ...]
    present: tuple[str, ...]
    loaded: tuple[str, ...]

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "pulled": list(self.pulled),
            "present": list(self.present),
            "loaded_into_cluster": list(self.loaded),
        }


def split_digest(ref: str) -> tuple[str, str]:
    """``repo:tag@sha256:d`` -> (``repo:tag``, ``sha256:d``); no digest -> (ref, "")."""
    name, _, digest = ref.partition("@")
    return name, digest


def strip_tag(name: str) -> str:
    """``host:5000/repo:tag`` -> ``host:5000/repo`` (a ``:`` after the last ``/`` is a tag)."""
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def images_for(spec: LabSpec) -> tuple[Image, ...]:
    """Every image a kind lab with ``spec.engine`` pulls, in the order they are needed."""
    return (
        Image(spec.kind.node_image, "kind node image", into_nodes=False),
        *(Image(ref, f"engine {spec.engine}") for ref in versions.engine_images(spec.engine)),
        Image(versions.AGNHOST_IMAGE, "demo workload"),
    )


def is_cached(runner: Runner, image: Image) -> bool:
    return runner.run(["docker", "image", "inspect", image.pull_ref], check=False, timeout=60).ok


def image_status(spec: LabSpec, runner: Runner) -> tuple[tuple[Image, bool | None], ...]:
    """Each image and whether the local Docker has it (None: Docker could not be asked)."""
    if runner.which("docker") is None:
        return tuple((image, None) for image in images_for(spec))
    if not runner.run(["docker", "version"], check=False, timeout=30).ok:
        return tuple((image, None) for image in images_for(spec))
    return tuple((image, is_cached(runner, image)) for image in images_for(spec))


@dataclass(frozen=True)
class DockerSave:
    """How this Docker can save one platform: ``platform`` is None when it cannot."""

    version: str
    platform: str | None

    @classmethod
    def probe(cls, runner: Runner) -> DockerSave:
        result = runner.run(
            [
                "docker",
                "version",
                "--format",
                "{{.Client.Version}} {{.Client.APIVersion}} {{.Server.Arch}}",
            ],
            check=False,
            timeout=30,
        )
        parts = result.stdout.split() if result.ok else []
        if len(parts) != 3:
            return cls("unknown", None)
        client, api, arch = parts
        able = _numbers(client) >= SAVE_PLATFORM_SINCE and _numbers(api) >= SAVE_PLATFORM_API
        return cls(client, f"linux/{arch}" if able else None)


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def name_by_digest(
    archive: Path, tag_ref: str, digest_ref: str, out: Path, docker_version: str = "unknown"
) -> None:
    """Copy ``archive`` to ``out`` with ``index.json`` also naming ``tag_ref``'s manifest
    ``digest_ref`` (the OCI image layout's index; ``io.containerd.image.name`` names images).

    Raises OperationError when the archive has no ``index.json`` (Docker 24 or older wrote a
    docker-archive): the nodes would know the image by its tag only and pull it by digest.
    """
    indexed = False
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            handle = src.extractfile(member) if member.isfile() else None
            if member.name.lstrip("./") != "index.json" or handle is None:
                dst.addfile(member, handle)
                continue
            indexed = True
            index = json.loads(handle.read())
            named = [
                m
                for m in index.get("manifests", [])
                if (m.get("annotations") or {}).get(IMAGE_NAME_ANNOTATION) == tag_ref
            ]
            if not named:
                raise OperationError(
                    f"`docker save` wrote no image named {tag_ref} into {archive.name}",
                    hint="run `docker image inspect` on it; re-run `invoke preload`",
                )
            extra = {**named[0], "annotations": {IMAGE_NAME_ANNOTATION: digest_ref}}
            index["manifests"] = [*index["manifests"], extra]
            data = json.dumps(index).encode()
            info = tarfile.TarInfo(member.name)
            info.size, info.mode, info.mtime = len(data), member.mode, member.mtime
            dst.addfile(info, io.BytesIO(data))
    if not indexed:
        out.unlink(missing_ok=True)
        raise OperationError(
            f"Docker {docker_version} wrote no OCI index.json for {tag_ref} into {archive.name}; "
            "digest-pinned images need Docker 25 or later",
            hint="upgrade Docker, then re-run `invoke preload`",
        )


def load_image(spec: LabSpec, runner: Runner, image: Image, save: DockerSave) -> None:
    """Save one cached image for the nodes' platform and load it into every node of the lab.

    Raises OperationError (one line: what, where, what to do) when Docker or kind fail.
    """
    repo, digest = split_digest(image.ref)
    scratch = Path(tempfile.mkdtemp(prefix="netpol-lab-images-"))
    try:
        if digest:
            runner.run(["docker", "tag", image.pull_ref, repo], timeout=60)
        archive = scratch / "image.tar"
        platform = ["--platform", save.platform] if save.platform else []
        saved = runner.run(
            ["docker", "save", *platform, "-o", str(archive), repo], check=False, timeout=1800
        )
        if not saved.ok:
            raise OperationError(
                f"could not save {image.ref} from the local Docker: {_last(saved.output)}",
                hint="check `docker image ls`; `invoke preload` pulls it again",
            )
        if digest:
            named = scratch / "image-named.tar"
            name_by_digest(archive, repo, image.pull_ref, named, save.version)
            archive.unlink()
            archive = named
        load = ["kind", "load", "image-archive", str(archive), "--name", spec.name]
        loaded = runner.run(load, check=False, timeout=1800)
        if not loaded.ok:
            hint = "see `kind get nodes --name " + spec.name + "`; `invoke preload` retries"
            if "content digest" in loaded.output and save.platform is None:
                hint = (
                    f"Docker {save.version} cannot save one platform of an image "
                    "(`docker save --platform` needs Docker 28.0 or later); upgrade Docker, "
                    "or switch off its containerd image store"
                )
            raise OperationError(
                f"could not load {image.ref} into kind cluster {spec.name}: {_last(loaded.output)}",
                hint=hint,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _last(output: str) -> str:
    return (output.strip().splitlines() or ["no output"])[-1]


def load_cached_images(
    spec: LabSpec, runner: Runner, images: Sequence[Image] | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Load every image the nodes need that the local Docker has (after `invoke preload`) into
    a new cluster. Returns (loaded, problems): a problem only means the nodes pull that image
    themselves, so the caller warns and goes on."""
    wanted = [i for i in (images or images_for(spec)) if i.into_nodes]
    cached = [i for i in wanted if is_cached(runner, i)]
    if not cached:
        return (), ()
    save = DockerSave.probe(runner)
    loaded, problems = [], []
    for image in cached:
        try:
            load_image(spec, runner, image, save)
        except OperationError as exc:
            problems.append(f"{exc} ({exc.hint})" if exc.hint else str(exc))
            continue
        loaded.append(image.ref)
    return tuple(loaded), tuple(problems)


def preload(
    spec: LabSpec, runner: Runner, provider: KindProvider, progress: Progress
) -> PreloadResult:
    pulled, present = [], []
    images = images_for(spec)
    for image in images:
        if is_cached(runner, image):
            present.append(image.ref)
            continue
        with progress.step(f"Pull {image.ref} ({image.purpose})"):
            runner.run(["docker", "pull", image.pull_ref], timeout=1800)
        pulled.append(image.ref)
    loaded = []
    clusters = provider.clusters()
    if isinstance(clusters, list) and spec.name in clusters:
        save = DockerSave.probe(runner)
        for image in (i for i in images if i.into_nodes):
            with progress.step(f"Load {image.ref} into the nodes of kind cluster {spec.name}"):
                load_image(spec, runner, image, save)
            loaded.append(image.ref)
    return PreloadResult(tuple(pulled), tuple(present), tuple(loaded))
