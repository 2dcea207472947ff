"""A route whose dedupe_window is shorter than its flap_window keeps what it told for the flap
window, so an alert firing again after the dedupe window, within the flap window, is held as
flapping. Through the real pipeline and store (`test_group_flushes.py`), on a test clock."""

from __future__ import annotations

import test_group_flushes
from alertmanager_webhooks import am_flapping
from test_group_flushes import MINUTE, MakeBench

bench = test_group_flushes.bench  # the fixture: a pipeline, a flusher and a store on one clock
START = 1_000_000.0
SHORT_DEDUPE = """\
routes:
  - name: disks
    source: alertmanager
    dedupe_window: 5m
    to: [alice]  # flap_window: 10m, the default
"""


async def test_a_refire_after_a_short_dedupe_window_within_the_flap_window_is_held(
    bench: MakeBench,
) -> None:
    b = await bench(SHORT_DEDUPE, START)
    fire, resolve, refire = am_flapping("db-1", "firing", "resolved", "firing")
    await b.post(fire)
    b.clock[0] += 2 * MINUTE
    await b.post(resolve)
    b.clock[0] += 4 * MINUTE  # 6 minutes after the firing: past dedupe_window, in flap_window
    again = await b.post(refire)

    assert [h.split(" · ")[0] for h in b.headlines()] == ["🔥 *FIRING*", "✅ *RESOLVED*"]
    assert again.notifications == [] and again.outcomes[0].grouped

    await b.run_until(START + 30 * MINUTE)  # the flap hold ends: one report, marked flapped
    assert len(b.sent) == 3 and "flapped" in b.sent[2].text
