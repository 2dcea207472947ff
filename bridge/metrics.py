"""Every Prometheus metric alertbridge exports, in one registry per running app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# GitHub's documented webhook event names: the `event` label of github_events_total. The
# X-GitHub-Event header is not covered by the signature, so any other value counts as "other"
# (a label value per made-up header would grow the registry without bound).
GITHUB_EVENT_NAMES = frozenset(
    """
    branch_protection_configuration branch_protection_rule check_run check_suite
    code_scanning_alert commit_comment create custom_property custom_property_values delete
    dependabot_alert deploy_key deployment deployment_protection_rule deployment_review
    deployment_status discussion discussion_comment fork github_app_authorization gollum
    installation installation_repositories installation_target issue_comment issues label
    marketplace_purchase member membership merge_group meta milestone org_block organization
    package page_build personal_access_token_request ping project project_card
    project_column projects_v2 projects_v2_item projects_v2_status_update public
    pull_request pull_request_review pull_request_review_comment pull_request_review_thread
    push registry_package release repository repository_advisory repository_dispatch
    repository_import repository_ruleset repository_vulnerability_alert
    secret_scanning_alert secret_scanning_alert_location secret_scanning_scan
    security_advisory security_and_analysis sponsorship star status sub_issues team team_add
    watch workflow_dispatch workflow_job workflow_run
    """.split()  # noqa: SIM905 (a list literal would be 75 lines)
)


def github_event_label(event: str) -> str:
    """The github_events_total label of an X-GitHub-Event value: its name, or "other"."""
    return event if event in GITHUB_EVENT_NAMES else "other"


class Metrics:
    """The bridge's metrics; labels are bounded (source, route, outcome), never numbers or ids."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.webhooks_received = Counter(
            "alertbridge_webhooks_received_total",
            "Webhook requests by source and outcome (accepted, duplicate, bad_request, "
            "unauthorized, too_large, unsupported_media_type, unavailable, ping).",
            ["source", "outcome"],
            registry=r,
        )
        self.github_events = Counter(
            "alertbridge_github_events_total",
            "GitHub webhook deliveries by X-GitHub-Event (GitHub's event names; any other "
            "value as 'other').",
            ["event"],
            registry=r,
        )
        self.events = Counter(
            "alertbridge_events_total",
            "Normalised events by source and status.",
            ["source", "status"],
            registry=r,
        )
        self.route_matches = Counter(
            "alertbridge_route_matches_total", "Events matched by route.", ["route"], registry=r
        )
        self.unrouted_events = Counter(
            "alertbridge_unrouted_events_total",
            "Events that matched no route.",
            ["source"],
            registry=r,
        )
        self.dedupe_suppressed = Counter(
            "alertbridge_dedupe_suppressed_total",
            "Events not sent again, by route and reason (duplicate, resolved_not_wanted, "
            "superseded: a flap hold's state older than what the recipient was told since). "
            "GitHub redeliveries count in webhooks_received_total, outcome duplicate.",
            ["route", "reason"],
            registry=r,
        )
        self.notifications = Counter(
            "alertbridge_notifications_total",
            "Notifications by route and outcome (queued, sent, retried, dead).",
            ["route", "outcome"],
            registry=r,
        )
        self.template_failures = Counter(
            "alertbridge_template_failures_total",
            "Templates that failed to render; the default template was used instead.",
            ["route"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "alertbridge_outbox_depth",
            "Notifications in the outbox by state (pending, sending, sent, dead, merged), as "
            "'outbox list --state' selects them: failed counts the sent ones Blueticks then "
            "reported failed and not resent yet (they count under sent too).",
            ["state"],
            registry=r,
        )
        self.dedupe_entries = Gauge(
            "alertbridge_dedupe_entries",
            "Dedupe entries held (expired ones included until the next purge).",
            registry=r,
        )
        self.delivery_latency = Histogram(
            "alertbridge_delivery_latency_seconds",
            "Time from accepting the webhook to Blueticks accepting the message.",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
            registry=r,
        )
        self.blueticks_responses = Counter(
            "alertbridge_blueticks_responses_total",
            "Blueticks API responses by HTTP status (or 'error' for no response).",
            ["status"],
            registry=r,
        )
        self.send_attempts = Counter(
            "alertbridge_send_attempts_total",
            "Send attempts by outcome (sent, transient, permanent).",
            ["outcome"],
            registry=r,
        )
        self.config_reloads = Counter(
            "alertbridge_config_reloads_total",
            "Configuration reloads by outcome (success, failure).",
            ["outcome"],
            registry=r,
        )
        self.config_last_reload_successful = Gauge(
            "alertbridge_config_last_reload_successful",
            "1 if the last configuration reload succeeded.",
            registry=r,
        )
        self.whatsapp_session_up = Gauge(
            "alertbridge_whatsapp_session_up",
            "0 while Blueticks reports the WhatsApp session down (ping or session event); 1 "
            "otherwise, also while unknown (the legacy API cannot tell: only events say).",
            registry=r,
        )
        self.sender_ready = Gauge(
            "alertbridge_sender_ready",
            "0 after Blueticks refused the API key (401: wrong or revoked; 403: lacks "
            "messages:write): every send will fail until fixed.",
            registry=r,
        )
        self.rate_limit_waits = Counter(
            "alertbridge_rate_limit_waits_total",
            "Sends held back by the bridge's own pacing, by bucket (global, recipient) "
            "or by Blueticks (retry_after).",
            ["scope"],
            registry=r,
        )
        self.digests = Counter(
            "alertbridge_digests_total",
            "Digest messages that replaced a recipient's backlog.",
            registry=r,
        )
        self.digest_merged = Counter(
            "alertbridge_digest_merged_notifications_total",
            "Notifications folded into a digest instead of being sent one by one.",
            registry=r,
        )
        self.delivery_statuses = Counter(
            "alertbridge_delivery_statuses_total",
            "Delivery statuses reported by Blueticks callbacks (pending, confirmed, received, "
            "read, failed, ...).",
            ["status"],
            registry=r,
        )
        self.callbacks = Counter(
            "alertbridge_callbacks_total",
            "Blueticks callback requests by outcome (accepted, stale, duplicate, unknown_event, "
            "unknown_message, unauthorized, bad_signature, bad_request, unavailable).",
            ["outcome"],
            registry=r,
        )
        self.suppressed = Counter(
            "alertbridge_suppressed_total",
            "Events not sent (yet), by route and reason, counted once when they arrive: "
            "silenced, muted and deferred (the route was muted), grouped (held in a group; a "
            "silenced or muted event there counts as grouped too), flapping; and alerts a hold "
            "dropped at its end: resolved_while_muted, silenced_at_hold_end.",
            ["route", "reason"],
            registry=r,
        )
        self.groups_flushed = Counter(
            "alertbridge_groups_flushed_total",
            "Alert groups and holds flushed to notifications, by route and reason (first, "
            "new_firing, some_resolved, all_resolved, flapped, repeat; deferred: a deferred "
            "hold released).",
            ["route", "reason"],
            registry=r,
        )
        self.config_last_reload_successful.set(1)
        self.sender_ready.set(1)
        self.whatsapp_session_up.set(1)

    def count_github_event(self, event: str) -> None:
        """Count a GitHub delivery by its X-GitHub-Event, bounded to GitHub's event names."""
        self.github_events.labels(github_event_label(event)).inc()
