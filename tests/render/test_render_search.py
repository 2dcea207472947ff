"""The search for the most events that fit: same answer as trying every count, fewer renders."""

from __future__ import annotations

import pytest

from bridge.render.renderer import largest_fitting


def brute_force(lengths: list[int], limit: int) -> int | None:
    """The largest count in [1, len(lengths)] whose text fits, trying every count."""
    fitting = [count for count in range(1, len(lengths) + 1) if lengths[count - 1] <= limit]
    return max(fitting) if fitting else None


CASES = [
    # (text length for counts 1..n, limit, guess)
    ([10 * c for c in range(1, 100)], 500, 50),
    ([10 * c for c in range(1, 100)], 500, 1),
    ([10 * c for c in range(1, 100)], 500, 99),
    ([10 * c for c in range(1, 100)], 5, 30),
    ([10 * c for c in range(1, 100)], 10_000, 30),
    ([100 + 37 * c for c in range(1, 8)], 300, 3),
    ([50], 60, 1),
    ([50], 40, 1),
    ([c * c for c in range(1, 200)], 4096, 0),
    ([c * c for c in range(1, 200)], 4096, 500),
]


@pytest.mark.parametrize(
    ("lengths", "limit", "guess"),
    CASES,
    ids=[
        "guess-too-high",
        "guess-at-the-bottom",
        "guess-at-the-top",
        "nothing-fits",
        "everything-fits",
        "small-range",
        "one-count-fits",
        "one-count-too-long",
        "guess-below-range",
        "guess-above-range",
    ],
)
def test_largest_fitting_finds_what_trying_every_count_finds(
    lengths: list[int], limit: int, guess: int
) -> None:
    rendered: list[int] = []

    def render(count: int) -> str:
        rendered.append(count)
        return "x" * lengths[count - 1]

    found = largest_fitting(render, high=len(lengths), guess=guess, limit=limit)
    expected = brute_force(lengths, limit)
    assert (found[1] if found else None) == expected
    if found is not None:
        assert found[0] == "x" * lengths[found[1] - 1]
    assert all(1 <= count <= len(lengths) for count in rendered)
    assert len(rendered) == len(set(rendered))  # no count rendered twice


def test_a_good_guess_needs_few_renders() -> None:
    rendered: list[int] = []

    def render(count: int) -> str:
        rendered.append(count)
        return "x" * (200 * count)

    found = largest_fitting(render, high=99, guess=20, limit=4096)
    assert found is not None and found[1] == 20
    assert len(rendered) <= 3
