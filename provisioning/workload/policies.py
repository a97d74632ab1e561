"""Render a scenario's policy templates, and refuse the whole set if any object is wrong.

Templates are Jinja2 files in ``policies/`` rendered with ``StrictUndefined``: a variable that
is not defined is an error, never an empty string. Their variables come from one place,
``template_context`` (built from ``provisioning.workload.demo``), overridden per template by the
scenario's ``vars``. Everything is checked before anything is applied: a syntax error or an
undefined variable names the template file and line; invalid YAML, a missing lab label, a
namespace the lab does not own or a NetworkPolicy the API server would reject names the
template and the problem. The caller gets one ``UsageError`` (exit 2) and applies nothing.

Use ``prepare_scenario`` (render, then validate) before an apply or a plan.

Scenarios and templates speak of the lab's namespaces logically (``demo``, ``other``); a lab on
a shared cluster puts them under physical names (``demo-mylab``: ``LabSpec.namespace_suffix``).
Rendering with ``suffix`` gives the templates the physical names (``namespace``,
``namespaces.demo``, and a scenario's ``vars: {namespace: other}``), and validation accepts only
the physical names: a template that hard-codes ``demo`` is refused on such a lab.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioning.errors import UsageError
from provisioning.spec import CLUSTER_DNS_LABELS, CLUSTER_DNS_NAMESPACE, LABEL_LAB, lab_labels
from provisioning.workload import demo as workload
from provisioning.workload.scenarios import (
    SCENARIOS_FILE,
    PolicyRef,
    Scenario,
    display_path,
    load_scenario,
    scenario_names,
)

if TYPE_CHECKING:  # jinja2 is imported only when something is rendered
    import jinja2

__all__ = [
    "ANNOTATION_TEMPLATE",
    "RenderedScenario",
    "Scenario",
    "load_scenario",
    "physical_vars",
    "prepare_scenario",
    "render_policies",
    "render_scenario",
    "scenario_names",
    "template_context",
    "validate_rendered",
]

# Written on every rendered object, so `kubectl get netpol -o yaml` says where a policy came from.
# (Which scenario is the apply step's label, observe.SCENARIO_LABEL; not repeated here.)
ANNOTATION_TEMPLATE = "netpol-lab.io/template"

# The only kinds a policy template may produce; anything else would escape validation.
NETWORK_POLICY = ("networking.k8s.io/v1", "NetworkPolicy")
CLUSTER_NETWORK_POLICY = ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")
CALICO_GLOBAL_NETWORK_POLICY = ("projectcalico.org/v3", "GlobalNetworkPolicy")
CLUSTER_WIDE = (CLUSTER_NETWORK_POLICY, CALICO_GLOBAL_NETWORK_POLICY)
ALLOWED_KINDS = (NETWORK_POLICY, *CLUSTER_WIDE)

# Link-local address where AWS, Azure and GCP VMs serve instance metadata and credentials.
METADATA_ENDPOINT = "169.254.169.254/32"

# CoreDNS keeps the historical k8s-app=kube-dns label on kind and on AKS.
CLUSTER_DNS = {"namespace": CLUSTER_DNS_NAMESPACE, "selector": CLUSTER_DNS_LABELS, "port": 53}

_NOTHING_APPLIED = "fix the template; nothing was applied"

# Set by the API server on every namespace to its real (physical) name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class RenderedScenario:
    """A scenario's objects in apply order; ``templates[i]`` rendered ``objects[i]``."""

    scenario: Scenario
    lab: str
    objects: tuple[dict[str, Any], ...]
    templates: tuple[str, ...]
    suffix: str = ""  # appended to the lab's namespace names (LabSpec.namespace_suffix)

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The lab's namespaces as the cluster names them: the only ones objects may be in."""
        return workload.physical_namespaces(self.suffix)

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(template file, object)`` pairs, for messages and plans."""
        return zip(self.templates, self.objects, strict=True)


def template_context(lab: str, suffix: str = "") -> dict[str, Any]:
    """The variables every template sees; a scenario's ``vars`` override them per template.

    ``namespace`` and ``namespaces.demo``/``.other`` are physical names (``suffix`` appended).
    """
    return {
        "lab": lab,
        "labels": lab_labels(lab),
        "lab_label": LABEL_LAB,  # the key of the label that names the lab
        "namespace": workload.physical_namespace(workload.DEMO_NAMESPACE, suffix),
        "namespaces": {
            "demo": workload.physical_namespace(workload.DEMO_NAMESPACE, suffix),
            "other": workload.physical_namespace(workload.OTHER_NAMESPACE, suffix),
        },
        "selectors": {
            "server": workload.SERVER.labels,
            "client": workload.CLIENT.labels,
            "intruder": workload.INTRUDER.labels,
        },
        "ports": {
            p.name: {"name": p.name, "number": p.number, "protocol": p.protocol}
            for p in workload.SERVER.ports
        },
        "dns": CLUSTER_DNS,
        "metadata_endpoint": METADATA_ENDPOINT,
    }


# What a cluster-wide kind needs of the lab's engine (lab/pipeline.py check_cluster_wide refuses
# the others with one line): shown by `invoke scenarios`.
CLUSTER_WIDE_NEEDS = {
    "ClusterNetworkPolicy": "ClusterNetworkPolicy: kind with engine calico or cilium",
    "GlobalNetworkPolicy": "Calico GlobalNetworkPolicy: kind with engine calico",
}


def scenario_needs(name: str) -> tuple[str, ...]:
    """What scenario ``name`` needs of the engine beyond NetworkPolicy (its cluster-wide kinds),
    read from its rendered objects."""
    rendered = render_scenario(name, "needs")
    kinds = sorted({o.get("kind") for o in rendered.objects if o.get("kind") in CLUSTER_WIDE_NEEDS})
    return tuple(CLUSTER_WIDE_NEEDS[k] for k in kinds)


def render_scenario(
    name: str, lab: str, root: Path | None = None, *, suffix: str = ""
) -> RenderedScenario:
    """Render every template of scenario ``name`` for ``lab``; raises UsageError naming the file."""
    return render_policies(load_scenario(name, root), lab, suffix=suffix)


def render_policies(scenario: Scenario, lab: str, *, suffix: str = "") -> RenderedScenario:
    """Render every template ``scenario`` lists for ``lab`` (a loaded scenario, possibly with
    templates added, as an exercise's baseline adds them), into the physical namespaces."""
    env = _environment(scenario.root)
    objects: list[dict[str, Any]] = []
    templates: list[str] = []
    for ref in scenario.policies:
        for obj in _render(env, scenario, ref, lab, suffix):
            objects.append(obj)
            templates.append(ref.filename)
    return RenderedScenario(scenario, lab, tuple(objects), tuple(templates), suffix)


def validate_rendered(rendered: RenderedScenario) -> None:
    """Raise one UsageError naming the template and the problem if any object is not applicable."""
    # Imported here: the validator is only needed on this path, and it keeps imports cheap.
    from provisioning.analysis.cluster_policy import validate_cluster_network_policy
    from provisioning.analysis.validate import validate_networkpolicy

    validators = {
        NETWORK_POLICY: validate_networkpolicy,
        CLUSTER_NETWORK_POLICY: validate_cluster_network_policy,
        CALICO_GLOBAL_NETWORK_POLICY: _calico_errors,
    }
    problems: list[str] = []
    seen: dict[tuple[str, str, str], str] = {}
    expected_labels = lab_labels(rendered.lab)
    root = rendered.scenario.root
    for template, obj in rendered.items():
        where = f"template {display_path(root / template)}"
        problem = _check_object(obj, expected_labels, rendered.namespaces, rendered.suffix)
        validator = validators.get((obj.get("apiVersion"), obj.get("kind")), validate_networkpolicy)
        if problem is None and (errors := validator(obj)):
            problem = f"{_describe(obj)} would be rejected by the API server: {errors[0]}"
            if len(errors) > 1:
                problem += f" (and {len(errors) - 1} more)"
        if problem is None:
            key = (obj["kind"], obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
            if key in seen:
                problem = (
                    f"{_describe(obj)} is also rendered by {seen[key]}; the second would "
                    "overwrite the first: rename one"
                )
            seen[key] = template
        if problem is not None:
            problems.append(f"{where}: {problem}")
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise UsageError(
            f"scenario {rendered.scenario.name!r}: {problems[0]}{more}", hint=_NOTHING_APPLIED
        )


def prepare_scenario(
    name: str, lab: str, root: Path | None = None, *, suffix: str = ""
) -> RenderedScenario:
    """Render and validate: what an apply or a plan should call (``suffix``:
    ``LabSpec.namespace_suffix``)."""
    rendered = render_scenario(name, lab, root, suffix=suffix)
    validate_rendered(rendered)
    return rendered


_ENVIRONMENTS: dict[str, jinja2.Environment] = {}


def _environment(root: Path) -> jinja2.Environment:
    """One Jinja environment per template folder, kept for the process: its loader checks
    each template's modification time before using the compiled one (FileSystemLoader's
    ``uptodate``, Environment ``auto_reload`` on by default), so an edited template is read
    again, and a workshop fleet rendering the same scenario for 100 labs compiles it once."""
    key = str(root)
    found = _ENVIRONMENTS.get(key)
    if found is None:
        found = _ENVIRONMENTS[key] = _new_environment(root)
    return found


def _new_environment(root: Path) -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML
    )
    # Jinja ships a global `namespace()` helper; left in place it would shadow our `namespace`
    # variable, render as a class name when the variable is missing and hide it from meta.
    env.globals.pop("namespace", None)
    return env


def physical_vars(variables: Mapping[str, Any], suffix: str = "") -> dict[str, Any]:
    """A scenario's ``vars`` with a logical ``namespace`` (``other``) made physical
    (``other-mylab``); every other variable, and a namespace the lab does not own, unchanged."""
    out = dict(variables)
    namespace = out.get("namespace")
    if isinstance(namespace, str):
        out["namespace"] = workload.physical_namespace(namespace, suffix)
    return out


def _render(
    env: jinja2.Environment, scenario: Scenario, ref: PolicyRef, lab: str, suffix: str = ""
) -> list[dict[str, Any]]:
    import jinja2
    import jinja2.meta

    path = scenario.root / ref.filename
    where = display_path(path)
    try:
        source = path.read_text(encoding="utf-8")
        used = jinja2.meta.find_undeclared_variables(env.parse(source, ref.filename, str(path)))
        template = env.get_template(ref.filename)
        text = template.render({**template_context(lab, suffix), **physical_vars(ref.vars, suffix)})
    except jinja2.TemplateSyntaxError as exc:
        raise UsageError(
            f"template {where} line {exc.lineno}: syntax error: {exc.message}",
            hint=_NOTHING_APPLIED,
        ) from exc
    except jinja2.UndefinedError as exc:
        line = _template_line(exc, str(path))
        at = f" line {line}" if line else ""
        raise UsageError(
            f"template {where}{at}: {exc.message}",
            hint=f"define it in the scenario's vars in {SCENARIOS_FILE} or fix the template; "
            "nothing was applied",
        ) from exc
    except OSError as exc:
        raise UsageError(f"cannot read template {where}: {exc.strerror or exc}") from exc

    unused = sorted(set(ref.vars) - used)
    if unused:
        raise UsageError(
            f"{display_path(scenario.root / SCENARIOS_FILE)}: scenario {scenario.name!r}: "
            f"vars {', '.join(unused)} not used by template {where}; remove or rename them"
        )
    return _parse(text, where, ref.filename)


def _parse(text: str, where: str, template: str) -> list[dict[str, Any]]:
    from provisioning.documents import DocumentError, parse_yaml_documents

    try:
        documents = parse_yaml_documents(text, source=f"template {where}")
    except DocumentError as exc:
        at = f" at rendered line {exc.line}" if exc.line else ""
        raise UsageError(
            f"template {where} renders invalid YAML{at}: {exc.problem}", hint=_NOTHING_APPLIED
        ) from None
    except UsageError as exc:
        raise UsageError(str(exc), hint=_NOTHING_APPLIED) from None
    if not documents:
        raise UsageError(f"template {where} renders no object", hint=_NOTHING_APPLIED)
    for doc in documents:
        if not isinstance(doc, dict):
            raise UsageError(
                f"template {where} renders a {type(doc).__name__}, not a Kubernetes object",
                hint=_NOTHING_APPLIED,
            )
        metadata = doc.get("metadata")
        if isinstance(metadata, dict):
            annotations = metadata.get("annotations")
            if annotations is None or isinstance(annotations, dict):
                metadata["annotations"] = {**(annotations or {}), ANNOTATION_TEMPLATE: template}
    return documents


def _check_object(
    obj: Mapping[str, Any],
    expected_labels: Mapping[str, str],
    namespaces: tuple[str, ...] = workload.NAMESPACES,
    suffix: str = "",
) -> str | None:
    """The first lab-level problem with ``obj`` (the schema is validate_networkpolicy's job).

    ``namespaces`` are the lab's namespaces as the cluster names them (physical); with a
    ``suffix``, a namespaceSelector on ``kubernetes.io/metadata.name`` naming a logical one
    (``demo`` instead of ``demo-mylab``) would select nothing, and is refused.
    """
    kind = (obj.get("apiVersion"), obj.get("kind"))
    if kind not in ALLOWED_KINDS:
        allowed = ", ".join(f"{v}/{k}" for v, k in ALLOWED_KINDS)
        return f"renders {kind[0]}/{kind[1]}; policy templates may only render {allowed}"
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        return "metadata.name is missing"
    if kind in CLUSTER_WIDE:
        problem = _check_cluster_wide(obj, metadata, expected_labels, namespaces)
        return problem or _logical_names(obj, suffix)
    namespace = metadata.get("namespace")
    if namespace not in namespaces:
        # Only the lab's namespaces are removed by `down`; anything elsewhere would be left over.
        return (
            f"metadata.namespace is {namespace!r}; it must be one of the lab's namespaces: "
            f"{', '.join(namespaces)} (render `namespace` or `namespaces.NAME`)"
        )
    labels = metadata.get("labels")
    labels = labels if isinstance(labels, Mapping) else {}
    missing = {k: v for k, v in expected_labels.items() if labels.get(k) != v}
    if missing:
        wanted = ", ".join(f"{k}={v}" for k, v in missing.items())
        return (
            f"{_describe(obj)} lacks the lab labels {wanted} (render `labels` into "
            "metadata.labels) so `down` could not find it"
        )
    return _logical_names(obj, suffix)


def _logical_names(obj: Mapping[str, Any], suffix: str) -> str | None:
    """With a ``suffix``, a namespaceSelector on ``kubernetes.io/metadata.name`` naming a
    logical namespace (``demo`` instead of ``demo-mylab``) would select nothing."""
    if suffix:
        for name in _metadata_names_selected(obj.get("spec")):
            if name in workload.NAMESPACES:
                return (
                    f"{_describe(obj)} selects namespace {name!r} by {NAMESPACE_NAME_LABEL}, "
                    f"but in this lab it is named {workload.physical_namespace(name, suffix)!r}: "
                    f"render `namespaces.{name}` instead of writing the name"
                )
    return None


def _check_cluster_wide(
    obj: Mapping[str, Any],
    metadata: Mapping[str, Any],
    expected_labels: Mapping[str, str],
    namespaces: tuple[str, ...],
) -> str | None:
    """A cluster-scoped policy is the lab's only by its name and labels, and must act on the
    lab's pods only: named ``<lab>-...`` (so labs and the user's own never collide), the lab's
    labels (so ``down`` finds it), and a subject confined to the lab's namespaces both by the
    lab label and by name (``kubernetes.io/metadata.name``, which the API server sets: a
    namespace that merely copies the lab's labels is not the lab's, observe.lab_namespaces)."""
    lab = expected_labels[LABEL_LAB]
    name = metadata["name"]
    what = f"{obj.get('kind')} {name}"
    if metadata.get("namespace"):
        return f"{what} is cluster-scoped; remove metadata.namespace"
    if not name.startswith(f"{lab}-"):
        return f"{what} must be named {lab}-... (render `{{{{ lab }}}}-NAME`) so it is the lab's"
    labels = metadata.get("labels")
    labels = labels if isinstance(labels, Mapping) else {}
    missing = {k: v for k, v in expected_labels.items() if labels.get(k) != v}
    if missing:
        wanted = ", ".join(f"{k}={v}" for k, v in missing.items())
        return f"{what} lacks the lab labels {wanted} (render `labels` into metadata.labels)"
    spec = obj.get("spec")
    names = ", ".join(namespaces)
    if obj.get("kind") == CALICO_GLOBAL_NETWORK_POLICY[1]:
        chosen = spec.get("namespaceSelector") if isinstance(spec, Mapping) else None
        if not _calico_confined(chosen, lab, namespaces):
            return (
                f"{what}: spec.namespaceSelector must select only the lab's namespaces: "
                f"\"{LABEL_LAB} == '{lab}' && {NAMESPACE_NAME_LABEL} in {{...}}\" with names "
                f"among {names} (ANDed with anything else)"
            )
        return None
    subject = spec.get("subject") if isinstance(spec, Mapping) else None
    subject = subject if isinstance(subject, Mapping) else {}
    pods = subject.get("pods")
    selector = subject.get("namespaces")
    if isinstance(pods, Mapping):
        selector = pods.get("namespaceSelector")
    chosen = selector.get("matchLabels") if isinstance(selector, Mapping) else None
    if (
        not isinstance(chosen, Mapping)
        or chosen.get(LABEL_LAB) != lab
        or not _names_pinned(selector, namespaces)
    ):
        return (
            f"{what}: spec.subject must select only the lab's namespaces: give its namespace "
            f"selector matchLabels {LABEL_LAB}: {lab} (render `labels`) and pin "
            f"{NAMESPACE_NAME_LABEL} to names among {names} (matchLabels, or matchExpressions "
            "operator In)"
        )
    return None


def _names_pinned(selector: Mapping[str, Any], namespaces: tuple[str, ...]) -> bool:
    """Whether a LabelSelector allows only namespaces named among ``namespaces``."""
    labels = selector.get("matchLabels")
    if isinstance(labels, Mapping) and labels.get(NAMESPACE_NAME_LABEL) in namespaces:
        return True
    for expr in selector.get("matchExpressions") or ():
        if (
            isinstance(expr, Mapping)
            and expr.get("key") == NAMESPACE_NAME_LABEL
            and expr.get("operator") == "In"
            and isinstance(expr.get("values"), list)
            and set(expr["values"]) <= set(namespaces)
        ):
            return True
    return False


def _calico_errors(obj: Mapping[str, Any]) -> list[str]:
    """What Calico would refuse in ``obj`` (the analyzer's reading names the field)."""
    from provisioning.analysis.calico import parse_calico_object

    try:
        parse_calico_object(obj, source="template")
    except UsageError as exc:
        return [str(exc).removeprefix("template: ")]
    return []


def _calico_confined(selector: Any, lab: str, namespaces: tuple[str, ...]) -> bool:
    """Whether a Calico namespaceSelector requires, at its top level (``&&`` operands),
    ``netpol-lab.io/lab == '<lab>'`` and a namespace name among ``namespaces``
    (``kubernetes.io/metadata.name == 'x'`` or ``... in {...}``): then it can select no
    namespace but the lab's."""
    from provisioning.analysis.calico_selector import (
        EQ,
        And,
        Compare,
        InSet,
        parse_calico_selector,
    )

    if not isinstance(selector, str):
        return False
    try:
        root = parse_calico_selector(selector, where="spec.namespaceSelector").root
    except UsageError:
        return False
    operands = root.operands if isinstance(root, And) else (root,)
    named = any(
        (
            isinstance(o, Compare)
            and o.key == NAMESPACE_NAME_LABEL
            and o.op == EQ
            and o.value in namespaces
        )
        or (
            isinstance(o, InSet)
            and o.key == NAMESPACE_NAME_LABEL
            and not o.negated
            and set(o.values) <= set(namespaces)
        )
        for o in operands
    )
    return Compare(LABEL_LAB, EQ, lab) in operands and named


def _metadata_names_selected(spec: Any) -> Iterator[str]:
    """Every namespace name a namespaceSelector of ``spec`` matches by name, at any depth."""
    if isinstance(spec, Mapping):
        for key, value in spec.items():
            if key == "namespaceSelector" and isinstance(value, Mapping):
                labels = value.get("matchLabels")
                if isinstance(labels, Mapping) and isinstance(
                    labels.get(NAMESPACE_NAME_LABEL), str
                ):
                    yield labels[NAMESPACE_NAME_LABEL]
                for expr in value.get("matchExpressions") or ():
                    if isinstance(expr, Mapping) and expr.get("key") == NAMESPACE_NAME_LABEL:
                        yield from (v for v in expr.get("values") or () if isinstance(v, str))
            else:
                yield from _metadata_names_selected(value)
    elif isinstance(spec, list):
        for item in spec:
            yield from _metadata_names_selected(item)


def _describe(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    if not metadata.get("namespace"):
        return f"{obj.get('kind')} {metadata.get('name')}"
    return f"{obj.get('kind')} {metadata.get('namespace')}/{metadata.get('name')}"


def _template_line(exc: BaseException, filename: str) -> int | None:
    """The template line an error was raised at: Jinja maps template frames onto the file."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
