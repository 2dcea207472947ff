"""`alertbridge routes test`: run a payload through parse, routing and rendering; send nothing."""

from __future__ import annotations

import json
from typing import Any

from multidict import CIMultiDict

from bridge.errors import PayloadError
from bridge.model import Webhook, utcnow
from bridge.pipeline.routed import route_webhook
from bridge.runtime import Runtime

# Top-level keys that identify a GitHub event when --event is not given, the most specific
# first: a deployment_status made by Actions embeds workflow_run and check_run, a review or a
# comment on a pull request carries pull_request, a comment on an issue carries issue.
_GITHUB_EVENT_KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("zen",), "ping"),
    (("deployment_status",), "deployment_status"),
    (("deployment",), "deployment"),
    (("workflow_job",), "workflow_job"),
    (("workflow_run",), "workflow_run"),
    (("check_run",), "check_run"),
    (("check_suite",), "check_suite"),
    (("review", "pull_request"), "pull_request_review"),
    (("thread", "pull_request"), "pull_request_review_thread"),
    (("comment", "pull_request"), "pull_request_review_comment"),
    (("comment", "issue"), "issue_comment"),
    (("comment", "discussion"), "discussion_comment"),
    (("comment",), "commit_comment"),
    (("pull_request",), "pull_request"),
    (("issue",), "issues"),
    (("discussion",), "discussion"),
    (("release",), "release"),
    (("pusher",), "push"),
    (("security_advisory",), "security_advisory"),
    (("forkee",), "fork"),
    (("starred_at",), "star"),
)


def guess_github_event(body: bytes) -> str:
    """The X-GitHub-Event a payload most likely came with."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise PayloadError(f"malformed JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise PayloadError("a GitHub payload is a JSON object")
    for keys, event in _GITHUB_EVENT_KEYS:
        if all(key in doc for key in keys):
            return event
    alert = doc.get("alert")
    if isinstance(alert, dict):
        if "secret_type" in alert:
            return "secret_scanning_alert"
        if "rule" in alert:
            return "code_scanning_alert"
        if "dependency" in alert:
            return "dependabot_alert"
        return "repository_vulnerability_alert"
    if "sha" in doc and "state" in doc:
        return "status"
    raise PayloadError("cannot tell which GitHub event this is: pass --event")


def parse_payload(
    runtime: Runtime, source: str, body: bytes, github_event: str | None = None
) -> Webhook:
    """Parse a payload file as the source would a request (GitHub's event name guessed)."""
    headers: CIMultiDict[str] = CIMultiDict()
    if source == "github":
        headers["X-GitHub-Event"] = github_event or guess_github_event(body)
    return runtime.sources[source].parse(headers, body, utcnow())


def explain_payload(
    runtime: Runtime, source: str, body: bytes, *, github_event: str | None = None
) -> dict[str, Any]:
    """What the bridge would do with this payload, without dedupe state or sending."""
    webhook = parse_payload(runtime, source, body, github_event)
    routed, unrouted = route_webhook(runtime.routes, webhook)
    report: dict[str, Any] = {
        "source": source,
        "kind": webhook.kind or None,
        "events": [
            {
                "fingerprint": e.fingerprint,
                "status": e.status,
                "title": e.title,
                "labels": e.labels,
            }
            for e in webhook.events
        ],
        "unrouted_events": unrouted,
        "routes": [],
    }
    for r in routed:
        message = runtime.renderer.render(r.route, r.events, webhook)
        grouping = (
            {"group_by": list(r.route.group_by), "group_wait": r.route.group_wait}
            if r.route.group_by is not None
            else None
        )
        report["routes"].append(
            {
                "route": r.route.name,
                "events": [e.fingerprint for e in r.events],
                "recipients": [{"name": p.name, "phone": p.phone} for p in r.route.recipients],
                "text": message.text,
                "parts": len(message.parts),
                "grouping": grouping,
                "template_error": message.error if message.fell_back else None,
            }
        )
    return report


def format_explanation(report: dict[str, Any]) -> str:
    lines = [
        f"{len(report['events'])} event(s) from {report['source']}"
        + (f" ({report['kind']})" if report["kind"] else "")
    ]
    for event in report["events"]:
        lines.append(f"  - {event['status']:8} {event['title']} [{event['fingerprint']}]")
    if not report["routes"]:
        lines.append("no route matches: nothing would be sent")
    for route in report["routes"]:
        people = ", ".join(f"{p['name']} ({p['phone']})" for p in route["recipients"])
        lines.append("")
        lines.append(f"route {route['route']}: {len(route['events'])} event(s) -> {people}")
        if route["template_error"]:
            lines.append(f"  template failed, default used: {route['template_error']}")
        lines.append("  ┌" + "─" * 40)
        lines.extend(f"  │ {line}" for line in route["text"].splitlines())
        lines.append("  └" + "─" * 40)
    if report["unrouted_events"]:
        lines.append(f"\n{report['unrouted_events']} event(s) matched no route")
    return "\n".join(lines)
