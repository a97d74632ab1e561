"""`preload`: pull the big images once, and load the demo image into an existing lab."""

from __future__ import annotations

import io
from pathlib import Path

from provisioning import pipeline, versions
from provisioning.preload import preload
from provisioning.progress import Progress
from provisioning.providers.kind import KindProvider
from provisioning.spec import LabSpec
from tests.fake_world import World


def run(world: World, tmp_path: Path):  # type: ignore[no-untyped-def]
    spec = LabSpec(state_root=tmp_path)
    provider = KindProvider(world, kube_factory=world.kube_factory())
    return preload(spec, world, provider, Progress(io.StringIO(), spinner=False))


def test_pulls_what_is_missing_and_skips_what_is_there(tmp_path: Path) -> None:
    world = World(images={versions.AGNHOST_IMAGE})
    result = run(world, tmp_path)
    assert result.pulled == (versions.KIND_NODE_IMAGE,)
    assert result.present == (versions.AGNHOST_IMAGE,)
    assert result.loaded == ()  # no lab cluster yet
    again = run(world, tmp_path)
    assert again.pulled == () and len(again.present) == 2
    assert not [c for c in world.calls if c[:2] == ("kind", "load")]


def test_loads_the_demo_image_into_an_existing_lab(tmp_path: Path) -> None:
    world = World()
    ctx_spec = LabSpec(state_root=tmp_path)
    ctx = pipeline.build_context(
        ctx_spec,
        world,
        Progress(io.StringIO(), spinner=False),
        provider=KindProvider(world, kube_factory=world.kube_factory()),
    )
    ctx.sleep = lambda _s: None
    pipeline.up(ctx)
    result = run(world, tmp_path)
    assert result.loaded == (versions.AGNHOST_IMAGE,)
    assert world.clusters["netpol-lab"].loaded_images == [versions.AGNHOST_IMAGE]


def test_up_loads_a_preloaded_demo_image_into_the_new_cluster(tmp_path: Path) -> None:
    """The documented flow: preload before the workshop (no cluster yet), up on the day."""
    world = World()
    run(world, tmp_path)  # pulls into the local Docker; nothing to load into yet
    ctx = pipeline.build_context(
        LabSpec(state_root=tmp_path),
        world,
        Progress(io.StringIO(), spinner=False),
        provider=KindProvider(world, kube_factory=world.kube_factory()),
    )
    ctx.sleep = lambda _s: None
    pipeline.up(ctx)
    assert world.clusters["netpol-lab"].loaded_images == [versions.AGNHOST_IMAGE]


def test_up_without_a_cached_image_lets_the_nodes_pull(tmp_path: Path) -> None:
    world = World()
    ctx = pipeline.build_context(
        LabSpec(state_root=tmp_path),
        world,
        Progress(io.StringIO(), spinner=False),
        provider=KindProvider(world, kube_factory=world.kube_factory()),
    )
    ctx.sleep = lambda _s: None
    pipeline.up(ctx)
    assert world.clusters["netpol-lab"].loaded_images == []
    assert not [c for c in world.calls if c[:2] == ("kind", "load")]
