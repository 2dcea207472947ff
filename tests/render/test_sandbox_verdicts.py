"""The sandbox remembers its verdicts per (type, attribute): still refusing what it refused."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from bridge.render.environment import create_environment

REFUSED = [
    ("{{ labels.update({'a': 'b'}) }}", {"labels": {"x": "1"}}),
    ("{{ items.append(1) }}", {"items": [1]}),
    ("{{ f.__globals__ }}", {"f": lambda: None}),
    ("{{ labels.__class__ }}", {"labels": {}}),
]


@pytest.mark.parametrize(
    ("source", "context"), REFUSED, ids=["dict-update", "list-append", "globals", "dunder"]
)
def test_an_unsafe_attribute_is_refused_every_time(source: str, context: dict) -> None:
    env = create_environment()
    template = env.from_string(source)
    for _ in range(3):  # the second and third look-ups come from the remembered verdict
        with pytest.raises(SecurityError):
            template.render(context)
    assert context.get("labels", {}) in ({"x": "1"}, {})  # unchanged
    assert context.get("items", [1]) == [1]


class Notes:
    """Not one of the mutable types the sandbox knows: its `append` is an ordinary method."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def append(self, line: str) -> str:
        self.lines.append(line)
        return line


def test_a_verdict_for_one_type_does_not_carry_over_to_another() -> None:
    env = create_environment()
    template = env.from_string("{{ target.append('x') }}")
    notes = Notes()
    assert template.render(target=notes) == "x"  # allowed: Notes.append
    items: list[str] = []
    with pytest.raises(SecurityError):  # the same name on a list is still refused
        template.render(target=items)
    assert items == []
    assert template.render(target=notes) == "x"
    assert notes.lines == ["x", "x"]
