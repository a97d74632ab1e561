"""Fixtures for the AKS tests: the fake ARM, a gateway on top of it, and no network at all."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from provisioning.providers.aks.gateway import AksGateway
from tests.aks.fake_arm import FakeArm, FakeCredential

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test: everything must go through the fake."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)


@pytest.fixture
def fake() -> FakeArm:
    return FakeArm(versions={"westeurope": load("kubernetes_versions.json")})


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


@pytest.fixture
def gateway(fake: FakeArm, credential: FakeCredential) -> AksGateway:
    return AksGateway(fake.subscription, credential=credential, transport=fake, polling_interval=0)
