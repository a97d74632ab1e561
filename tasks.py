"""Invoke tasks for netpol-lab: thin wrappers that parse flags and call ``provisioning``.

Only ``provisioning.errors`` is imported at module level, so ``invoke --list`` stays fast; every
task imports what it needs when it runs. User errors exit 2, failed operations exit 1, each with
one line on stderr and no traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from invoke import Collection, Exit, task

from provisioning.errors import EXIT_FAILED, EXIT_USAGE, CommandError, LabError
from provisioning.invoke_config import precheck

# Before Invoke reads the project invoke.yaml or a -f file: one line for a broken or hostile one.
precheck(os.path.dirname(os.path.abspath(__file__)))


def _providers() -> Any:
    """The registered providers, as data (no provider module is imported for --list)."""
    from provisioning.providers import REGISTRY

    return REGISTRY.values()


LAB_FLAGS = {
    "profile": "profile name from profiles/ or a path to a YAML file",
    "provider": "where the lab runs: " + "; ".join(f"{i.name}: {i.summary}" for i in _providers()),
    "engine": "policy engine the provider installs: "
    + "; ".join(f"{i.name}: {', '.join(i.engines)}" for i in _providers() if i.engines),
    "name": "cluster / lab name",
    "scenario": "scenario (lab step) whose policies are applied; see `invoke scenarios`",
    "kubeconfig": "the kubeconfig of a cluster you already have (read, never written)",
    "context": "the context in --kubeconfig to use (default: its current context)",
}


def _help(**extra: str) -> dict[str, str]:
    return {**LAB_FLAGS, **extra}


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a task so that whatever a user gives it ends in one line and the task's own exit code.

    LabError becomes one line on stderr and ``Exit`` with its code; Ctrl-C becomes advice. Standard
    output is guarded: a reader that went away (``| head``, ``| true``) stops the printing but not
    the task, whose exit status stands; a full disk is one line and exit 1. A task asked for JSON
    prints one document on stdout even when it fails.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from provisioning.outputs import StdoutGuard

        wants_json = bool(kwargs.get("json")) or kwargs.get("format") == "json"
        with StdoutGuard() as guard:
            code, message = 0, None
            try:
                func(*args, **kwargs)
            except Exit as exc:
                code, message = exc.code, exc.message
            except CommandError as exc:
                tail = exc.tail()
                detail = (
                    "\n" + "\n".join(f"  | {line}" for line in tail.splitlines()) if tail else ""
                )
                code, message = exc.exit_code, f"✗ {exc}{detail}"
            except LabError as exc:
                code, message = exc.exit_code, f"✗ {exc}"
            except OSError as exc:  # a path the system refuses (too long, no permission, ...)
                code, message = _os_error(exc)
            except KeyboardInterrupt:
                advice = INTERRUPTED.get(func.__name__, "nothing was left half-done by this task")
                code, message = 130, f"✗ interrupted: {advice}"
            if code and wants_json and not guard.documents and message:
                _print_json({"ok": False, "exit_code": code, "error": message.lstrip("✗ ")})
            problem = guard.finish()
        if problem:
            message = f"{message}\n✗ {problem}" if message else f"✗ {problem}"
            code = code or EXIT_FAILED
        if code or message:
            raise Exit(message, code=code)

    return wrapper


def _os_error(exc: OSError) -> tuple[int, str]:
    """One line for an operating-system error no narrower handler caught: the path and why.

    Exit 2 when the path given is the problem (too long, not permitted, not a folder, a link
    loop); 1 otherwise (the machine failed the operation).
    """
    import errno

    from provisioning.documents import cut

    usage = {errno.ENAMETOOLONG, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.ELOOP}
    where = f"{cut(str(exc.filename), 120)}: " if exc.filename else ""
    hint = "check the path and its permissions" if exc.errno in usage else "then try again"
    return (
        EXIT_USAGE if exc.errno in usage else EXIT_FAILED,
        f"✗ {where}{exc.strerror or exc} ({hint})",
    )


INTERRUPTED = {
    "reset": "run `invoke reset` again to finish returning the lab to its baseline",
    "exercise": "run the same `invoke exercise` again",
    "up": "run the same `invoke up` again to resume, or `invoke down` to remove what was created",
    "down": "run `invoke down` again to finish removing the lab",
    "validate": "nothing was changed; run `invoke validate` again",
    "fleet": "run the same `invoke fleet` command again: up resumes, down finishes removing",
}


def _spec(c: Any, **flags: Any) -> Any:
    """The lab spec from defaults < profile < Invoke config < flags; settings none of those
    gave follow the existing lab of that name (its engine, provider, scenario)."""
    from provisioning.invoke_config import lab_layers
    from provisioning.lab.state import check_state_folder
    from provisioning.profiles import follow_lab, resolve

    layers = lab_layers(c.config, list(LAB_FLAGS))
    spec = resolve(layers=layers, flags=flags)
    check_state_folder(spec)
    spec, notes = follow_lab(spec)
    if spec.profile:
        notes.insert(0, f"profile: {spec.profile}")
    for note in notes:
        print(f"  note: {note}", file=sys.stderr)
    return spec


def _lab(*values: Any) -> dict[str, Any]:
    """The lab flags of a task, by name, in LAB_FLAGS order."""
    return dict(zip(LAB_FLAGS, values, strict=True))


def _same_lab_command(task_name: str, spec: Any) -> str:
    """``invoke <task>`` with the flags that name this same lab (provider, name, profile)."""
    from provisioning.providers import DEFAULT

    parts = ["invoke", task_name]
    if spec.profile:
        parts.append(f"--profile {spec.profile}")
    if spec.provider != DEFAULT:
        parts.append(f"--provider {spec.provider}")
    if spec.name != "netpol-lab":
        parts.append(f"--name {spec.name}")
    return " ".join(parts)


def _lock(spec: Any, task_name: str) -> Any:
    """The lab's lock for a task that changes it (a second run at once exits 2)."""
    from provisioning.lab.state import lab_lock

    command = " ".join(["invoke", task_name, *sys.argv[2:]])[:200]
    return lab_lock(
        spec,
        command,
        note=lambda text: print(f"  note: {text}", file=sys.stderr),
        optional=task_name == "down",
    )


