"""The whole end-to-end run as one command, leaving a report folder to attach to a bug report.

    python -m tests.e2e.run --engines calico,cilium,none,existing --report DIR

(from the repository root, with the project installed, e.g. ``.venv/bin/python -m tests.e2e.run``).
It checks the machine (Docker that answers, kind, kubectl: without them it prints one line and
exits 0, or 1 with ``--no-skip``), prints the time budget of every step, records the tools'
versions and ``invoke doctor --json`` per engine, runs pytest on ``tests/e2e`` with
``NETPOL_LAB_E2E=1`` and ``--junitxml``, and exits with pytest's status.

``existing`` is a pseudo-engine: not an engine ``invoke up --engine`` installs, but the lab with
``--provider existing`` on a kind cluster the test makes by hand (tests/e2e/test_existing_lab.py).
It is chosen like an engine (``--engines``, ``NETPOL_LAB_E2E_ENGINES``, the workflow's matrix),
so it gets the same report files, budgets and job as the engines; its doctor runs inside the test,
once its cluster exists. The folder then holds:

    SUMMARY.md              what ran, the outcome, and which files are there or missing
    junit.xml               the e2e run (pytest --junitxml, captured output included)
    pytest.log              pytest's console output
    budgets.txt, .json      the time budget of every step, and where each number comes from
    tools.json              docker, kind, kubectl, helm, cilium, Python versions; the pins;
                            whether kubectl is within one minor of the node image's Kubernetes
    doctor-ENGINE.json      `invoke doctor --engine ENGINE --json`
                            (existing: `invoke doctor --provider existing`, by the test)
    status-ENGINE.json      `invoke status --json` while the engine's lab was up   (by the test)
    validation-ENGINE.html  `invoke validate --format html`, the probe matrix      (by the test)
    steps/ENGINE/           one log per step: command, budget, time taken, output  (by the test)

``python -m tests.e2e.run --kubectl-version`` prints the kubectl release that matches the pinned
kind node image (the workflow installs it); ``--budgets`` prints the budgets and exits.

Only the standard library at module level: ``--kubectl-version`` runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# azure exists only on AKS. "existing" is the pseudo-engine of the lab on a hand-made kind cluster
# (tests/e2e/budget.py EXISTING; test_existing_lab.py), chosen like an engine.
E2E_ENGINES = ("calico", "cilium", "none", "existing")
EXISTING = "existing"

# Commands the runner starts; overridable (a command line) to run another pytest or invoke,
# e.g. a wrapper. Each defaults to this interpreter's module.
PYTEST_ENV = "NETPOL_LAB_E2E_PYTEST"
INVOKE_ENV = "NETPOL_LAB_E2E_INVOKE"

# kind publishes node images as kindest/node:vMAJOR.MINOR.PATCH, pinned by @sha256 digest in its
# release notes; the tag is the Kubernetes release inside the image.
_NODE_IMAGE = re.compile(
    r"^(?:[\w.-]+(?::\d+)?/)*kindest/node:(v\d+\.\d+\.\d+)(?:@sha256:[0-9a-f]{64})?$"
)

PYTEST_EXIT = {
    0: "all tests passed",
    1: "some tests failed",
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no tests were collected",
}


class Usage(Exception):
    """A wrong argument: one line, exit 2."""


# --- kubectl that matches the cluster ---------------------------------------------------------


def kubectl_version_for(node_image: str) -> str:
    """The kubectl release for a kind node image: the image's own Kubernetes version.

    kubectl must be within one minor version of the cluster (Kubernetes docs, "Install and Set Up
    kubectl on Linux", kubernetes/website content/en/docs/tasks/tools/install-kubectl-linux.md);
    the same release is the safe choice, and dl.k8s.io publishes it with its .sha256.
    """
    match = _NODE_IMAGE.match(node_image.strip())
    if not match:
        raise ValueError(
            f"cannot read a Kubernetes version from node image {node_image!r} "
            "(expected kindest/node:vX.Y.Z[@sha256:...])"
        )
    return match.group(1)


def pinned_kubectl_version() -> str:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from provisioning import versions

    return kubectl_version_for(versions.KIND_NODE_IMAGE)


def kubectl_skew(client_json: str, node_image: str) -> dict[str, Any]:
    """Whether ``kubectl version --client -o json`` is within one minor of the node image."""
    want = kubectl_version_for(node_image)
    try:
        have = json.loads(client_json)["clientVersion"]["gitVersion"]
        have_minor = int(have.lstrip("v").split(".")[1])
    except (ValueError, KeyError, IndexError, TypeError):
        return {"cluster": want, "client": None, "within_one_minor": None}
    want_minor = int(want.lstrip("v").split(".")[1])
    return {
        "cluster": want,
        "client": have,
        "within_one_minor": abs(have_minor - want_minor) <= 1,
    }


# --- the report's pieces ----------------------------------------------------------------------


def _command(env_var: str, module: str) -> list[str]:
    if value := os.environ.get(env_var):
        return shlex.split(value)
    return [sys.executable, "-m", module]


def _capture(argv: Sequence[str], timeout: float = 60) -> dict[str, Any]:
    """Run a version-style command; its output, or why there is none."""
    entry: dict[str, Any] = {"command": shlex.join(argv)}
    if shutil.which(argv[0]) is None:
        return {**entry, "error": "not installed"}
    try:
        result = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return {**entry, "error": f"no answer within {timeout:g} s"}
    except OSError as exc:
        return {**entry, "error": str(exc)}
    output = (result.stdout + result.stderr).strip()
    return {**entry, "exit": result.returncode, "output": output}


VERSION_COMMANDS = {
    "docker": ["docker", "version"],
    "kind": ["kind", "version"],
    "kubectl": ["kubectl", "version", "--client", "-o", "json"],
    "helm": ["helm", "version", "--short"],
    "cilium": ["cilium", "version", "--client"],
    "git": ["git", "describe", "--always", "--dirty", "--tags"],
}


def tool_versions() -> dict[str, Any]:
    from provisioning import versions

    tools = {name: _capture(argv) for name, argv in VERSION_COMMANDS.items()}
    tools["python"] = {"command": sys.executable, "output": sys.version}
    tools["platform"] = {"output": platform.platform()}
    pins = {k: v for k, v in vars(versions).items() if k.isupper() and isinstance(v, str)}
    doc: dict[str, Any] = {"tools": tools, "pins": pins}
    kubectl = tools["kubectl"]
    if "output" in kubectl:
        doc["kubectl_skew"] = kubectl_skew(kubectl["output"], versions.KIND_NODE_IMAGE)
    return doc


def write_doctor(report: Path, engine: str) -> str:
    """``invoke doctor --engine ENGINE --json`` into the report; a one-word verdict."""
    argv = [*_command(INVOKE_ENV, "invoke"), "doctor", "--engine", engine, "--json"]
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=180, check=False, cwd=ROOT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        (report / f"doctor-{engine}.txt").write_text(f"$ {shlex.join(argv)}\n{exc}\n")
        return f"could not run ({exc})"
    try:
        doc = json.loads(result.stdout)
    except ValueError:
        (report / f"doctor-{engine}.txt").write_text(
            f"$ {shlex.join(argv)}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
        return f"failed (exit {result.returncode}), see doctor-{engine}.txt"
    (report / f"doctor-{engine}.json").write_text(json.dumps(doc, indent=2) + "\n")
    return "ready" if doc.get("ready") else "NOT ready"


def pytest_argv(report: Path) -> list[str]:
    """pytest on the e2e tests, JUnit XML (with each test's captured output) into the report."""
    return [
        *_command(PYTEST_ENV, "pytest"),
        "-p",
        "no:cacheprovider",
        "-m",
        "e2e",
        "-v",
        "-rA",
        f"--junitxml={report / 'junit.xml'}",
        "-o",
        "junit_logging=all",
        "-o",
        "junit_suite_name=netpol-lab-e2e",
        "tests/e2e",
    ]


def pytest_env(report: Path, engines: Sequence[str]) -> dict[str, str]:
    return {
        **os.environ,
        "NETPOL_LAB_E2E": "1",
        "NETPOL_LAB_E2E_ENGINES": ",".join(engines),
        "NETPOL_LAB_E2E_REPORT": str(report),
        "PYTHONUNBUFFERED": "1",
    }


def run_pytest(report: Path, engines: Sequence[str]) -> int:
    """pytest on tests/e2e, its output shown and kept in pytest.log; its exit status."""
    argv = pytest_argv(report)
    env = pytest_env(report, engines)
    print(f"$ {shlex.join(argv)}", flush=True)
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    interrupted = False
    with (report / "pytest.log").open("w") as log:
        log.write(f"$ {shlex.join(argv)}\n")
        while True:
            try:
                for line in proc.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    log.write(line)
                break
            except KeyboardInterrupt:
                if interrupted:
                    proc.kill()
                    raise
                interrupted = True
                # pytest got the same Ctrl-C: its tests' `finally` removes the clusters.
                print(
                    "\ne2e: interrupted; letting pytest remove the clusters "
                    "(Ctrl-C again to stop at once)",
                    file=sys.stderr,
                    flush=True,
                )
    return proc.wait()


def junit_counts(path: Path) -> dict[str, int] | None:
    """tests/failures/errors/skipped summed over the JUnit XML's test suites."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    keys = ("tests", "failures", "errors", "skipped")
    return {k: sum(int(s.get(k, 0)) for s in suites) for k in keys}


def expected_files(engines: Sequence[str]) -> list[tuple[str, str]]:
    files = [
        ("junit.xml", "the e2e run as JUnit XML"),
        ("pytest.log", "pytest's console output"),
        ("budgets.txt", "the time budget of every step"),
        ("tools.json", "tool versions, pins, kubectl skew"),
    ]
    for engine in engines:
        doctor = (
            "`invoke doctor --provider existing --json` on the test's cluster"
            if engine == EXISTING
            else f"`invoke doctor --engine {engine} --json`"
        )
        files += [
            (f"doctor-{engine}.json", doctor),
            (f"status-{engine}.json", f"`invoke status --json` of lab e2e-{engine}"),
            (f"validation-{engine}.html", f"the validation matrix of lab e2e-{engine}"),
            (f"steps/{engine}/steps.json", "every step: budget and time taken (logs beside it)"),
        ]
    return files


def write_summary(
    report: Path,
    engines: Sequence[str],
    *,
    command: str,
    started: datetime,
    code: int,
    counts: dict[str, int] | None,
) -> list[str]:
    """SUMMARY.md; returns the expected files that are missing."""
    finished = datetime.now(timezone.utc)
    missing = [name for name, _ in expected_files(engines) if not (report / name).exists()]
    lines = [
        "# netpol-lab end-to-end report",
        "",
        f"- command: `{command}`",
        f"- engines: {', '.join(engines)}",
        f"- started: {started.isoformat(timespec='seconds')}, "
        f"took {(finished - started).total_seconds():.0f} s",
        f"- pytest exit status: {code} ({PYTEST_EXIT.get(code, 'unknown')})",
    ]
    if counts is not None:
        lines.append(
            "- tests: {tests}, failures: {failures}, errors: {errors}, skipped: {skipped}".format(
                **counts
            )
        )
    lines += ["", "| file | what | here |", "| --- | --- | --- |"]
    for name, what in expected_files(engines):
        here = "yes" if (report / name).exists() else "MISSING"
        lines.append(f"| {name} | {what} | {here} |")
    if missing:
        lines += [
            "",
            "A missing status or validation file means that engine's test stopped before that "
            "step (or was skipped): junit.xml and steps/ENGINE/ say where and why.",
        ]
    (report / "SUMMARY.md").write_text("\n".join(lines) + "\n")
    return missing


# --- the command ------------------------------------------------------------------------------


def parse_engines(text: str) -> list[str]:
    engines: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item not in E2E_ENGINES:
            raise Usage(
                f"--engines: {item!r} is not an e2e engine; choose from {', '.join(E2E_ENGINES)}"
            )
        if item not in engines:
            engines.append(item)
    if not engines:
        raise Usage(f"--engines: name at least one of {', '.join(E2E_ENGINES)}")
    return engines


def report_folder(value: str | None) -> Path:
    if value is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        return (Path.cwd() / "e2e-report" / stamp).resolve()
    path = Path(value).resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise Usage(f"--report {value}: exists and is not an empty folder; choose another")
    return path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tests.e2e.run",
        description="Run the end-to-end tests on real kind clusters and leave a report folder.",
    )
    p.add_argument(
        "--engines",
        default=",".join(E2E_ENGINES),
        help="comma-separated engines, each on its own cluster; existing: the lab with "
        "--provider existing on a kind cluster made by hand (default: %(default)s)",
    )
    p.add_argument(
        "--report",
        help="report folder, absent or empty (default: ./e2e-report/<UTC time>)",
    )
    p.add_argument(
        "--no-skip",
        action="store_true",
        help="exit 1 instead of 0 when the machine cannot run the tests or a test is skipped (CI)",
    )
    p.add_argument(
        "--kubectl-version",
        action="store_true",
        help="print the kubectl release matching the pinned kind node image, and exit",
    )
    p.add_argument(
        "--budgets", action="store_true", help="print the time budget of every step, and exit"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.kubectl_version:
        print(pinned_kubectl_version())
        return 0
    try:
        engines = parse_engines(args.engines)
        if args.budgets:
            from tests.e2e import budget

            print(budget.render_table(engines), end="")
            return 0
        report = report_folder(args.report)
    except Usage as exc:
        print(f"e2e: {exc}", file=sys.stderr)
        return 2

    from tests.e2e.prereqs import missing_tools

    if reason := missing_tools():
        verdict = "cannot run" if args.no_skip else "skipped"
        print(f"e2e: {verdict}: {reason} (the end-to-end run needs Docker, kind and kubectl)")
        return 1 if args.no_skip else 0

    from tests.e2e import budget

    started = datetime.now(timezone.utc)
    report.mkdir(parents=True, exist_ok=True)
    print(f"e2e: engines {', '.join(engines)}; report folder {report}")

    table = budget.render_table(engines)
    (report / "budgets.txt").write_text(table)
    budgets_doc = {}
    for engine in engines:
        steps = budget.budgets_for(engine)
        budgets_doc[engine] = {
            "steps": [b.as_dict() for b in steps.values()],
            "test_timeout": budget.whole_test_timeout(steps),
        }
    (report / "budgets.json").write_text(json.dumps(budgets_doc, indent=2) + "\n")
    print("e2e: time budget per step (a step that overruns is stopped and named):")
    print(table, end="", flush=True)

    tools = tool_versions()
    (report / "tools.json").write_text(json.dumps(tools, indent=2) + "\n")
    skew = tools.get("kubectl_skew") or {}
    if skew.get("within_one_minor") is False:
        print(
            f"e2e: warning: kubectl {skew['client']} is more than one minor version away from "
            f"the cluster's {skew['cluster']}; install kubectl {skew['cluster']}"
        )
    for engine in engines:
        if engine == EXISTING:  # its cluster does not exist yet: the test runs doctor on it
            print(f"e2e: doctor ({engine}): run by the test once its kind cluster exists")
            continue
        print(f"e2e: doctor ({engine}): {write_doctor(report, engine)}", flush=True)

    code = run_pytest(report, engines)
    counts = junit_counts(report / "junit.xml")
    command = shlex.join(["python", "-m", "tests.e2e.run", *argv])
    missing = write_summary(
        report, engines, command=command, started=started, code=code, counts=counts
    )
    if counts:
        print(
            "e2e: {tests} tests, {failures} failures, {errors} errors, {skipped} skipped".format(
                **counts
            )
        )
    if missing:
        print(f"e2e: not in the report: {', '.join(missing)} (see SUMMARY.md)")
    print(f"e2e: pytest exited {code} ({PYTEST_EXIT.get(code, 'unknown')})")
    print(f"e2e: report folder {report} (attach it to a bug report)")
    if code == 0 and args.no_skip and counts and counts["skipped"]:
        print("e2e: --no-skip: a test was skipped (see junit.xml for the reason)")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
