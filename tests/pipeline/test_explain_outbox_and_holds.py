"""`explain` tells the whole truth: what became of the notification an event is deduped by (a
dead letter, a failed delivery), when a flap hold reports, a mute with no end, and which events
matched no route. Through the real pipeline and store, on a test clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
import test_group_flushes
from alertmanager_webhooks import am_alert, am_flapping, am_webhook
from test_group_flushes import Bench, MakeBench, at

from bridge.commands.explain import explain, format_explain

bench = test_group_flushes.bench  # the fixture: a pipeline, a flusher and a store on one clock
START = at("2026-03-10T12:00:00+00:00")
FLAP_WINDOW = 600.0  # defaults.flap_window
ROUTES = """\
time_intervals:
  - name: always
    time_intervals:
      - times: [{start_time: '00:00', end_time: '24:00'}]
routes:
  - name: disks
    source: alertmanager
    matchers: ['alertname="Disk"']
    to: [alice]
  - name: nightly
    source: alertmanager
    matchers: ['alertname="Nightly"']
    mute_time_intervals: [always]
    to: [alice]
  - name: nightly-later
    source: alertmanager
    matchers: ['alertname="NightlyLater"']
    mute_time_intervals: [always]
    when_muted: defer
    to: [alice]
"""


def when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


async def explained(b: Bench, *alerts: dict[str, object]) -> tuple[dict[str, object], str]:
    """The only verdict for this payload, and the text report."""
    report = await explain(b.runtime, b.store, "alertmanager", am_webhook(*alerts), now=b.clock[0])
    [route] = report["routes"]
    [verdict] = route["verdicts"]
    return verdict, format_explain(report)


async def dead_letter(b: Bench, nid: str) -> str:
    await b.store.mark_dead(nid, error="blueticks answered HTTP 400", now=b.clock[0])
    return ", which is a dead letter (never delivered): " + retry_hint(nid)


async def failed_delivery(b: Bench, nid: str) -> str:
    await b.store.mark_sent(nid, now=b.clock[0], provider_id="bt-1")
    await b.store.set_delivery_status(nid, status="failed", at=b.clock[0])
    return ", which Blueticks reported failed: " + retry_hint(nid)


async def resent(b: Bench, nid: str) -> str:
    await failed_delivery(b, nid)
    [(_, resend)] = (await b.store.requeue([nid], now=b.clock[0])).resent
    return f", Blueticks reported it failed; resent as {resend}, not sent yet (pending)"


async def read(b: Bench, nid: str) -> str:
    await b.store.mark_sent(nid, now=b.clock[0], provider_id="bt-1")
    await b.store.set_delivery_status(nid, status="read", at=b.clock[0])
    return " (Blueticks: read)"


async def purged(b: Bench, nid: str) -> str:
    await b.store.mark_sent(nid, now=b.clock[0], provider_id="bt-1")
    await b.store.purge_expired(b.clock[0], finished_before=b.clock[0] + 1)
    return ", no longer in the outbox (purged after store.retention)"


def retry_hint(nid: str) -> str:
    return f"`alertbridge outbox retry --id {nid}` sends it again"


BECAME: dict[str, Callable[[Bench, str], Awaitable[str]]] = {
    "dead-letter": dead_letter,
    "failed-delivery": failed_delivery,
    "resent": resent,
    "read": read,
    "purged": purged,
}


@pytest.mark.parametrize("became", list(BECAME), ids=list(BECAME))
async def test_deduped_says_what_became_of_the_notification_it_was_deduped_by(
    bench: MakeBench, became: str
) -> None:
    b = await bench(ROUTES, START)
    await b.post(am_alert("db-1"))
    [sent] = b.sent
    await b.store.claim_due(b.clock[0], limit=10)
    said = await BECAME[became](b, sent.id)
    b.clock[0] += 60

    verdict, text = await explained(b, am_alert("db-1"))

    assert (verdict["verdict"], verdict["by"]) == ("deduped", sent.id)
    assert f"deduped by notification {sent.id} at {when(START)}{said}\n" in text + "\n"


async def test_flapping_says_when_the_hold_reports_and_since_when_only_once_it_holds(
    bench: MakeBench,
) -> None:
    b = await bench(ROUTES, START)
    fired, resolved, refired = am_flapping("db-1", "firing", "resolved", "firing")
    await b.post(fired)
    b.clock[0] += 60
    await b.post(resolved)
    b.clock[0] += 60

    before, text = await explained(b, refired)

    assert before["verdict"] == "flapping"
    assert before["since"] is None  # no hold yet: the resolution is not when one began
    assert before["reports_at"] == when(b.clock[0] + FLAP_WINDOW)
    assert (
        f"would be held as flapping (resolved at {when(START + 60)}, firing again within "
        f"flap_window): a hold opens now and reports the alert's latest state at "
        f"{when(b.clock[0] + FLAP_WINDOW)}"
    ) in text

    held_at = b.clock[0]
    await b.post(refired)  # the hold opens
    b.clock[0] += 120
    during, text = await explained(b, refired)

    assert during["verdict"] == "flapping"
    assert (during["since"], during["reports_at"]) == (when(held_at), when(held_at + FLAP_WINDOW))
    assert (
        f"held as flapping since {when(held_at)}; the hold reports the alert's latest state at "
        f"{when(held_at + FLAP_WINDOW)}"
    ) in text


@pytest.mark.parametrize(
    ("alertname", "said"),
    [
        ("Nightly", "muted in mute_time_intervals always (no end within four years): dropped"),
        (
            "NightlyLater",
            "deferred in mute_time_intervals always: held until the mute ends "
            "(no end within four years)",
        ),
    ],
    ids=["muted", "deferred"],
)
async def test_a_mute_with_no_end_says_so(bench: MakeBench, alertname: str, said: str) -> None:
    b = await bench(ROUTES, START)
    verdict, text = await explained(b, am_alert("db-1", alertname=alertname))
    assert verdict["until"] is None
    assert said in text and "None" not in text


async def test_events_that_matched_no_route_are_named(bench: MakeBench) -> None:
    b = await bench(ROUTES, START)
    body = am_webhook(
        am_alert("db-1"),
        am_alert("db-2", alertname="Unrouted", fingerprint="fp-unrouted"),
    )
    report = await explain(b.runtime, b.store, "alertmanager", body, now=b.clock[0])
    assert report["unrouted_events"] == 1
    assert report["unrouted"] == [{"name": "Unrouted", "fingerprint": "fp-unrouted"}]
    assert format_explain(report).endswith("1 event(s) matched no route: Unrouted (fp-unrouted)")
