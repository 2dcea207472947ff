"""A route to a group of people renders each set of events once, whoever gets it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from alertmanager_webhooks import am_alert, am_webhook
from conftest import am_headers, write_config

from bridge.metrics import Metrics
from bridge.model import Event, Webhook, utcnow
from bridge.pipeline.ingest import Pipeline
from bridge.render.renderer import RenderedMessage, Renderer
from bridge.routing.router import Route
from bridge.runtime import load_runtime
from bridge.store.memory import MemoryStore

TO_THE_GROUP = """\
routes:
  - name: disks
    source: alertmanager
    to: [oncall]
"""


class CountingRenderer(Renderer):
    """The real renderer, counting how often it renders."""

    renders = 0

    def render(
        self,
        route: Route,
        events: Sequence[Event],
        webhook: Webhook,
        *,
        flaps: Mapping[str, int] | None = None,
    ) -> RenderedMessage:
        self.renders += 1
        return super().render(route, events, webhook, flaps=flaps)


async def test_the_same_events_for_several_recipients_are_rendered_once(tmp_path: Path) -> None:
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", TO_THE_GROUP)))
    renderer = CountingRenderer(None)
    source = runtime.sources["alertmanager"]
    body = am_webhook(am_alert("db-1"), am_alert("db-2"))
    webhook = source.parse(am_headers(), body, utcnow())

    result = await Pipeline(MemoryStore(), Metrics()).ingest(webhook, runtime.routes, renderer)

    texts = [n.text for o in result.outcomes for n in o.notifications]
    assert [o.recipient for o in result.outcomes] == ["alice", "bob"]
    assert len(texts) == 2 and texts[0] == texts[1] and "db-2" in texts[0]
    assert renderer.renders == 1


async def test_recipients_with_different_events_get_their_own_render(tmp_path: Path) -> None:
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", TO_THE_GROUP)))
    renderer = CountingRenderer(None)
    source = runtime.sources["alertmanager"]
    pipeline = Pipeline(MemoryStore(), Metrics())
    first = source.parse(am_headers(), am_webhook(am_alert("db-1")), utcnow())
    await pipeline.ingest(first, runtime.routes, renderer)
    # Both already have db-1: only db-2 is news, and it is news to both.
    second = source.parse(am_headers(), am_webhook(am_alert("db-1"), am_alert("db-2")), utcnow())
    result = await pipeline.ingest(second, runtime.routes, renderer)

    texts = [n.text for o in result.outcomes for n in o.notifications]
    assert len(texts) == 2 and all("db-2" in t and "db-1" not in t for t in texts)
    assert renderer.renders == 2  # one per webhook, not one per recipient
