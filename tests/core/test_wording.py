from __future__ import annotations

import pytest

from core.wording import counted


@pytest.mark.parametrize(
    ("n", "noun", "plural", "text"),
    [
        (0, "question", None, "0 questions"),
        (1, "question", None, "1 question"),
        (2, "question", None, "2 questions"),
        (1, "country", "countries", "1 country"),
        (5, "country", "countries", "5 countries"),
        (-1, "answer", None, "-1 answers"),
    ],
)
def test_counted_takes_the_noun_in_its_number(
    n: int, noun: str, plural: str | None, text: str
) -> None:
    assert counted(n, noun, plural) == text
