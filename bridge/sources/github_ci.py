"""GitHub CI and deployment events as events: workflow runs and jobs, checks, deployments,
commit statuses. A success shares the fingerprint of the failure it ends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.model import Event
from bridge.sources.github_delivery import (
    Delivery,
    Normaliser,
    Outcome,
    build_event,
    conclusion_outcome,
    first_line,
    github_fingerprint,
    login,
    optional_list,
    optional_object,
    required_object,
    state_outcome,
    text,
)
from bridge.sources.timestamps import parse_timestamp


def _time(value: object) -> datetime | None:
    """A run's time, or None when it is not one: a bad time is no reason to lose the event."""
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def _head_repository(run: dict[str, Any], d: Delivery) -> tuple[str, str]:
    """(head repository, fork) of a run: fork is the head repository when it is not the
    delivery's, i.e. a pull request from a fork, whose `master` is not this repository's."""
    head = text(optional_object(run, "head_repository").get("full_name"))
    base = text(optional_object(run, "repository").get("full_name")) or d.repo_name
    return head, head if head and head != base else ""


def _app(check: dict[str, Any]) -> tuple[str, str]:
    """(slug, identity) of the app behind a check: the slug names it, but GitHub leaves it out
    of some deliveries, so the fingerprint uses the id, which every delivery carries."""
    app = optional_object(check, "app")
    slug = text(app.get("slug"))
    return slug, text(app.get("id")) or slug


# UPGRADE PATH: remove once OPEN_FAILURE_TTL (30 days) has passed since every install ran
# 6c9e16b. Before it, checks were fingerprinted by app slug ("" when GitHub left it out), and the
# failures recorded then are still open under those fingerprints (pipeline.outcomes).
_SLUG_FINGERPRINT_LABELS = {
    "check_run": ("repository", "app", "check", "branch"),
    "check_suite": ("repository", "app", "branch"),
}


def slug_fingerprint(event: Event) -> str | None:
    """The fingerprint a check event had before 6c9e16b (by app slug), when it differs from its
    own; None for every other event. Read from its own labels, so before settle_outcomes."""
    kind = event.labels.get("alertname", "")
    names = _SLUG_FINGERPRINT_LABELS.get(kind) if event.source == "github" else None
    if names is None:
        return None
    old = github_fingerprint(kind, *(event.labels.get(name, "") for name in names))
    return old if old != event.fingerprint else None


def _verdict(outcome: Outcome | None, detail: str) -> str:
    if outcome == "failure" and detail in ("", "failure", "error"):
        return "failed"
    if outcome == "success":
        return "passed"
    return (detail or "updated").replace("_", " ")


def _on(branch: str) -> str:
    return f" on {branch}" if branch else ""


def _workflow_run(d: Delivery) -> Event:
    run = required_object(d.payload, "workflow_run")
    workflow = text(run.get("name")) or text(optional_object(d.payload, "workflow").get("name"))
    head_branch, conclusion = text(run.get("head_branch")), text(run.get("conclusion"))
    head_repository, fork = _head_repository(run, d)
    # A fork's branch is not this repository's: no `branch`, so branch rules do not fire.
    branch = "" if fork else head_branch
    where = f"{fork}:{head_branch}".rstrip(":") if fork else branch
    outcome = conclusion_outcome(conclusion)
    run_title = text(run.get("display_title"))
    actor = login(run.get("triggering_actor")) or login(run.get("actor"))
    return build_event(
        d,
        labels={
            "workflow": workflow,
            "branch": branch,
            "head_repository": head_repository,
            "trigger": text(run.get("event")),
            "conclusion": conclusion,
            "state": text(run.get("status")),
        },
        # Forks get their own fingerprint, so a fork's success cannot resolve a failure here.
        fingerprint=github_fingerprint(
            "workflow_run", d.repo_name, workflow, head_branch, *([fork] if fork else [])
        ),
        title=f"CI {_verdict(outcome, conclusion or text(run.get('status')))}: {workflow}"
        + _on(where),
        summary=f"{run_title} (run #{text(run.get('run_number'))}"
        + (f", by {actor})" if actor else ")"),
        url=text(run.get("html_url")),
        outcome=outcome,
        starts_at=_time(run.get("run_started_at")),
    )


def _workflow_job(d: Delivery) -> Event:
    job = required_object(d.payload, "workflow_job")
    # A job does not say where its code came from (only its run does): a fork's pull request
    # from the fork's `main` has head_branch main here, and shares this `main`'s fingerprint.
    workflow, name = text(job.get("workflow_name")), text(job.get("name"))
    branch, conclusion = text(job.get("head_branch")), text(job.get("conclusion"))
    outcome = conclusion_outcome(conclusion)
    steps = optional_list(job, "steps")
    failed_step = next(
        (
            text(s.get("name"))
            for s in steps
            if isinstance(s, dict) and s.get("conclusion") == "failure"
        ),
        "",
    )
    return build_event(
        d,
        labels={
            "workflow": workflow,
            "job": name,
            "branch": branch,
            "conclusion": conclusion,
            "state": text(job.get("status")),
        },
        fingerprint=github_fingerprint("workflow_job", d.repo_name, workflow, name, branch),
        title=f"CI {_verdict(outcome, conclusion or text(job.get('status')))}: {workflow} / {name}"
        + _on(branch),
        summary=f"step {failed_step!r} failed"
        if failed_step
        else f"job {name} {conclusion}".strip(),
        url=text(job.get("html_url")),
        outcome=outcome,
        annotations={"failed_step": failed_step} if failed_step else None,
        starts_at=_time(job.get("started_at")),
        ends_at=_time(job.get("completed_at")),
    )


