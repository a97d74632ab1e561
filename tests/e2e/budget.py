"""Time budgets for every step of the end-to-end test, computed from the lab's own timeouts.

pytest's global ``timeout = 120`` (pyproject.toml) fits unit tests, not a kind cluster: a first
``up`` alone takes about two minutes on a laptop. So each step of the e2e test (one command run as
a subprocess) gets its own budget, and a step that overruns is stopped and named:
``step 'invoke up --engine calico ...' exceeded its 1596 s budget``.

A step's budget is the sum of the allowances of the phases that step runs, plus a fixed overhead
for the command itself (Python and Invoke start-up, ``kind get clusters``, API round trips):

- ``cluster``, ``engine``, ``workload``: the lab's ``Timeouts`` (provisioning/spec.py, possibly
  changed by the Invoke configuration's ``lab.timeouts``), resolved exactly as ``invoke up
  --engine E --name N`` resolves them. Each is what the tool itself waits at most in that phase
  before failing with its own message (kind create/delete, engine install and readiness, pod
  readiness and namespace termination).
- ``validation``: the tasks' ``--deadline`` default (re-probing stops starting rounds after it)
  plus one more round, which lasts at most ``--probe-timeout`` + the kubectl executor's
  ``exec_margin`` (provisioning/validation/probe_kubectl.py).
- ``canary``: the enforcement canary ``up`` runs before validating (provisioning/lab/canary.py).
  Its module doc: "``deadline`` bounds each wait separately: the pods becoming Ready, the policy
  taking effect, and the objects going away", so three deadlines, plus two probes that may run
  past them (the one before the deny policy, the last one of the policy wait), each at most
  ``--probe-timeout`` + ``exec_margin``. The deadline is the larger of the tasks' ``--deadline``
  default and ``run_canary``'s own default, whichever the pipeline passes.

Two flows have steps here: the kind engines' (``STEPS``: ``invoke up --engine E`` makes the
cluster) and the pseudo-engine ``existing`` (``EXISTING_STEPS``, tests/e2e/test_existing_lab.py:
the test makes a kind cluster by hand with ``kind create cluster`` and runs the lab on it with
``--provider existing``). The hand-made cluster's steps get the same allowances the lab gives
its own kind cluster: ``kind create`` within ``cluster``, the default CNI (kindnet) Ready within
``engine``, a pod Ready within ``workload``.

The whole test gets ``pytest.mark.timeout(sum of its step budgets + TEST_MARGIN)``, which
overrides the global 120 s for it only (pytest-timeout README, "Usage": the marker has the highest
priority). The steps' budgets trip first and name the step; the marker is the backstop.

``provisioning`` and Invoke; tasks.py is read (not imported) for the tasks' defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

STEP_OVERHEAD = 60.0  # seconds each command gets beyond its phases
TEST_MARGIN = 60.0  # seconds the whole test gets beyond its steps (fixtures, skip checks)
PHASES = ("cluster", "engine", "workload", "canary", "validation")

KIND_ENGINES = ("calico", "cilium", "none")  # `invoke up --engine E` on the lab's own kind cluster
# Not an engine: the lab on a kind cluster the test makes by hand (`--provider existing`, which
# detects the cluster's engine, kindnet). Selected like an engine (runner `--engines`,
# NETPOL_LAB_E2E_ENGINES, the workflow's matrix) so it gets its own job, report files and budget.
EXISTING = "existing"


def lab_name(engine: str) -> str:
    """The lab (and kind cluster) each engine's test creates; the workflow cleans it up.
    For ``existing``: the lab only; its hand-made cluster is ``existing_cluster_prefix()...``."""
    return f"e2e-{engine}"


def existing_cluster_prefix() -> str:
    """The start of the name of the kind cluster the ``existing`` test makes by hand; the rest is
    random, so a cluster left by a killed run never blocks the next one. The workflow deletes
    the clusters whose name starts with it."""
    return f"{lab_name(EXISTING)}-"


@dataclass(frozen=True)
class Allowances:
    """Seconds allowed per phase, and per command on top of its phases."""

    cluster: float
    engine: float
    workload: float
    canary: float
    validation: float
    overhead: float = STEP_OVERHEAD

    def of(self, phase: str) -> float:
        return float(getattr(self, phase))


@dataclass(frozen=True)
class StepBudget:
    key: str
    label: str
    seconds: float
    parts: tuple[tuple[str, float], ...]  # (phase or "overhead", seconds), summing to seconds

    def breakdown(self) -> str:
        return " + ".join(f"{name} {value:g}" for name, value in self.parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "seconds": self.seconds,
            "parts": dict(self.parts),
        }


# The e2e test's steps, in the order it runs them: (key, label, phases the step runs). A passing
# run executes exactly these phases; when a step needs more (say the second `up` finds the engine
# not ready and waits for it), the test would fail on its assertions anyway, and the budget names
# the step instead of hanging.
STEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "up-first",
        "invoke up --engine {engine} --scenario zero-trust (creates the lab)",
        ("cluster", "engine", "workload", "canary", "validation"),
    ),
    ("status", "invoke status --engine {engine} --json", ()),
    ("validate-html", "invoke validate --engine {engine} --format html", ("validation",)),
    ("kubectl-pods", "kubectl get pods -A -l netpol-lab.io/lab={name}", ()),
    (
        "up-again",
        "invoke up --engine {engine} --scenario zero-trust (second run, nothing to change)",
        ("canary", "validation"),
    ),
    (
        "up-switch",
        "invoke up --engine {engine} --scenario aks-demo (only policies change)",
        ("canary", "validation"),
    ),
    ("down-keep", "invoke down --engine {engine} --keep-cluster", ("workload",)),
    ("down", "invoke down --engine {engine} --yes", ("cluster",)),
    ("kind-clusters", "kind get clusters", ()),
    ("down-again", "invoke down --engine {engine} --yes (nothing left to remove)", ()),
)


# The ``existing`` test's steps (tests/e2e/test_existing_lab.py), in run order. `--provider
# existing --kubeconfig K --context C --name e2e-existing` is written "--provider existing" here.
EXISTING_STEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "kind-create",
        "kind create cluster --name {cluster}<random> --image <pinned node image> "
        "--kubeconfig <temporary file> (made by hand, not by the lab)",
        ("cluster",),
    ),
    ("kindnet-ready", "kubectl rollout status daemonset/kindnet -n kube-system", ("engine",)),
    ("user-objects", "kubectl apply (the user's own namespace, pod and NetworkPolicy)", ()),
    ("user-pod-ready", "kubectl wait --for=condition=Ready (the user's own pod)", ("workload",)),
    ("user-objects-before", "kubectl get (the user's own namespace, pod and NetworkPolicy)", ()),
    ("cluster-before", "kubectl get (what the cluster holds before the lab)", ()),
    ("doctor", "invoke doctor --provider existing --json", ()),
    ("plan", "invoke plan --provider existing --json (changes nothing)", ()),
    ("status-before", "invoke status --provider existing --json (before up)", ()),
    ("cluster-after-looking", "kubectl get (unchanged by doctor, plan and status)", ()),
    (
        "up",
        "invoke up --provider existing --scenario zero-trust --json (the lab's namespaces only)",
        ("workload", "canary", "validation"),
    ),
    ("status", "invoke status --provider existing --json (the lab up)", ()),
    ("validate-html", "invoke validate --provider existing --format html", ("validation",)),
    ("lab-namespaces", "kubectl get namespaces -l netpol-lab.io/lab={name}", ()),
    ("down", "invoke down --provider existing --json (only the lab's namespaces)", ("workload",)),
    ("cluster-after-down", "kubectl get (what the cluster holds after down: as before)", ()),
    ("user-objects-after", "kubectl get (the user's own namespace, pod and NetworkPolicy)", ()),
    ("kind-clusters", "kind get clusters (the cluster is still there)", ()),
    ("down-again", "invoke down --provider existing (nothing left to remove)", ()),
    ("kind-delete", "kind delete cluster --name {cluster}<random> (the test's own)", ("cluster",)),
    ("kind-clusters-after", "kind get clusters (the test's cluster is gone)", ()),
)


def steps_for(engine: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return EXISTING_STEPS if engine == EXISTING else STEPS


def step_budgets(engine: str, allowances: Allowances) -> dict[str, StepBudget]:
    """Every step's budget for ``engine``, in run order."""
    out = {}
    for key, label, phases in steps_for(engine):
        parts = tuple((phase, allowances.of(phase)) for phase in phases)
        parts += (("overhead", allowances.overhead),)
        out[key] = StepBudget(
            key,
            label.format(engine=engine, name=lab_name(engine), cluster=existing_cluster_prefix()),
            sum(value for _, value in parts),
            parts,
        )
    return out