def _progress() -> Any:
    from provisioning.progress import Progress

    return Progress(sys.stderr)


def _confirm() -> Callable[[str], bool] | None:
    from provisioning.lab.confirm import terminal_confirm

    return terminal_confirm()  # None without a terminal: callers then demand --yes


def _provider(spec: Any, *, read_only: bool = False) -> Any:
    """The lab's provider from the registry; ``read_only`` (plan, a dry run, status) writes
    nothing in the lab's folder, not even the kubeconfig it reads the cluster with."""
    from provisioning.providers import make
    from provisioning.runner import SubprocessRunner

    return make(spec, runner=SubprocessRunner(), read_only=read_only)


def _context(spec: Any, progress: Any, *, read_only: bool = False) -> Any:
    """The pipeline's context for this lab, on whichever provider it runs."""
    from provisioning.lab.pipeline import build_context
    from provisioning.runner import SubprocessRunner

    provider = _provider(spec, read_only=read_only)
    return build_context(spec, SubprocessRunner(), progress, provider)


def _require_up(ctx: Any, *, advice: str = "") -> None:
    """A task that works on a running lab: the cluster it runs on must be named (a cluster the
    user already has: their kubeconfig) and the lab must have been brought up -- its record, or
    on a cluster the tool makes, at least the kubeconfig it wrote (a damaged record must not
    block validation). One line otherwise, saying how to start it."""
    from provisioning.errors import UsageError
    from provisioning.lab.state import load_record

    spec = ctx.spec
    if ctx.provider.info.uses_user_kubeconfig:
        ctx.provider.preflight(spec)
    elif spec.kubeconfig.exists():
        return
    if load_record(spec) is None:
        raise UsageError(
            f"lab {spec.name!r} is not up; "
            + (advice or f"start it with `{_same_lab_command('up', spec)}`")
        )


def _validation_doc(report: Any) -> Any:
    if report is None:
        return None
    from provisioning.report.json_report import report_document

    return report_document(report)


def _print_json(doc: Any) -> None:
    from provisioning.outputs import note_document

    print(json.dumps(doc, indent=2, default=str))
    note_document()


@task(
    help=_help(
        dry_run="show the plan and stop",
        yes="do not ask before deleting or reimaging a cluster",
        json="print the result as one JSON document on stdout",
        no_validate="skip the final validation (probing) step",
        skip_canary="skip the check that the engine enforces at all (a pod pair and a deny policy)",
        probe_timeout="timeout of one probe, e.g. 2s",
        deadline="how long mismatches are re-probed before validation fails, e.g. 60s",
    )
)
@user_errors
def up(
    c,
    profile=None,
    provider=None,
    engine=None,
    name=None,
    scenario=None,
    kubeconfig=None,
    context=None,
    dry_run=False,
    yes=False,
    json=False,
    no_validate=False,
    skip_canary=False,
    probe_timeout="2s",
    deadline="60s",
):
    """Create or update the lab: cluster, engine, demo workload, policies, then validate."""
    from provisioning.profiles import parse_duration

    spec = _spec(c, **_lab(profile, provider, engine, name, scenario, kubeconfig, context))
    timeout = parse_duration(probe_timeout, where="--probe-timeout")
    wait = parse_duration(deadline, where="--deadline")
    if not no_validate:
        from provisioning.validation.validate import check_timings

        check_timings(timeout, wait)  # bad usage before anything is created
    import contextlib

    with contextlib.nullcontext() if dry_run else _lock(spec, "up"):
        _up(
            spec,
            dry_run=dry_run,
            yes=yes,
            json=json,
            validate=not no_validate,
            canary=not skip_canary,
            timeout=timeout,
            wait=wait,
        )


