"""The hint for an unquoted phone number never echoes the number YAML made of it: YAML 1.1
reads a leading 0 as octal and digits with colons as base 60, so the echo was another number."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config.loader import load_config
from bridge.errors import ConfigErrors


@pytest.mark.parametrize(
    ("written", "yaml_read"),
    [("0541234567", "92617079"), ("1:30", "90"), ("+972501234567", "972501234567")],
    ids=["leading-zero-octal", "base-60", "plus-number"],
)
def test_the_hint_says_to_quote_the_number_as_written(
    tmp_path: Path, written: str, yaml_read: str
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"recipients:\n  alice: {written}\n", encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_config(cfg, {})
    [error] = [str(e) for e in caught.value.errors]
    assert error.startswith(f'{cfg}: recipients.alice: quote it as written (e.g. "+14155550123")')
    assert yaml_read not in error