def whole_test_timeout(budgets: Mapping[str, StepBudget], margin: float = TEST_MARGIN) -> float:
    """The pytest-timeout marker for one engine's test: every step's budget plus a margin."""
    return sum(b.seconds for b in budgets.values()) + margin


# --- where the numbers come from --------------------------------------------------------------


def _tasks_source() -> Any:
    import ast

    return ast.parse((ROOT / "tasks.py").read_text(), filename="tasks.py")


def task_defaults(name: str) -> dict[str, Any]:
    """The default of every flag of task ``name`` in tasks.py, read from its source (importing
    tasks.py would run its import-time configuration checks inside pytest's collection)."""
    import ast

    for node in ast.walk(_tasks_source()):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            args = node.args.args
            defaults = node.args.defaults
            named = args[len(args) - len(defaults) :]
            return {a.arg: ast.literal_eval(d) for a, d in zip(named, defaults, strict=True)}
    raise LookupError(f"tasks.py has no task {name!r}")


def lab_flag_names() -> list[str]:
    """The lab flags every task takes (``LAB_FLAGS`` in tasks.py): the Invoke settings it reads."""
    import ast

    for node in ast.walk(_tasks_source()):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "LAB_FLAGS" for t in node.targets
        ):
            assert isinstance(node.value, ast.Dict)
            return [ast.literal_eval(key) for key in node.value.keys if key is not None]
    raise LookupError("tasks.py has no LAB_FLAGS")


