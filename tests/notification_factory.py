"""One way for a test to build a Notification: defaults plus the fields that matter to it."""

from __future__ import annotations

from bridge.model import Notification


def make_notification(nid: str, **fields: object) -> Notification:
    values: dict[str, object] = {
        "id": nid,
        "route": "prod-critical",
        "recipient": "alice",
        "phone": "+972501234567",
        "text": f"message {nid}",
        "created_at": 1000.0,
    }
    values.update(fields)
    return Notification(**values)  # type: ignore[arg-type]
