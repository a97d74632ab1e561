"""``preload``: fetch the lab's big images once, on a good network, before the workshop.

The kind node image (hundreds of MB) is pulled into the local Docker so `kind create` does not
download it; the demo image (agnhost) is pulled too. `up` loads a locally cached demo image into
every new cluster's nodes (`kind load docker-image`), and `preload` does the same for a lab that
already exists, so the demo pods start from the image already there (they use
``imagePullPolicy: IfNotPresent``). Engine images are left to the engines' own pulls: Cilium's
chart references its images by digest, which a tag loaded into the nodes would not satisfy.
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


def load_cached_images(spec: LabSpec, runner: Runner) -> tuple[str, ...]:
    """Load the demo image into a new cluster's nodes when the local Docker has it (after
    `invoke preload`), so the nodes do not each download it. Best effort: a failure only means
    the nodes pull it themselves."""
    image = versions.AGNHOST_IMAGE
    if not runner.run(["docker", "image", "inspect", image], check=False, timeout=60).ok:
        return ()
    load = ["kind", "load", "docker-image", image, "--name", spec.name]
    return (image,) if runner.run(load, check=False, timeout=600).ok else ()


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
