"""Importing the AKS package must not import the Azure SDK (``invoke --list`` stays fast)."""

from __future__ import annotations

import subprocess
import sys


def test_package_import_does_not_load_the_azure_sdk() -> None:
    code = (
        "import sys, provisioning.providers.aks; "
        "print(sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