def _up(
    spec: Any,
    *,
    dry_run: bool,
    yes: bool,
    json: bool,
    validate: bool,
    canary: bool,
    timeout: float,
    wait: float,
) -> None:
    from provisioning.lab.pipeline import up as run_up
    from provisioning.lab.pipeline import up_document
    from provisioning.lab.plan import render_text

    progress = _progress()
    ctx = _context(spec, progress, read_only=dry_run)
    spec = ctx.spec  # the engine may be the one found in the cluster
    ctx.probe_timeout, ctx.deadline, ctx.run_canary = timeout, wait, canary
    result = None
    try:
        result = run_up(ctx, yes=yes, dry_run=dry_run, confirm=_confirm(), validate=validate)
    finally:
        if json:  # also when a step failed: scripts get the steps and the validation report
            _print_json(up_document(ctx, result))
    if json:
        return
    if dry_run:
        print(render_text(result.plan), end="")
        return
    if not result.plan.changes:
        progress.info("Nothing to do: the lab is already as desired.")
    progress.info(
        f"✓ Lab {spec.name} is up on {spec.provider}: engine {spec.engine}, "
        f"scenario {spec.scenario}."
    )
    progress.info(f"  kubectl: kubectl {' '.join(ctx.provider.kubectl_args(spec))} ...")
    for warning in ctx.engine.warnings:
        progress.warn(warning)


@task(
    help=_help(
        json="print the plan as one JSON document on stdout",
        brief="steps only, without the artifacts",
    )
)
@user_errors
def plan(
    c,
    profile=None,
    provider=None,
    engine=None,
    name=None,
    scenario=None,
    kubeconfig=None,
    context=None,
    json=False,
    brief=False,
):
    """Show what `up` would do (+ create, ~ change, - remove, -/+ recreate, = unchanged)."""
    from provisioning.lab.pipeline import plan_for
    from provisioning.lab.plan import render_text
    from provisioning.progress import Progress

    spec = _spec(c, **_lab(profile, provider, engine, name, scenario, kubeconfig, context))
    ctx = _context(spec, Progress(sys.stderr, quiet=True), read_only=True)
    the_plan = plan_for(ctx, validate=True)
    if the_plan.observed.usage and not ctx.provider.info.creates_clusters:
        # A plan from nothing shows what a cluster-making provider would create; on a cluster
        # the user already has there is nothing to show until it can be read.
        from provisioning.errors import UsageError

        raise UsageError(the_plan.observed.reason, hint=the_plan.observed.hint)
    if json:
        _print_json(the_plan.as_dict())
    else:
        print(render_text(the_plan, artifacts=not brief), end="")
    if the_plan.blocked:
        raise Exit(code=EXIT_USAGE)  # as `up` refusing the same plan


@task(help=_help(json="print the status as one JSON document on stdout"))
@user_errors
def status(
    c,
    profile=None,
    provider=None,
    engine=None,
    name=None,
    scenario=None,
    kubeconfig=None,
    context=None,
    json=False,
):
    """Show the lab as it is now: cluster, engine readiness, objects, scenario."""
    from provisioning.lab.status import lab_status

    spec = _spec(c, **_lab(profile, provider, engine, name, scenario, kubeconfig, context))
    found = lab_status(spec, _provider(spec, read_only=True))
    observed = found.observed
    if json:
        _print_json(found.document())
    else:
        print(found.text(), end="")
    if not observed.observed:  # the provider's tools or account are missing: not "all is well"
        if observed.usage:  # the user's settings: name what is wrong
            from provisioning.errors import UsageError

            raise UsageError(observed.reason, hint=observed.hint)
        raise Exit("✗ could not observe the lab; run `invoke doctor` to see why", code=EXIT_FAILED)
    if observed.cluster_exists and observed.owned is not False and not observed.api_reachable:
        raise Exit(
            f"✗ the Kubernetes API of lab {spec.name} does not answer; check the cluster and "
            "the machine with `invoke doctor`",
            code=EXIT_FAILED,
        )