def _check_run(d: Delivery) -> Event:
    check = required_object(d.payload, "check_run")
    name, conclusion = text(check.get("name")), text(check.get("conclusion"))
    branch = text(optional_object(check, "check_suite").get("head_branch"))
    app, app_id = _app(check)
    output = optional_object(check, "output")
    outcome = conclusion_outcome(conclusion)
    return build_event(
        d,
        labels={
            "check": name,
            "app": app,
            "branch": branch,
            "conclusion": conclusion,
            "state": text(check.get("status")),
        },
        fingerprint=github_fingerprint("check_run", d.repo_name, app_id, name, branch),
        title=f"Check {_verdict(outcome, conclusion or text(check.get('status')))}: {name}"
        + _on(branch),
        summary=text(output.get("title")) or first_line(output.get("summary")),
        url=text(check.get("html_url")) or text(check.get("details_url")),
        outcome=outcome,
        starts_at=_time(check.get("started_at")),
        ends_at=_time(check.get("completed_at")),
    )


def _check_suite(d: Delivery) -> Event:
    suite = required_object(d.payload, "check_suite")
    branch, conclusion = text(suite.get("head_branch")), text(suite.get("conclusion"))
    app, app_id = _app(suite)
    head_sha = text(suite.get("head_sha"))
    repo_url = text(d.repository.get("html_url"))
    outcome = conclusion_outcome(conclusion)
    return build_event(
        d,
        labels={
            "app": app,
            "branch": branch,
            "conclusion": conclusion,
            "state": text(suite.get("status")),
        },
        fingerprint=github_fingerprint("check_suite", d.repo_name, app_id, branch),
        title=f"Checks {_verdict(outcome, conclusion or text(suite.get('status')))}: "
        f"{app or d.repo_name}" + _on(branch),
        summary=f"{d.repo_name} {head_sha[:7]}".strip(),
        url=f"{repo_url}/commit/{head_sha}" if repo_url and head_sha else repo_url,
        outcome=outcome,
    )


def _deployment_status(d: Delivery) -> Event:
    status = required_object(d.payload, "deployment_status")
    deployment = optional_object(d.payload, "deployment")
    state = text(status.get("state"))
    environment = text(status.get("environment")) or text(deployment.get("environment"))
    ref = text(deployment.get("ref"))
    outcome = state_outcome(state)
    target = f"{ref} to {environment}" if ref else environment
    if outcome == "failure":
        title = f"Deploy failed: {target}"
    elif outcome == "success":
        title = f"Deployed {target}"
    else:
        title = f"Deploy {state.replace('_', ' ')}: {target}"
    repo_url = text(d.repository.get("html_url"))
    url = next(
        (
            text(status.get(key))
            for key in ("log_url", "target_url", "environment_url")
            if status.get(key)
        ),
        f"{repo_url}/deployments" if repo_url else "",
    )
    return build_event(
        d,
        labels={
            "environment": environment,
            "state": state,
            "branch": ref,
            "workflow": text(optional_object(d.payload, "workflow_run").get("name")),
        },
        fingerprint=github_fingerprint("deployment", d.repo_name, environment),
        title=title,
        summary=text(status.get("description")),
        url=url,
        outcome=outcome,
    )


def _commit_status(d: Delivery) -> Event:
    state, context = text(d.payload.get("state")), text(d.payload.get("context"))
    branches = [
        text(b.get("name")) for b in optional_list(d.payload, "branches") if isinstance(b, dict)
    ]
    default_branch = text(d.repository.get("default_branch"))
    branch = default_branch if default_branch in branches else (branches[0] if branches else "")
    outcome = state_outcome(state)
    commit_url = text(optional_object(d.payload, "commit").get("html_url"))
    return build_event(
        d,
        labels={"context": context, "state": state, "branch": branch},
        fingerprint=github_fingerprint("status", d.repo_name, context, branch),
        title=f"Status {_verdict(outcome, state)}: {context}" + _on(branch),
        summary=text(d.payload.get("description")),
        url=text(d.payload.get("target_url")) or commit_url,
        outcome=outcome,
    )


CI_NORMALISERS: dict[str, Normaliser] = {
    "workflow_run": _workflow_run,
    "workflow_job": _workflow_job,
    "check_run": _check_run,
    "check_suite": _check_suite,
    "deployment_status": _deployment_status,
    "status": _commit_status,
}
