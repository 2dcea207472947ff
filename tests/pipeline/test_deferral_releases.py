"""What the release of a `when_muted: defer` hold sends, on the deferral bench
(`test_deferral.py`): silences made or met during the mute, flaps and unwanted resolutions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import test_deferral
from alertmanager_webhooks import am_alert, am_flapping
from conftest import write_config
from test_deferral import HOLD, INTERVALS, NIGHT, NIGHT_ENDS, Bench, Clock

from bridge.metrics import Metrics
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.ingest import Pipeline
from bridge.pipeline.locks import KeyedLocks
from bridge.pipeline.silences import parse_silence, save_silence
from bridge.runtime import load_runtime
from bridge.store import MemoryStore

bench = test_deferral.bench  # the fixture: routes muted at night, deferred, on a test clock


async def silence(bench: Bench, instance: str, silence_id: str, hours: float) -> None:
    """A silence of `instance` for `hours`, made now."""
    start = datetime.fromtimestamp(bench.clock.now, UTC)
    body = {
        "matchers": [{"name": "instance", "value": instance, "isRegex": False}],
        "startsAt": start.isoformat(),
        "endsAt": (start + timedelta(hours=hours)).isoformat(),
        "createdBy": "alice",
        "comment": "disk swap",
    }
    await save_silence(bench.store, parse_silence(body, now=start, silence_id=silence_id))


async def test_an_alert_silenced_during_the_mute_is_not_released(bench: Bench) -> None:
    await bench.post(am_alert("db-1"))  # held: the route is muted at night
    await silence(bench, "db-1", "s1", hours=20)  # still in force at the release
    bench.clock.now = NIGHT_ENDS
    assert await bench.flusher.flush(HOLD) == []


async def test_an_event_silenced_on_arrival_does_not_join_the_hold(bench: Bench) -> None:
    await bench.post(am_alert("db-1"))  # opens the hold
    await silence(bench, "db-2", "s2", hours=1)  # over before the release
    bench.clock.now = NIGHT + 600
    await bench.post(am_alert("db-2"))  # silenced: dropped, not held
    bench.clock.now = NIGHT_ENDS
    sent = await bench.flusher.flush(HOLD)
    assert sent and all("db-1" in n.text and "db-2" not in n.text for n in sent)


async def test_the_release_of_an_alert_that_flapped_while_held_says_it_flapped(
    bench: Bench,
) -> None:
    fire, resolve, refire = am_flapping("db-1", "firing", "resolved", "firing")
    await bench.post(fire)
    bench.clock.now = NIGHT + 600
    await bench.post(resolve)
    bench.clock.now = NIGHT + 1200
    await bench.post(refire)
    bench.clock.now = NIGHT_ENDS
    sent = await bench.flusher.flush(HOLD)
    assert sent and all("flapped" in n.text for n in sent)


NO_RESOLVED = """\
routes:
  - name: night
    source: alertmanager
    mute_time_intervals: [three-minutes]
    when_muted: defer
    send_resolved: false
    dedupe_window: 1h
    to: [alice]
"""


async def test_a_refire_after_a_released_unwanted_resolution_is_sent(tmp_path: Path) -> None:
    """The release records the resolution it did not send, so the re-fire is news, as after
    any resolution without send_resolved."""
    runtime = load_runtime(
        str(write_config(tmp_path, "http://127.0.0.1:9", NO_RESOLVED, extra=INTERVALS))
    )
    store, metrics, clock = MemoryStore(), Metrics(), Clock(NIGHT)
    pipeline = Pipeline(store, metrics, KeyedLocks(), clock=clock)
    flusher = GroupFlusher(pipeline, lambda: runtime, clock=clock)
    b = Bench(runtime, store, metrics, clock, pipeline, flusher)
    fire, resolve, refire = am_flapping("db-1", "firing", "resolved", "firing")

    assert len((await b.post(fire)).notifications) == 1  # 02:00 in Berlin: not muted
    clock.now = NIGHT + 6 * 60  # 02:06 in Berlin: muted, held
    assert (await b.post(resolve)).notifications == []
    clock.now = NIGHT + 8 * 60
    assert await flusher.flush(HOLD) == []  # released: the resolution is not wanted
    clock.now = NIGHT + 25 * 60  # within the dedupe window of the first firing
    assert len((await b.post(refire)).notifications) == 1