@task(
    help=_help(
        keep_cluster="remove only the lab's namespaces, keep the cluster",
        yes="do not ask before deleting the cluster",
        json="print what was removed as JSON",
        no_wait="cloud providers: start the deletions and return without waiting for them",
    )
)
@user_errors
def down(
    c,
    profile=None,
    provider=None,
    engine=None,
    name=None,
    scenario=None,
    kubeconfig=None,
    context=None,
    keep_cluster=False,
    yes=False,
    json=False,
    no_wait=False,
):
    """Remove what the lab created (its cluster unless --keep-cluster); safe to run twice."""
    from provisioning.lab.teardown import down as run_down

    spec = _spec(c, **_lab(profile, provider, engine, name, scenario, kubeconfig, context))
    progress = _progress()
    with _lock(spec, "down"):
        result = run_down(
            spec,
            _provider(spec),
            progress,
            keep_cluster=keep_cluster,
            yes=yes,
            confirm=_confirm(),
            no_wait=no_wait,
        )
    if json:
        _print_json(result.as_dict())
    elif not result.removed:
        progress.info(f"Nothing to remove for lab {spec.name}.")
    else:
        progress.info(f"✓ Removed: {', '.join(result.removed)}")
        if result.kept:
            progress.info(f"  Kept: {', '.join(result.kept)}")


@task(help=_help(json="print the findings as JSON"))
@user_errors
def doctor(
    c,
    profile=None,
    provider=None,
    engine=None,
    name=None,
    scenario=None,
    kubeconfig=None,
    context=None,
    json=False,
):
    """Check this machine (and account or cluster) for the provider: tools, limits, access."""
    from provisioning import versions
    from provisioning.doctor import healthy, render, run_checks

    spec = _spec(c, **_lab(profile, provider, engine, name, scenario, kubeconfig, context))
    the_provider = _provider(spec, read_only=True)
    if the_provider.info.uses_user_kubeconfig:
        the_provider.preflight(spec)  # which cluster to check is the user's to say
    findings = run_checks(the_provider, spec)
    if json:
        _print_json(
            {
                "ready": healthy(findings),
                "checks": [f.as_dict() for f in findings],
                "pins": [p.as_dict() for p in versions.PINS.values()],
            }
        )
    else:
        print(render(findings), end="")
    if not healthy(findings):
        raise Exit(code=EXIT_FAILED)


@task(help=_help(json="print what was pulled and loaded as JSON"))
@user_errors
def preload(
    c,
    profile=None,
    provider=None,
    engine=None,
    name=None,
    scenario=None,
    kubeconfig=None,
    context=None,
    json=False,
):
    """Pull every image the lab needs once, before the workshop; load them into the lab's nodes."""
    spec = _spec(c, **_lab(profile, provider, engine, name, scenario, kubeconfig, context))
    progress = _progress()
    result = _provider(spec).preload(spec, progress)
    if json:
        _print_json(result.as_dict())
        return
    for image in result.present:
        progress.info(f"= {image} (already in the local Docker)")
    if result.loaded:
        progress.info(f"✓ {len(result.loaded)} images are in every node of {spec.name}.")


@task(help={"json": "print as JSON"})
@user_errors
def scenarios(c, json=False):
    """List the scenarios (lab steps) with what each one shows."""
    from provisioning.workload.policies import load_scenario, scenario_names, scenario_needs

    items = [load_scenario(n) for n in scenario_names()]
    needs = {s.name: scenario_needs(s.name) for s in items}
    if json:
        _print_json(
            [
                {
                    "name": s.name,
                    "title": s.title,
                    "description": s.description,
                    "policies": [p.filename for p in s.policies],
                    "needs": list(needs[s.name]),
                }
                for s in items
            ]
        )
        return
    for s in items:
        print(f"{s.name:22} {s.title}")
        for need in needs[s.name]:
            print(f"{'':22}   needs {need}")


@task(help={"json": "print as JSON"})
@user_errors
def profiles(c, json=False):
    """List the lab profiles in profiles/."""
    from provisioning.profiles import describe_profiles

    found = describe_profiles()
    if json:
        _print_json([{"name": n, "description": d} for n, d in found])
        return
    for name_, description in found:
        print(f"{name_:18} {description}")


