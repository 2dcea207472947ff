"""Flap holds of one ungrouped route and one sender's group that end together are reported in
one message per recipient; an alert flapping alone, or in another group, still gets its own.
Through the real pipeline, flusher and store, on a test clock."""

from __future__ import annotations

import pytest
import test_group_flushes
from alertmanager_webhooks import am_alert, am_flapping, am_webhook
from test_group_flushes import MINUTE, MakeBench

from bridge.model import utcnow

bench = test_group_flushes.bench  # the fixture: a pipeline, a flusher and a store on one clock
START = 1_000_000.0
FLAP_WINDOW = 600.0  # defaults.flap_window
UNGROUPED = """\
routes:
  - name: disks
    source: alertmanager
    to: [alice, bob]
"""


@pytest.mark.parametrize(
    "instances",
    [["db-1", "db-2", "db-3"], ["db-1"]],
    ids=["three-flapping-together", "one-flapping-alone"],
)
async def test_flap_holds_ending_together_are_one_message_per_recipient(
    bench: MakeBench, instances: list[str]
) -> None:
    b = await bench(UNGROUPED, START)
    late = "2026-11-25T10:01:00Z"  # a firing after a resolution starts later
    for status, starts in (("firing", None), ("resolved", None), ("firing", late)):
        fields = {} if starts is None else {"startsAt": starts}
        await b.post(*(am_alert(i, status, **fields) for i in instances))
        b.clock[0] += MINUTE
    before = len(b.sent)  # firing, resolved: one message each, per recipient
    assert before == 4

    await b.run_until(START + FLAP_WINDOW + 10 * MINUTE)  # the holds end

    held = b.sent[before:]
    assert sorted(n.recipient for n in held) == ["alice", "bob"]
    for n in held:
        assert n.event_keys == [(f"fp-{i}", "firing") for i in instances]
    for n in held:
        assert n.text.count("flapped") == len(instances), n.text
        for instance in instances:
            assert instance in n.text, n.text
    # Each alert counts as sent as firing: Alertmanager's repeat of it is deduped.
    again = await b.post(*(am_alert(i, "firing", startsAt=late) for i in instances))
    assert again.notifications == []


async def test_flap_holds_ending_minutes_apart_are_reported_apart(bench: MakeBench) -> None:
    b = await bench(UNGROUPED, START)
    for instance in ("db-1", "db-2"):  # db-2 flaps three minutes after db-1
        for alert in am_flapping(instance, "firing", "resolved", "firing"):
            await b.post(alert)
            b.clock[0] += MINUTE
    before = len(b.sent)

    await b.run_until(START + FLAP_WINDOW + 10 * MINUTE)

    held = b.sent[before:]
    assert sorted((n.recipient, tuple(n.event_keys)) for n in held) == [
        (name, ((f"fp-{i}", "firing"),)) for name in ("alice", "bob") for i in ("db-1", "db-2")
    ]


async def test_flap_holds_of_different_sender_groups_are_reported_apart(bench: MakeBench) -> None:
    """Two Alertmanager groups (other group keys) flapping in the same minutes: each came in its
    own webhooks, so each is reported on its own, rendered with its own webhook."""
    b = await bench(UNGROUPED, START)
    runtime = b.runtime
    late = "2026-11-25T10:01:00Z"
    for status, starts in (("firing", None), ("resolved", None), ("firing", late)):
        fields = {} if starts is None else {"startsAt": starts}
        for instance in ("db-1", "db-2"):
            body = am_webhook(
                am_alert(instance, status, **fields), groupKey=f'{{}}:{{instance="{instance}"}}'
            )
            webhook = runtime.sources["alertmanager"].parse({}, body, utcnow())
            result = await b.pipeline.ingest(
                webhook, runtime.routes, runtime.renderer, runtime.time_intervals
            )
            b.sent.extend(result.notifications)
        b.clock[0] += MINUTE
    before = len(b.sent)

    await b.run_until(START + FLAP_WINDOW + 10 * MINUTE)

    held = b.sent[before:]
    assert sorted((n.recipient, tuple(n.event_keys)) for n in held) == [
        (name, ((f"fp-{i}", "firing"),)) for name in ("alice", "bob") for i in ("db-1", "db-2")
    ]
