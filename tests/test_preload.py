"""`preload`: pull every image a lab needs once, load them into the nodes (up or an existing lab)
so that `up` pulls nothing from a registry, on either Docker image store."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from provisioning import versions
from provisioning.errors import OperationError
from provisioning.lab import pipeline
from provisioning.progress import Progress
from provisioning.providers.kind.preload import Image, images_for, name_by_digest, preload
from provisioning.providers.kind.provider import KindProvider
from provisioning.spec import LabSpec
from tests.fake_world import World

AGNHOST = versions.AGNHOST_IMAGE


def spec_for(tmp_path: Path, engine: str = "calico") -> LabSpec:
    return LabSpec(state_root=tmp_path / "state", engine=engine)


def run(world: World, tmp_path: Path, engine: str = "calico"):  # type: ignore[no-untyped-def]
    provider = KindProvider(world, kube_factory=world.kube_factory())
    return preload(
        spec_for(tmp_path, engine), world, provider, Progress(io.StringIO(), spinner=False)
    )


def up(world: World, tmp_path: Path, engine: str = "calico") -> pipeline.Context:
    ctx = pipeline.build_context(
        spec_for(tmp_path, engine),
        world,
        Progress(io.StringIO(), spinner=False),
        provider=KindProvider(world, kube_factory=world.kube_factory()),
    )
    ctx.sleep = lambda _s: None
    pipeline.up(ctx)
    return ctx


def loads(world: World) -> list[tuple[str, ...]]:
    return [c for c in world.calls if c[:2] == ("kind", "load")]


def test_images_cover_the_node_image_the_engine_and_the_demo() -> None:
    refs = [i.ref for i in images_for(LabSpec(engine="cilium"))]
    assert refs[0] == versions.KIND_NODE_IMAGE
    assert set(versions.engine_images("cilium")) <= set(refs)
    assert refs[-1] == AGNHOST
    digest = Image("quay.io/cilium/cilium:v1.20.0@sha256:abc", "engine")
    assert digest.pull_ref == "quay.io/cilium/cilium@sha256:abc"
    assert digest.tag_ref == "quay.io/cilium/cilium:v1.20.0"
    assert Image("localhost:5000/x:1", "t").pull_ref == "localhost:5000/x:1"


def test_pulls_what_is_missing_and_skips_what_is_there(tmp_path: Path) -> None:
    world = World(images={AGNHOST})
    result = run(world, tmp_path)
    assert result.pulled == (versions.KIND_NODE_IMAGE, *versions.engine_images("calico"))
    assert result.present == (AGNHOST,)
    assert result.loaded == ()  # no lab cluster yet
    again = run(world, tmp_path)
    assert again.pulled == () and len(again.present) == len(images_for(spec_for(tmp_path)))
    assert not loads(world)


@pytest.mark.parametrize("engine", ["calico", "cilium"])
def test_after_preload_up_pulls_nothing_from_a_registry(tmp_path: Path, engine: str) -> None:
    """The venue without network: everything the pods run is already in the nodes, including
    Cilium's images that its chart names by digest (repo:tag@sha256:...)."""
    world = World()  # Docker's containerd image store, as on Docker Desktop
    run(world, tmp_path, engine)
    up(world, tmp_path, engine)
    cluster = world.clusters["netpol-lab"]
    assert cluster.registry_pulls == []
    saves = [c for c in world.calls if c[:2] == ("docker", "save")]
    assert saves and all(c[2:4] == ("--platform", "linux/amd64") for c in saves)
    assert all(c[2] == "image-archive" for c in loads(world))
    assert not any(path.exists() for path in world.archives)  # temporary archives removed
    assert not any(p.name.endswith(".tar") for p in spec_for(tmp_path).state_dir.iterdir())


def test_up_without_preload_lets_the_nodes_pull(tmp_path: Path) -> None:
    world = World()
    up(world, tmp_path)
    cluster = world.clusters["netpol-lab"]
    assert cluster.loaded_images == []
    assert AGNHOST in cluster.registry_pulls
    assert set(versions.engine_images("calico")) <= set(cluster.registry_pulls)
    assert not loads(world)


def test_kind_load_docker_image_fails_on_the_containerd_store_as_upstream(
    tmp_path: Path,
) -> None:
    """kubernetes-sigs/kind#3795, #4224: the simulated machine fails where the real one does."""
    world = World(images={AGNHOST})
    up(world, tmp_path)
    load = ["kind", "load", "docker-image", AGNHOST, "--name", "netpol-lab"]
    result = world.run(load, check=False)
    assert not result.ok and "ctr: content digest sha256:" in result.stderr
    assert "images import --all-platforms" in result.stderr and result.stdout == ""

    classic = World(images={AGNHOST}, containerd_store=False)
    up(classic, tmp_path / "classic")
    assert classic.run(load, check=False).ok
    assert AGNHOST in classic.clusters["netpol-lab"].loaded_images


def test_preload_loads_every_node_image_into_an_existing_lab(tmp_path: Path) -> None:
    world = World()
    up(world, tmp_path, "cilium")
    result = run(world, tmp_path, "cilium")
    expected = (*versions.engine_images("cilium"), AGNHOST)
    assert result.loaded == expected
    cluster = world.clusters["netpol-lab"]
    for ref in versions.engine_images("cilium"):
        repo_tag, digest = ref.split("@")
        assert repo_tag in cluster.loaded_images
        assert f"{repo_tag.rsplit(':', 1)[0]}@{digest}" in cluster.loaded_images