@task(
    help=_help(
        probe_timeout="timeout of one probe, e.g. 2s",
        deadline="re-probe mismatches until this passes, e.g. 60s",
        format="table, json, junit or html",
        output="write the report to this file instead of stdout",
        fail_on_loopback="count pod-to-itself mismatches as failures (implementations differ)",
        skip_canary="skip the check that the engine enforces at all (a pod pair and a deny policy)",
    )
)
@user_errors
def validate(
    c,
    profile=None,
    provider=None,
    engine=None,
    name=None,
    scenario=None,
    kubeconfig=None,
    context=None,
    probe_timeout="2s",
    deadline="60s",
    format="table",
    output=None,
    fail_on_loopback=False,
    skip_canary=False,
):
    """Probe the live lab and compare every connection with the analyzer's expectation."""
    from pathlib import Path

    from provisioning.errors import choice_error
    from provisioning.lab.pipeline import enforcement_check, probe_executor
    from provisioning.profiles import parse_duration
    from provisioning.report import FORMATS, render
    from provisioning.validation.validate import exit_code, run_validation
    from provisioning.workload.policies import load_scenario

    if format not in FORMATS:
        raise choice_error("format", format, FORMATS, where="--format")
    spec = _spec(c, **_lab(profile, provider, engine, name, scenario, kubeconfig, context))
    if output is not None:
        from provisioning.outputs import check_output_path

        check_output_path(output, flag="--output")  # before any probe, not after the deadline
    from provisioning.validation.validate import check_timings

    timeout = parse_duration(probe_timeout, where="--probe-timeout")
    wait = parse_duration(deadline, where="--deadline")
    check_timings(timeout, wait)
    progress = _progress()
    ctx = _context(spec, progress, read_only=True)
    _require_up(ctx)
    ctx.probe_timeout = timeout
    executor = probe_executor(ctx)
    if not skip_canary:
        enforcement_check(ctx, executor)  # "not enforced here" is its own verdict
    spec = ctx.spec  # the engine may be the one found in the cluster, or none per the canary
    with progress.step("Validate: probe every client -> server port"):
        report = run_validation(
            ctx.kube,
            ctx.runner,
            spec,
            executor=executor,
            probe_timeout=timeout,
            deadline=wait,
            stated_expectations=load_scenario(spec.scenario).expectations,
            fail_on_loopback=fail_on_loopback,
        )
    text = render(report, format)
    if output:
        try:
            Path(output).write_text(text)
        except OSError as exc:
            from provisioning.errors import OperationError

            raise OperationError(
                f"--output {output}: cannot write the report ({exc.strerror}); "
                f"the verdict was: {'passed' if not exit_code(report) else 'failed'}"
            ) from None
        print(f"report written to {output}", file=sys.stderr)
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    if code := exit_code(report):
        raise Exit(code=code)


@task(
    help={
        "cluster": "cluster model file (JSON or YAML): namespaces and pods",
        "policies": "a policy file or a directory of them",
        "probes": "optional probes file (JSON); default: every pod pair on every declared port",
        "engine": "reference, calico, azure, cilium or none",
        "format": "table, json or summary",
        "explain": "explain every verdict (table format)",
    }
)
@user_errors
def analyze(
    c, cluster=None, policies=None, probes=None, engine="reference", format="table", explain=False
):
    """Compute the expected reachability matrix from NetworkPolicies, offline."""
    from provisioning.analysis.cli import run
    from provisioning.errors import UsageError

    # Not positional in the signature, so `invoke analyze --help` shows this help; still required.
    for flag, value in (("--cluster", cluster), ("--policies", policies)):
        if not value:
            raise UsageError(
                f"{flag} is required: invoke analyze --cluster FILE --policies FILE_OR_DIR "
                "(see invoke analyze --help)"
            )

    code = run(cluster, policies, probes, engine, format, explain, sys.stdout)
    if code:
        raise Exit(code=code)


@task(help={"json": "print as JSON"})
@user_errors
def exercises(c, json=False):
    """List the workshop exercises (check one with `invoke check --exercise ID`)."""
    from provisioning.workload.exercises import load_exercises

    items = list(load_exercises().values())
    if json:
        _print_json(
            [
                {
                    "id": e.id,
                    "title": e.title,
                    "article": e.article,
                    "task": e.task,
                    "baseline": {
                        "scenario": e.baseline.scenario,
                        "policies": [p.filename for p in e.baseline.policies],
                        "pods": [p.ref for p in e.baseline.pods],
                    },
                    "goals": [g.describe() for g in e.goals],
                    "offline": not e.live_only,
                }
                for e in items
            ]
        )
        return
    for e in items:
        live = "  (live only)" if e.live_only else ""
        print(f"{e.id:24} {e.title}{live}")


LIVE_FLAGS = {
    "skip_canary": "skip the check that the engine enforces at all (a pod pair and a deny policy)",
    "probe_timeout": "timeout of one probe, e.g. 2s",
}
LAB_ONLY = {k: LAB_FLAGS[k] for k in ("profile", "provider", "name", "kubeconfig", "context")}


def _live_context(
    spec: Any,
    progress: Any,
    *,
    probe_timeout: str,
    skip_canary: bool,
    start: str = "",
    advice: str = "",
) -> Any:
    """The context of a task that works on a running lab (reset, exercise, live check); a lab
    that was never brought up is one line saying how to start it (``start``: that command)."""
    from provisioning.profiles import parse_duration

    timeout = parse_duration(probe_timeout, where="--probe-timeout")
    ctx = _context(spec, progress)
    if not start:
        _require_up(ctx, advice=advice)
    ctx.probe_timeout, ctx.run_canary = timeout, not skip_canary
    return ctx


