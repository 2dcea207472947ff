"""A paced backlog's digest keeps to templates.max_length, as every message does, and ends with
the newest update's link, which survives when long entries are cut."""

from __future__ import annotations

from alertmanager_webhooks import am_alert, am_webhook
from conftest import StartBridge, am_headers, outbox_state_count, wait_until
from notification_factory import make_notification

from bridge.delivery.digest import DigestContent
from bridge.model import Notification
from bridge.render.whatsapp import text_length

PACED_WITH_SHORT_MESSAGES = """\
templates: {max_length: 300}
pacing:
  global_rate: {per_minute: 60000, burst: 1000}
  per_recipient: {per_minute: 1, burst: 1}
  digest_after: 3
"""
LONG_DESCRIPTION = "The volume /var/lib/postgresql is at 99% and growing. " * 20
TO_ALICE = """\
routes:
  - name: disks
    source: alertmanager
    to: [alice]
"""


def rule_link(i: int) -> str:
    return f"http://prometheus:9090/graph?g0.expr=disk_used_percent&i={i}"


async def test_a_backlog_digest_keeps_to_max_length_and_ends_with_the_newest_link(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(TO_ALICE, extra=PACED_WITH_SHORT_MESSAGES)
    for i in range(5):  # the first empties alice's bucket; the other four wait for it
        annotations = {"summary": f"disk full on db-{i}", "description": LONG_DESCRIPTION}
        alert = am_alert(f"db-{i}", annotations=annotations, generatorURL=rule_link(i))
        body = am_webhook(alert, groupKey=f"db-{i}")
        reply = await h.post("/webhook/alertmanager", body, am_headers())
        assert reply.status == 202, reply.body

    async def digested() -> bool:
        return await outbox_state_count(h, "merged") == 4

    await wait_until(digested, 5.0, "the four waiting messages merged into a digest")
    pending = await h.bridge.store.list_notifications("pending")
    [digest] = [n for n in pending if n.source == "digest"]
    assert digest.text.startswith(
        "📋 *4 updates in one digest* — 4 firing (4 critical), 0 resolved"
    )
    assert text_length(digest.text) <= 300
    # Each update is too long to be listed within 300: counts, names and the link are what is
    # left of them.
    assert digest.text.endswith(f"\n\n… and 4 more: 4 critical — Disk ×4\n\n🔗 {rule_link(4)}"), (
        digest.text
    )


def update(n: int, text: str) -> Notification:
    return make_notification(
        f"n{n}", text=text, created_at=1000.0 + n, event_keys=[(f"fp{n}", "firing")]
    )


def test_the_link_is_the_newest_updates_own_link_line() -> None:
    content = DigestContent.of(
        [
            update(1, "🔥 *FIRING*\n*Disk*\nhttp://grafana/d/one"),
            update(
                2, "🔥 *FIRING*\n*Cpu*\nhttp://grafana/d/two\nSilence: http://grafana/silence/2"
            ),
            update(3, "alertbridge test message, no link"),
        ]
    )
    assert content.link == "http://grafana/d/two"
    assert DigestContent.of([update(1, "runbook: http://runbooks/disk")]).link is None


def test_a_link_an_entry_shown_says_already_is_not_repeated() -> None:
    content = DigestContent.of([update(1, "*Disk*\nhttp://grafana/d/one"), update(2, "*Cpu*")])
    text = content.text(link=content.link)
    assert text.count("http://grafana/d/one") == 1 and "🔗" not in text
