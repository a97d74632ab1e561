"""Fixtures: a network namespace with drop rules when this machine allows one, else a skip."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import pytest

from provisioning.validation.probe import PodRef, Probe
from tests.validation.netlab import NetnsLab, netns_unavailable


@cache
def _netns_reason() -> str | None:
    return netns_unavailable()


@pytest.fixture
def netns() -> Iterator[NetnsLab]:
    reason = _netns_reason()
    if reason:
        pytest.skip(f"network-namespace drop rules unavailable: {reason}")
    with NetnsLab() as lab:
        yield lab


def pod(key: str, ip: str = "127.0.0.1", container: str = "agnhost") -> PodRef:
    namespace, name = key.split("/")
    return PodRef(namespace, name, ip, container)


def probe(src: str, dst: str, port: int, protocol: str = "TCP", **ips: str) -> Probe:
    return Probe(
        pod(src, ips.get("src_ip", "127.0.0.1")),
        pod(dst, ips.get("dst_ip", "127.0.0.1")),
        port,
        protocol,
    )
