"""Regressions from the hostile review of `--provider existing`: a namespace that merely carries
the lab's labels is never the lab's to delete, and a broken kubeconfig is one line, not a
traceback or a hang."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioning.errors import LabError, UsageError
from provisioning.kube import ClientKube
from provisioning.lab import pipeline
from provisioning.spec import LABEL_LAB, LABEL_MANAGED_BY, TOOL
from tests.existing.test_provider import (
    LAB,
    make_lab,
    namespace,
    running_pod,
    snapshot,
    user_cluster,
)


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETPOL_LAB_HOME", str(tmp_path / "home"))


def test_a_namespace_with_the_labs_labels_but_not_its_name_is_never_deleted(
    tmp_path: Path,
) -> None:
    """E.g. a cluster a kind lab of the same name once ran on, now used as an existing one."""
    labels = {LABEL_MANAGED_BY: TOOL, LABEL_LAB: LAB}
    cluster = user_cluster(
        "calico-operator.yaml",
        namespace("prod", labels),
        running_pod("prod", "important", "10.99.0.7", {"app": "important"}),
    )
    lab = make_lab(tmp_path, cluster, enforcing=True, dataplane="calico")
    prod_before = {k: v for k, v in snapshot(cluster).items() if "prod" in k}

    plan = pipeline.plan_for(lab.context(), validate=False)
    removed = [key for step in plan.steps for marker, key in step.items if marker == "-"]
    assert removed == []  # plan shows no `- Namespace/prod`

    pipeline.up(lab.context(), validate=False)
    assert cluster.get("v1", "Namespace", "prod") is not None
    result = lab.down()
    assert "namespace prod" not in result.removed
    assert {f"namespace {n}-{LAB}" for n in ("canary", "demo", "other")} == set(result.removed)
    assert {k: v for k, v in snapshot(cluster).items() if "prod" in k} == prod_before


@pytest.mark.parametrize(
    "content",
    [
        "::: [\n\t- x",
        "hello",
        "- a\n- b",
        "users: 5\nclusters: x\ncontexts: 7\ncurrent-context: c\n",
        "apiVersion: v1\nclusters:\n- name: c\n  cluster: {server: 12345}\ncontexts:\n"
        "- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n"
        "  user: {}\n",
        "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
    ],
    ids=["yaml-error", "scalar", "list", "wrong-types", "server-int", "alias-bomb"],
)
def test_a_broken_kubeconfig_is_one_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(content)
    with pytest.raises(LabError) as err:
        ClientKube(path).server_version()
    message = str(err.value)
    assert "\n" not in message and str(path) in message


def test_a_fifo_or_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="fifo"):
        ClientKube(fifo).server_version()  # no writer: a read would wait forever
    huge = tmp_path / "huge"
    with huge.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: 100 MB without writing them
    with pytest.raises(UsageError, match="larger than"):
        ClientKube(huge).server_version()


def test_a_failing_credential_plugin_is_one_error_not_log_lines(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The client logs a failing exec plugin at ERROR on the root logger and carries on without
    credentials (kubernetes/config/kube_config.py _load_from_exec_plugin); the tool says it once,
    with the plugin's own words, and nothing is printed as `ERROR:root:...`."""
    plugin = tmp_path / "login-plugin"
    plugin.write_text("#!/bin/sh\necho 'token expired: please log in again' >&2\nexit 1\n")
    plugin.chmod(0o755)
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:9'}\n"
        "contexts:\n- name: c\n  context: {cluster: c, user: u}\n"
        "users:\n- name: u\n  user:\n    exec:\n"
        "      apiVersion: client.authentication.k8s.io/v1beta1\n"
        f"      command: {plugin}\n"
        "      interactiveMode: Never\n"
    )
    with pytest.raises(LabError) as caught:
        ClientKube(path).server_version()
    assert "credentials could not be loaded" in str(caught.value)
    assert "please log in again" in str(caught.value)
    out, err = capfd.readouterr()
    assert "ERROR:root" not in out + err
