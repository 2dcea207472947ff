"""What one ingest or flush stages is committed as staged: the last write to a key wins."""

from __future__ import annotations

import time
from pathlib import Path

from bridge.pipeline.staged_writes import StagedWrites
from bridge.store import SqliteStore
from bridge.store.base import DedupeEntry


async def test_the_last_dedupe_entry_staged_for_a_key_wins_whatever_its_ttl(
    tmp_path: Path,
) -> None:
    store = SqliteStore(str(tmp_path / "staged.db"))
    await store.open()
    try:
        now = time.time()
        staged = StagedWrites()
        staged.put_dedupe("dd:other", DedupeEntry("firing", now, "n-0"), 3600.0)
        staged.put_dedupe("dd:k", DedupeEntry("firing", now - 7200, "told-by-a-group"), 9000.0)
        staged.put_dedupe("dd:k", DedupeEntry("firing", now, "sent-now"), 3600.0)
        await staged.commit(store)

        entries = await store.get_dedupe(["dd:k"], now)
        assert entries["dd:k"].notification_id == "sent-now"
    finally:
        await store.close()