@task(
    help={
        "exercise": "exercise id; see `invoke exercises`",
        "policies": "your policy file or a folder of them (offline check, no cluster needed); "
        "without it, the lab's own policies and pods are graded and probed",
        "format": "text, json or junit",
        "json": "same as --format json",
        "engine": "offline: reference (default), calico, azure or cilium; live: the lab's",
        "hints": "how many hints to show when a goal is not met (default 1)",
        **LAB_ONLY,
        **LIVE_FLAGS,
    }
)
@user_errors
def check(
    c,
    exercise=None,
    policies=None,
    format="text",
    json=False,
    engine=None,
    hints="1",
    profile=None,
    provider=None,
    name=None,
    kubeconfig=None,
    context=None,
    skip_canary=False,
    probe_timeout="2s",
):
    """Grade an exercise: each goal met or not, why, and a hint. Exit 0 done, 1 not yet."""
    from provisioning.errors import UsageError, choice_error
    from provisioning.validation.exercise_check import FORMATS, check_live, check_offline, render
    from provisioning.workload.exercises import load_exercise

    if json:
        if format not in ("text", "json"):
            raise UsageError(f"--json and --format {format} disagree; give one of them")
        format = "json"
    if format not in FORMATS:
        raise choice_error("format", format, FORMATS, where="--format")
    if not exercise:
        raise UsageError(
            "--exercise is required: invoke check --exercise ID [--policies FILE_OR_DIR] "
            "(see invoke exercises)"
        )
    found = load_exercise(exercise)
    if not str(hints).isdigit():  # a string flag: Invoke's own int parsing would traceback
        raise UsageError(f"--hints: {hints!r} must be a number of hints, 0 or more")
    if policies is not None and not str(policies).strip():
        raise UsageError(
            "--policies: empty; give your policy file or folder, or leave --policies out to "
            "check the lab itself"
        )
    if policies:
        result = check_offline(found, policies, engine=engine or "reference", hints=int(hints))
    else:
        spec = _spec(c, **_lab(profile, provider, None, name, None, kubeconfig, context))
        progress = _progress()
        with _lock(spec, "check"):  # the canary's pods must not race a reset or another check
            ctx = _live_context(
                spec,
                progress,
                probe_timeout=probe_timeout,
                skip_canary=skip_canary,
                advice=f"start the exercise with `invoke exercise start {found.id}`, or check "
                f"your files offline with `invoke check --exercise {found.id} --policies FILE`",
            )
            result = check_live(found, ctx, engine=engine, hints=int(hints))
    text = render(result, format)
    print(text, end="" if text.endswith("\n") else "\n")
    if result.exit_code:
        raise Exit(code=result.exit_code)


@task(
    help={
        "scenario": "return to this scenario's baseline (default: the lab's own)",
        "exercise": "return to this exercise's baseline (default: the lab's own)",
        "json": "print what was changed, and the API calls made, as JSON",
        "no_validate": "do not validate the lab afterwards",
        **LAB_ONLY,
        **LIVE_FLAGS,
    }
)
@user_errors
def reset(
    c,
    scenario=None,
    exercise=None,
    json=False,
    no_validate=False,
    profile=None,
    provider=None,
    name=None,
    kubeconfig=None,
    context=None,
    skip_canary=False,
    probe_timeout="2s",
):
    """Return the lab to a baseline: remove policies and pods it does not have, restore its own."""
    from provisioning.errors import UsageError
    from provisioning.lab.reset import reset as run_reset

    if scenario and exercise:
        raise UsageError("give one of --scenario and --exercise: an exercise has its own scenario")
    flags = _lab(profile, provider, None, name, scenario, kubeconfig, context)
    spec = _spec(c, **flags, exercise=exercise)
    progress = _progress()
    from provisioning.lab.reset import ResetValidationError, reset_document

    report = None
    with _lock(spec, "reset"):
        ctx = _live_context(spec, progress, probe_timeout=probe_timeout, skip_canary=skip_canary)
        try:
            report = run_reset(ctx, validate=not no_validate)
        except ResetValidationError as exc:
            report = exc.report  # what was changed, also when the validation then failed
            raise
        finally:
            if json:  # one document, also on failure: the changes and the API calls made
                _print_json(reset_document(ctx, report))
    if json:
        return
    if not report.changes:
        progress.info(f"Nothing to reset: lab {spec.name} is at its baseline.")
    else:
        progress.info(f"✓ Lab {spec.name} is back at its baseline ({len(report.changes)} changes).")


