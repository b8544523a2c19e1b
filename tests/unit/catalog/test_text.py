"""Tests for rec.catalog.text: template parts dropped when a field is missing, list rendering."""

from __future__ import annotations

import numpy as np

from base_config import BASE
from rec.catalog.text import item_text

TEMPLATE = BASE.catalog.text_template
TOY_STORY = {
    "item_id": "1",
    "title": "Toy Story",
    "year": 1995,
    "categories": ["Animation", "Children's", "Comedy"],
    "description": None,
}


def test_default_template_renders_movielens_item():
    assert item_text(TOY_STORY, TEMPLATE) == "Toy Story (1995). Genres: Animation, Children's, Comedy."


def test_missing_year_drops_its_part():
    for year in (None, ""):
        item = TOY_STORY | {"year": year}
        assert item_text(item, TEMPLATE) == "Toy Story. Genres: Animation, Children's, Comedy."
    item = {k: v for k, v in TOY_STORY.items() if k != "year"}
    assert item_text(item, TEMPLATE) == "Toy Story. Genres: Animation, Children's, Comedy."


def test_missing_categories_drops_the_genres_part():
    for categories in (None, [], [None, ""]):
        item = TOY_STORY | {"categories": categories}
        assert item_text(item, TEMPLATE) == "Toy Story (1995)."


def test_only_title():
    assert item_text({"title": "Heat"}, TEMPLATE) == "Heat."


def test_numpy_array_as_list_value():
    item = TOY_STORY | {"categories": np.array(["Animation", "Children's", "Comedy"], dtype=object)}
    assert item_text(item, TEMPLATE) == "Toy Story (1995). Genres: Animation, Children's, Comedy."


def test_numpy_scalar_values():
    # Rows coming from pandas/numpy carry numpy scalars, not Python ints.
    item = TOY_STORY | {"year": np.int64(1995), "title": np.str_("Toy Story")}
    assert item_text(item, TEMPLATE) == "Toy Story (1995). Genres: Animation, Children's, Comedy."


def test_custom_separator_and_tuple():
    item = TOY_STORY | {"categories": ("Animation", "Comedy")}
    assert item_text(item, ["{title}", ": {categories}"], list_separator=" | ") == "Toy Story: Animation | Comedy"


def test_title_whitespace_stripped():
    assert item_text({"title": "  Heat  "}, ["{title}", " ({year})"]) == "Heat"


def test_part_with_two_fields_needs_both():
    template = ["{title}", " - {description} [{year}]"]
    assert item_text({"title": "A", "description": "d"}, template) == "A"
    assert item_text({"title": "A", "description": "d", "year": 2000}, template) == "A - d [2000]"
