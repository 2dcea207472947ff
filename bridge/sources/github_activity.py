"""GitHub collaboration events as events: pushes, pull requests, issues, releases, and a
generic event for everything else. Each delivery is its own happening with its own fingerprint."""

from __future__ import annotations

from bridge.model import Event
from bridge.sources.github_delivery import (
    Delivery,
    Normaliser,
    build_event,
    first_line,
    github_fingerprint,
    login,
    optional_list,
    optional_object,
    required_object,
    text,
)


def _push(d: Delivery) -> Event:
    ref = text(d.payload.get("ref"))
    kind, _, name = ref.removeprefix("refs/").partition("/")
    is_tag = kind == "tags"
    branch = "" if is_tag else name
    commits = optional_list(d.payload, "commits")
    what = f"Tag {name}" if is_tag else f"Branch {name}"
    if d.payload.get("deleted"):
        title = f"{what} deleted"
    elif d.payload.get("created"):
        title = f"{what} created"
    elif d.payload.get("forced"):
        title = f"Force-push to {name}"
    else:
        title = f"Push to {name}: {len(commits)} commit{'s' if len(commits) != 1 else ''}"
    pusher = text(optional_object(d.payload, "pusher").get("name"))
    message = first_line(optional_object(d.payload, "head_commit").get("message"))
    default_branch = text(d.repository.get("default_branch"))
    url = text(d.payload.get("compare"))
    repo_url = text(d.repository.get("html_url"))
    if d.payload.get("deleted") and repo_url:
        # GitHub's compare link ends at 000000 for a deleted ref, and shows nothing.
        url = f"{repo_url}/tags" if is_tag else f"{repo_url}/branches"
    return build_event(
        d,
        labels={
            "branch": branch,
            "tag": name if is_tag else "",
            "is_default_branch": text(bool(branch) and branch == default_branch),
            "created": text(bool(d.payload.get("created"))),
            "deleted": text(bool(d.payload.get("deleted"))),
            "forced": text(bool(d.payload.get("forced"))),
            "pusher": pusher,
        },
        fingerprint=github_fingerprint(
            "push", d.repo_name, ref, text(d.payload.get("before")), text(d.payload.get("after"))
        ),
        title=f"{title} in {d.repo_name}",
        summary=f"{message} by {pusher}".strip() if pusher else message,
        url=url,
    )


def _pull_request(d: Delivery) -> Event:
    pr = required_object(d.payload, "pull_request")
    number = text(pr.get("number") or d.payload.get("number"))
    merged = bool(pr.get("merged"))
    verb = "merged" if d.action == "closed" and merged else d.action.replace("_", " ")
    label = text(optional_object(d.payload, "label").get("name"))
    base = text(optional_object(pr, "base").get("ref"))
    head = text(optional_object(pr, "head").get("ref"))
    author = login(pr.get("user"))
    return build_event(
        d,
        labels={
            "branch": base,
            "head_branch": head,
            "state": text(pr.get("state")),
            "merged": text(merged),
            "draft": text(bool(pr.get("draft"))),
            "author": author,
            "label": label,
        },
        fingerprint=github_fingerprint(
            "pull_request", d.repo_name, number, d.action, label, text(pr.get("updated_at"))
        ),
        title=f"PR #{number} {verb}"
        + (f" {label}" if label else "")
        + f": {text(pr.get('title'))}",
        summary=f"{head} → {base}" + (f" by {author}" if author else ""),
        url=text(pr.get("html_url")),
    )


def _issue(d: Delivery) -> Event:
    issue = required_object(d.payload, "issue")
    number = text(issue.get("number"))
    label = text(optional_object(d.payload, "label").get("name"))
    author = login(issue.get("user"))
    names = [text(lb.get("name")) for lb in optional_list(issue, "labels") if isinstance(lb, dict)]
    return build_event(
        d,
        labels={"state": text(issue.get("state")), "author": author, "label": label},
        fingerprint=github_fingerprint(
            "issues", d.repo_name, number, d.action, label, text(issue.get("updated_at"))
        ),
        title=f"Issue #{number} {d.action}"
        + (f" {label}" if label else "")
        + f": {text(issue.get('title'))}",
        summary="; ".join(
            part
            for part in (
                f"by {author}" if author else "",
                f"labels: {', '.join(names)}" if names else "",
            )
            if part
        ),
        url=text(issue.get("html_url")),
    )


def _release(d: Delivery) -> Event:
    release = required_object(d.payload, "release")
    tag = text(release.get("tag_name"))
    author = login(release.get("author"))
    return build_event(
        d,
        labels={
            "tag": tag,
            "prerelease": text(bool(release.get("prerelease"))),
            "author": author,
        },
        fingerprint=github_fingerprint("release", d.repo_name, text(release.get("id")), d.action),
        title=f"Release {text(release.get('name')) or tag} {d.action} in {d.repo_name}",
        summary=first_line(release.get("body")) or (f"{tag} by {author}" if author else tag),
        url=text(release.get("html_url")),
    )


def _generic(d: Delivery) -> Event:
    """Any other event: counted, and routed only when a rule asks for it."""
    action = f" {d.action}" if d.action else ""
    where = f" in {d.repo_name}" if d.repo_name else ""
    return build_event(
        d,
        labels={},
        fingerprint=github_fingerprint("event", d.event, d.repo_name, d.action, d.delivery_id),
        title=f"GitHub {d.event}{action}{where}",
        url=text(d.repository.get("html_url")),
    )


ACTIVITY_NORMALISERS: dict[str, Normaliser] = {
    "push": _push,
    "pull_request": _pull_request,
    "issues": _issue,
    "release": _release,
}
generic_event = _generic