@task(
    positional=["action", "exercise_id"],
    help={
        "action": "start (reset the lab to the exercise's baseline and show the task) or "
        "solve (instructors: apply the reference solution)",
        "exercise_id": "exercise id; see `invoke exercises`",
        "yes": "do not ask before deleting or reimaging a cluster",
        **LAB_ONLY,
        **LIVE_FLAGS,
    },
)
@user_errors
def exercise(
    c,
    action=None,
    exercise_id=None,
    yes=False,
    profile=None,
    provider=None,
    name=None,
    kubeconfig=None,
    context=None,
    skip_canary=False,
    probe_timeout="2s",
):
    """invoke exercise start ID | invoke exercise solve ID: a workshop step on the lab."""
    from provisioning.errors import UsageError, choice_error
    from provisioning.workload.exercises import load_exercise

    actions = ("start", "solve")
    if action not in actions:
        raise choice_error("action", str(action), actions, where="invoke exercise")
    if not exercise_id:
        raise UsageError(f"give the exercise: invoke exercise {action} ID (see invoke exercises)")
    found = load_exercise(exercise_id)
    flags = _lab(profile, provider, None, name, None, kubeconfig, context)
    # start sets the lab's exercise; solve applies to the exercise the lab holds (its record),
    # and refuses when that is another one.
    spec = _spec(c, **flags, exercise=found.id if action == "start" else None)
    progress = _progress()
    with _lock(spec, f"exercise {action}"):
        ctx = _live_context(
            spec,
            progress,
            probe_timeout=probe_timeout,
            skip_canary=skip_canary,
            start="start" if action == "start" else "",
        )
        if action == "start":
            from provisioning.lab.pipeline import up as run_up
            from provisioning.lab.reset import reset as run_reset

            # The lab (cluster, engine, workload) as the baseline needs it, then back to the
            # baseline exactly: whatever an earlier exercise or the attendee left is removed.
            run_up(ctx, yes=yes, confirm=_confirm(), validate=False)
            run_reset(ctx, validate=True)
            progress.info(f"✓ Exercise {found.id}: {found.title}")
            print(f"\n{found.task}\n")
            print(
                f"Check your work: invoke check --exercise {found.id}"
                + (f" --name {spec.name}" if "name" in spec.explicit else "")
            )
            return
        from provisioning.validation.exercise_check import apply_solution

        for line in apply_solution(ctx, found):
            progress.info(f"  applied {line}")
        progress.info(f"✓ Applied the reference solution of {found.id}.")


FLEET_ACTIONS = ("plan", "up", "status", "check", "reset", "kubeconfigs", "down", "sweep")


