"""Regenerate the validation samples in README.md: ``python -m tests.validation.sample DIR``.

The demo lab's real manifests in ``FakeKube``; kubectl exec run locally in a network namespace
with the demo policy's drop rules, one of them left out (as if enforcement were incomplete), so
the sample shows a mismatch with its explanation. Needs root for the namespace.
"""

from __future__ import annotations

import sys
from pathlib import Path

from provisioning.report import render
from provisioning.spec import LabSpec
from provisioning.validation.probe_kubectl import KubectlExecutor
from provisioning.validation.validate import run_validation
from tests.validation.demo_cluster import POD_IPS, fake_demo_kube, wire_dataplane
from tests.validation.netlab import NetnsLab
from tests.validation.runners import LocalKubectl
from tests.validation.test_reports import screenshot


def main(out: Path) -> None:
    spec = LabSpec(name="netpol-lab", engine="calico", scenario="aks-demo")
    stated = [
        {"from": "demo/client", "to": "demo/server", "port": 80, "expect": "allow"},
        {"from": "other/client", "to": "demo/server", "port": 80, "expect": "allow"},
    ]
    with NetnsLab() as netns:
        wire_dataplane(netns, missing=(("other/client", "demo/server", 80),))
        local = LocalKubectl(POD_IPS, netns=netns.name)
        report = run_validation(
            fake_demo_kube(spec), local, spec, executor=KubectlExecutor(local, spec.kubeconfig),
            probe_timeout=1.0, deadline=3.0, stated_expectations=stated,
        )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    for fmt, suffix in (("table", "txt"), ("json", "json"), ("junit", "xml"), ("html", "html")):
        (out / f"validate-sample.{suffix}").write_text(render(report, fmt), encoding="utf-8")
    screenshot(render(report, "html"), out / "validate-matrix.png", size="1000,1280")
    print(f"exit code {report.exit_code}; wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/validate-sample"))
