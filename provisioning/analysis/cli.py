"""The ``analyze`` command behind ``invoke analyze``: load, analyze, print. Tasks stay thin.

Contract (issue 3): ``--format table|json|summary``, ``--engine reference|calico|azure|
cilium|none``; exit 0 on success; bad input raises ``UsageError`` (exit 2) with a one-line
message that names the file, policy and field, or lists the valid choices.
"""

from __future__ import annotations

from typing import TextIO

from provisioning.errors import choice_error

from .analyzer import analyze
from .engines import ENGINES
from .formats import FORMATS, WRITERS
from .load import load_cluster, load_policies, load_probes


def run(
    cluster: str,
    policies: str,
    probes: str | None,
    engine: str,
    fmt: str,
    explain: bool,
    out: TextIO,
) -> int:
    """Analyze the files and write the chosen format to ``out``; returns the exit code (0)."""
    if engine not in ENGINES:
        raise choice_error("engine", engine, list(ENGINES), where="--engine")
    if fmt not in FORMATS:
        raise choice_error("format", fmt, FORMATS, where="--format")
    model = load_cluster(cluster)
    parsed = load_policies(policies, cluster_wide=True)
    probe_list = load_probes(probes) if probes else None
    analysis = analyze(model, parsed, probe_list, engine)
    WRITERS[fmt](analysis, out, explain)
    return 0