@task(
    positional=["action"],
    help={
        "action": "plan (offline) | up | status | check | reset | kubeconfigs | down | sweep",
        "attendees": "number of attendees (ids att01, att02, ...)",
        "roster": "a file of attendee ids: one per line (`id, Display Name`), or YAML/JSON; "
        "on a running fleet, `up` adds the new ids (late joiners)",
        "mode": "namespaces (one cluster, a lab per attendee in its own namespaces) or "
        "clusters (a cluster per attendee); default: namespaces from 10 attendees",
        "fleet": "the fleet's id, part of every lab's name (default ws)",
        "expires": "how long the fleet lives, e.g. 6h (tokens expire with it; 10m to 7d)",
        "exercise": "exercise whose baseline every lab starts from; see `invoke exercises`",
        "prices": "AKS: a price table (YAML, as provisioning/fleet/prices.yaml) for the estimate",
        "json": "print the result as one JSON document on stdout",
        "workers": "attendees worked on at once (default: 50 on one cluster, 3 kind "
        "clusters, 30 AKS clusters)",
        "attendee": "reset, kubeconfigs: only these attendee ids (comma-separated)",
        "all": "reset: every attendee",
        "out": "kubeconfigs: the folder to write <fleet>-<id>.kubeconfig files in (0600)",
        "html": "status, check: also write the dashboard to this HTML file",
        "watch": "status, check: refresh every this long (e.g. 15s) until Ctrl-C",
        "probe": "check: also probe each goal through the attendee's pods (slower)",
        "yes": "up, down: do not ask before creating cloud clusters or deleting",
        "no_validate": "up, reset: skip probing every lab",
        "skip_canary": "up, reset: skip the check that the engine enforces at all",
        "no_wait": "down: cloud clusters: start the deletions and return",
        "dry_run": "sweep: list what would be removed, remove nothing",
        "azure": "sweep: also the subscription's expired fleet resource groups",
        **{k: LAB_FLAGS[k] for k in ("profile", "provider", "scenario", "kubeconfig", "context")},
        "engine": LAB_FLAGS["engine"],
    },
)
@user_errors
def fleet(
    c,
    action=None,
    attendees=None,
    roster=None,
    mode=None,
    fleet="ws",
    expires=None,
    exercise=None,
    prices=None,
    json=False,
    workers=None,
    attendee=None,
    all=False,
    out=None,
    html=None,
    watch=None,
    probe=False,
    yes=False,
    no_validate=False,
    skip_canary=False,
    no_wait=False,
    dry_run=False,
    azure=False,
    profile=None,
    provider=None,
    engine=None,
    scenario=None,
    kubeconfig=None,
    context=None,
):
    """invoke fleet plan|up|status|check|reset|kubeconfigs|down|sweep: a workshop's labs."""
    from provisioning.errors import UsageError, choice_error
    from provisioning.fleet import cli
    from provisioning.fleet.plan import check_fleet_id

    if action not in FLEET_ACTIONS:
        raise choice_error("action", str(action), FLEET_ACTIONS, where="invoke fleet")
    fleet_id = check_fleet_id(fleet)
    people = cli.attendees_of(attendees, roster)
    flags = _lab(profile, provider, engine, fleet_id, scenario, kubeconfig, context)
    base = _spec(c, **flags, exercise=exercise)
    ids = cli.parse_ids(attendee, where="--attendee")
    if action == "sweep":
        outcome = cli.sweep(
            base, cli.seams_for(None, workers), _progress(), azure=azure, dry_run=dry_run
        )
    elif action == "plan":
        outcome = cli.plan(cli.new_fleet(base, fleet_id, people, mode, expires), prices)
    else:
        from provisioning.fleet.record import DamagedRecord

        try:
            the_fleet, record = cli.known_fleet(
                base,
                fleet_id,
                people=people,
                mode=mode,
                expires=expires,
                renumber=attendees is not None,
                create=action == "up",
            )
        except DamagedRecord:  # down still finds the fleet by its labels
            if action != "down":
                raise
            the_fleet = record = None
        if the_fleet is None and action == "down":
            outcome = cli.down_by_labels(
                base,
                fleet_id,
                cli.seams_for(None, workers),
                _progress(),
                yes=yes,
                confirm=_confirm(),
                azure=cli.azure_gateway(base) if base.provider == "aks" else None,
            )
            cli.emit(outcome, json)
            if outcome.code:
                raise Exit(f"✗ {outcome.message}", code=outcome.code)
            return
        if the_fleet is None:
            raise UsageError(
                f"no fleet {fleet_id!r} here; start it with `invoke fleet up --fleet {fleet_id} "
                "--attendees N`"
            )
        seams = cli.seams_for(the_fleet, workers)
        if action == "up":
            outcome = cli.up(
                the_fleet,
                record,
                seams,
                _progress(),
                prices=prices,
                yes=yes,
                confirm=_confirm(),
                validate=not no_validate,
                canary=not skip_canary,
            )
        elif action in ("status", "check"):
            outcome = cli.status(
                the_fleet,
                record,
                seams,
                check=action == "check",
                probe=probe,
                html=html,
                watch=watch,
                json_out=json,
            )
        elif action == "reset":
            outcome = cli.reset(
                the_fleet,
                ids,
                all,
                seams,
                _progress(),
                validate=not no_validate,
                canary=not skip_canary,
            )
        elif action == "kubeconfigs":
            outcome = cli.kubeconfigs(the_fleet, ids, out, seams)
        else:
            outcome = cli.down(
                the_fleet, seams, _progress(), yes=yes, confirm=_confirm(), no_wait=no_wait
            )
    cli.emit(outcome, json)
    if outcome.code:
        raise Exit(f"✗ {outcome.message}" if outcome.message else None, code=outcome.code)


@task(
    help={
        "engines": "comma-separated engines, each on its own kind cluster; `existing` runs the "
        "lab on a kind cluster made by hand (default: calico,cilium,none,existing)",
        "report": "report folder to create, absent or empty (default: e2e-report/<UTC time>)",
        "no_skip": "exit 1, not skip, when Docker/kind/kubectl are missing or a test skips",
        "budgets": "print the time budget of every step and exit",
    }
)
def e2e(c, engines="calico,cilium,none,existing", report=None, no_skip=False, budgets=False):
    """Run the end-to-end tests on real kind clusters; leave a report folder for bug reports."""
    import subprocess

    argv = [sys.executable, "-m", "tests.e2e.run", "--engines", engines]
    if report:
        argv += ["--report", report]
    if no_skip:
        argv.append("--no-skip")
    if budgets:
        argv.append("--budgets")
    # Popen + wait, not subprocess.call: call kills the runner on Ctrl-C, and then the clusters
    # would not be removed; the runner gets the same Ctrl-C and lets pytest clean up.
    proc = subprocess.Popen(argv, cwd=os.path.dirname(os.path.abspath(__file__)))
    while True:
        try:
            code = proc.wait()
            break
        except KeyboardInterrupt:
            continue
    if code:
        raise Exit(code=code)


ns = Collection(
    up,
    plan,
    status,
    down,
    doctor,
    validate,
    preload,
    scenarios,
    profiles,
    analyze,
    exercises,
    exercise,
    check,
    reset,
    fleet,
    e2e,
)
# Invoke configuration: `lab:` in invoke.yaml, or INVOKE_LAB_ENGINE=cilium and friends, read per
# layer by provisioning.invoke_config (no collection defaults, so a bad `lab:` is our one line).