def invoke_layers() -> list[Any]:
    """The ``lab`` settings of the Invoke configuration `invoke` itself reads in ROOT (system,
    user and project files, ``INVOKE_LAB_*`` variables), as tasks.py passes them to resolve()."""
    from invoke import Config

    from provisioning.invoke_config import lab_layers

    config = Config(project_location=str(ROOT))
    config.load_project()
    return lab_layers(config, lab_flag_names())


def lab_flags(engine: str) -> dict[str, str]:
    """The flags the test gives ``invoke up``, as far as they choose the lab's timeouts. For
    ``existing`` the kubeconfig is a stand-in: resolving settings never reads the file."""
    if engine == EXISTING:
        return {"provider": EXISTING, "kubeconfig": "kubeconfig", "name": lab_name(engine)}
    return {"engine": engine, "name": lab_name(engine)}


def allowances_for(engine: str, layers: Sequence[Any] | None = None) -> Allowances:
    """The allowances for ``invoke up --engine ENGINE --name e2e-ENGINE`` (for ``existing``:
    ``invoke up --provider existing --kubeconfig K --name e2e-existing``) as it would run here;
    ``layers``: the Invoke configuration layers to use instead of this machine's."""
    import inspect

    from provisioning.lab.canary import run_canary
    from provisioning.profiles import parse_duration, resolve
    from provisioning.validation.probe_kubectl import KubectlExecutor

    spec = resolve(layers=invoke_layers() if layers is None else layers, flags=lab_flags(engine))
    exec_margin = {f.name: f.default for f in dataclasses.fields(KubectlExecutor)}["exec_margin"]
    tasks = (task_defaults("up"), task_defaults("validate"))
    deadline = max(parse_duration(d["deadline"], where="deadline") for d in tasks)
    probe = max(parse_duration(d["probe_timeout"], where="probe_timeout") for d in tasks)
    canary_deadline = max(deadline, inspect.signature(run_canary).parameters["deadline"].default)
    return Allowances(
        cluster=spec.timeouts.cluster,
        engine=spec.timeouts.engine,
        workload=spec.timeouts.workload,
        canary=3 * canary_deadline + 2 * (probe + exec_margin),
        validation=deadline + probe + exec_margin,
    )


def budgets_for(engine: str, layers: Sequence[Any] | None = None) -> dict[str, StepBudget]:
    return step_budgets(engine, allowances_for(engine, layers))


def render_table(engines: Sequence[str], layers: Sequence[Any] | None = None) -> str:
    """The budget per step and per test, as printed by the runner and kept in the report."""
    lines = []
    for engine in engines:
        allowances = allowances_for(engine, layers)
        budgets = step_budgets(engine, allowances)
        phases = ", ".join(f"{p} {allowances.of(p):g} s" for p in PHASES)
        lines.append(f"{engine}: allowances {phases}, overhead {allowances.overhead:g} s per step")
        for index, b in enumerate(budgets.values(), 1):
            lines.append(f"  {index:2d}. {b.label}: {b.seconds:g} s = {b.breakdown()}")
        lines.append(
            f"  test timeout (pytest-timeout marker): {whole_test_timeout(budgets):g} s "
            f"= steps {whole_test_timeout(budgets, 0):g} + margin {TEST_MARGIN:g}"
        )
    return "\n".join(lines) + "\n"
