"""Tests for the interests a free-text query names (rec/ranking/text_interests.py)."""

from __future__ import annotations

import pytest

from rec.ranking.text_interests import interests_in


@pytest.mark.parametrize(("text", "interests"), [
    ("I like space adventures and old musicals", ["space adventures", "old musicals"]),
    ("westerns, cartoons; and war films", ["westerns", "cartoons", "war films"]),
    ("gangster films, and musicals", ["gangster films", "musicals"]),
    ("sci-fi with robots and also love stories", ["sci-fi with robots", "love stories"]),
    ("a love story", ["a love story"]),
    ("I like comedies", ["I like comedies"]),  # one interest: the text as it is
    ("comedies and comedies", ["comedies and comedies"]),
])
def test_interests_in_splits_at_joining_words_without_openings(text, interests):
    assert interests_in(text) == interests