def test_old_docker_on_the_containerd_store_is_told_to_upgrade(tmp_path: Path) -> None:
    world = World(docker_version="27.5.1", docker_api="1.47")
    up(world, tmp_path)
    with pytest.raises(OperationError) as info:
        run(world, tmp_path)
    assert "could not load" in str(info.value) and "content digest" in str(info.value)
    assert "Docker 28.0" in (info.value.hint or "")
    assert "\n" not in str(info.value)
    saves = [c for c in world.calls if c[:2] == ("docker", "save")]
    assert saves and all("--platform" not in c for c in saves)


def test_old_docker_with_the_classic_store_still_loads(tmp_path: Path) -> None:
    world = World(docker_version="27.5.1", docker_api="1.47", containerd_store=False)
    up(world, tmp_path)
    result = run(world, tmp_path)
    assert AGNHOST in result.loaded


def test_docker_before_25_cannot_load_digest_pinned_images_and_says_so(tmp_path: Path) -> None:
    """moby image/tarexport/save.go writes an OCI index.json from v25.0.0; Docker 24 on the
    classic store writes a docker-archive (manifest.json only), which ctr imports by tag alone,
    so the kubelet would pull Cilium's digest-pinned images at the venue."""
    world = World(docker_version="24.0.9", docker_api="1.43", containerd_store=False)
    up(world, tmp_path, "cilium")
    with pytest.raises(OperationError) as info:
        run(world, tmp_path, "cilium")
    cilium = versions.engine_images("cilium")[0].split("@")[0]
    assert info.value.message.startswith(f"Docker 24.0.9 wrote no OCI index.json for {cilium}")
    assert "digest-pinned images need Docker 25 or later" in info.value.message
    assert "upgrade Docker" in (info.value.hint or "") and "\n" not in str(info.value)
    assert not [c for c in loads(world) if c[2] == "image-archive"]  # nothing half-loaded

    # `up` after such a preload warns and lets the nodes pull the digest-pinned images.
    fresh = World(
        docker_version="24.0.9",
        docker_api="1.43",
        containerd_store=False,
        images={i.pull_ref for i in images_for(spec_for(tmp_path, "cilium"))},
    )
    ctx = up(fresh, tmp_path / "up", "cilium")
    text = ctx.progress.stream.getvalue()  # type: ignore[attr-defined]
    assert "wrote no OCI index.json" in text and "will pull it from its registry" in text
    cluster = fresh.clusters["netpol-lab"]
    assert set(versions.engine_images("cilium")) <= set(cluster.registry_pulls)
    assert AGNHOST in cluster.loaded_images and AGNHOST not in cluster.registry_pulls

    # Tag-pinned images (Calico's, agnhost) still load from such a Docker.
    calico = World(docker_version="24.0.9", docker_api="1.43", containerd_store=False)
    up(calico, tmp_path / "calico")
    assert AGNHOST in run(calico, tmp_path / "calico").loaded


def test_name_by_digest_refuses_an_archive_without_an_oci_index(tmp_path: Path) -> None:
    archive, out = tmp_path / "a.tar", tmp_path / "b.tar"
    manifest = [{"Config": "c.json", "RepoTags": ["r/x:1"], "Layers": ["l/layer.tar"]}]
    with tarfile.open(archive, "w") as tar:
        for name, body in (("manifest.json", json.dumps(manifest)), ("c.json", "{}")):
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(OperationError, match=r"Docker 24\.0\.9 wrote no OCI index\.json for r/x:1"):
        name_by_digest(archive, "r/x:1", "r/x@sha256:idx", out, "24.0.9")
    assert not out.exists()


def test_up_warns_and_goes_on_when_a_load_fails(tmp_path: Path) -> None:
    world = World()
    run(world, tmp_path)
    world.fail["kind load image-archive"] = (1, "ERROR: no nodes found for cluster")
    ctx = up(world, tmp_path)
    text = ctx.progress.stream.getvalue()  # type: ignore[attr-defined]
    assert "could not load" in text and "will pull it from its registry" in text
    assert world.clusters["netpol-lab"].registry_pulls  # the nodes pulled instead


def test_name_by_digest_adds_the_digest_name_to_the_archive(tmp_path: Path) -> None:
    archive, out = tmp_path / "a.tar", tmp_path / "b.tar"
    index = {
        "schemaVersion": 2,
        "manifests": [{"digest": "sha256:m", "annotations": {"io.containerd.image.name": "r/x:1"}}],
    }
    with tarfile.open(archive, "w") as tar:
        for name, body in (("index.json", json.dumps(index)), ("blobs/sha256/m", "{}")):
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    name_by_digest(archive, "r/x:1", "r/x@sha256:idx", out)
    with tarfile.open(out) as tar:
        names = tar.getnames()
        rewritten = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert names == ["index.json", "blobs/sha256/m"]
    assert [m["annotations"]["io.containerd.image.name"] for m in rewritten["manifests"]] == [
        "r/x:1",
        "r/x@sha256:idx",
    ]
    assert {m["digest"] for m in rewritten["manifests"]} == {"sha256:m"}
    with pytest.raises(OperationError, match="no image named r/y:1"):
        name_by_digest(archive, "r/y:1", "r/y@sha256:idx", tmp_path / "c.tar")
