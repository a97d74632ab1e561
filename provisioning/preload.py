"""``preload``: fetch the lab's big images once, on a good network, before the workshop.

The kind node image (hundreds of MB) is pulled into the local Docker so `kind create` does not
download it; the demo image (agnhost) is pulled too and, when the lab's cluster exists, loaded
into its nodes with `kind load docker-image`, so the demo pods start from the image already there
(they use ``imagePullPolicy: IfNotPresent``). Engine images are left to the engines' own pulls:
Cilium's chart references its images by digest, which a tag loaded into the nodes would not
satisfy.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioning import versions
from provisioning.progress import Progress
from provisioning.providers.kind import KindProvider
from provisioning.runner import Runner
from provisioning.spec import LabSpec


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


def images_for(spec: LabSpec) -> tuple[str, ...]:
    return (spec.kind.node_image, versions.AGNHOST_IMAGE)


def preload(
    spec: LabSpec, runner: Runner, provider: KindProvider, progress: Progress
) -> PreloadResult:
    pulled, present = [], []
    for image in images_for(spec):
        if runner.run(["docker", "image", "inspect", image], check=False, timeout=60).ok:
            present.append(image)
            continue
        with progress.step(f"Pull {image}"):
            runner.run(["docker", "pull", image], timeout=1800)
        pulled.append(image)
    loaded = []
    clusters = provider.clusters()
    if isinstance(clusters, list) and spec.name in clusters:
        image = versions.AGNHOST_IMAGE
        with progress.step(f"Load {image} into the nodes of kind cluster {spec.name}"):
            runner.run(["kind", "load", "docker-image", image, "--name", spec.name], timeout=600)
        loaded.append(image)
    return PreloadResult(tuple(pulled), tuple(present), tuple(loaded))
