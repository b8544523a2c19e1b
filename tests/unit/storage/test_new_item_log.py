"""Tests for rec.storage.new_item_log: the durable log of live-added items (the rules on
both shared-log backends, the file's lines on the JSON-lines one)."""

from __future__ import annotations

import json

import pytest

from base_config import BASE
from rec.catalog.files import read_catalog
from rec.errors import ItemConflictError
from rec.storage.new_item_log import (
    LOG_NAME, NewItem, NewItemLog, items_to_embed, new_item_texts, new_items_catalog, read_new_items,
)
from rec.storage.shared_log import shared_log_path
from rec.catalog.schemas import CATALOG_SCHEMA
from rec.catalog.text import catalog_texts

ALIEN = NewItem("new-1", "Alien Harvest", 2025, ("Sci-Fi", "Horror"), "Farmers meet something in the corn.")
OPERA = NewItem("new-2", "Space Opera", None, ("Musical",))


def test_append_is_durable_and_read_back_in_order(location):
    item_log = NewItemLog(location)
    appended = item_log.append([ALIEN, OPERA])
    assert [i.item_id for i in appended] == ["new-1", "new-2"] and all(i.added_at > 0 for i in appended)
    assert [i.content() for i in read_new_items(location)] == [ALIEN.content(), OPERA.content()]


def test_a_new_folder_is_made_and_each_item_is_a_line(tmp_path):
    NewItemLog(tmp_path / "items").append([ALIEN, OPERA])
    lines = shared_log_path(tmp_path / "items", LOG_NAME).read_text().splitlines()
    assert [json.loads(line)["categories"] for line in lines] == [["Sci-Fi", "Horror"], ["Musical"]]


def test_identical_repost_appends_nothing_and_conflict_writes_nothing(location):
    item_log = NewItemLog(location)
    item_log.append([ALIEN])
    assert item_log.append([ALIEN]) == []
    other = NewItem("new-1", "Alien Harvest 2", 2025, ("Sci-Fi",))
    with pytest.raises(ItemConflictError, match="item_id: 'new-1' already exists"):
        item_log.append([OPERA, other])  # one conflict: the whole batch is refused
    assert [i.item_id for i in read_new_items(location)] == ["new-1"]


def test_a_second_writer_sees_the_first_writers_items(location):
    """Two replicas, one log: the append reads what the other one wrote before it writes."""
    first, second = NewItemLog(location), NewItemLog(location)
    first.append([ALIEN])
    with pytest.raises(ItemConflictError):
        second.append([NewItem("new-1", "Something else")])
    assert second.append([ALIEN]) == []  # identical: nothing appended
    assert second.refresh() == [] and list(second.items) == ["new-1"]
    assert [i.item_id for i in first.refresh()] == []  # nothing new since its own append
    second.append([OPERA])
    assert [i.item_id for i in first.refresh()] == ["new-2"]


def test_writers_that_race_on_one_item_id_log_it_once(location):
    """Each writer read the log before the other one wrote: the second append finds the
    log moved on, reads it again and refuses the conflict (a lock, or JetStream's expected
    last sequence)."""
    first, second = NewItemLog(location), NewItemLog(location)
    first.refresh(), second.refresh()
    first.append([ALIEN])
    with pytest.raises(ItemConflictError):
        second.append([NewItem("new-1", "Another Film")])
    assert [i.item_id for i in second.append([OPERA, ALIEN])] == ["new-2"]
    assert [i.title for i in read_new_items(location)] == ["Alien Harvest", "Space Opera"]


def test_torn_last_line_is_skipped_by_readers_and_cut_by_the_next_writer(tmp_path):
    path = shared_log_path(tmp_path, LOG_NAME)
    NewItemLog(tmp_path).append([ALIEN])
    with open(path, "ab") as handle:
        handle.write(b'{"item_id": "torn", "ti')  # a writer died mid-line
    reader = NewItemLog(tmp_path)
    assert [i.item_id for i in reader.refresh()] == ["new-1"]
    NewItemLog(tmp_path).append([OPERA])
    assert [i.item_id for i in read_new_items(tmp_path)] == ["new-1", "new-2"]
    assert [i.item_id for i in reader.refresh()] == ["new-2"]
    assert b"torn" not in path.read_bytes()


def test_text_is_the_catalogue_text_of_the_same_fields(tmp_path):
    """The same template function, on the same normalised row, as the embed job."""
    config = BASE.catalog
    catalog = read_catalog("tests/data/tiny_catalog.csv")
    row = catalog.slice(0, 1).to_pylist()[0]
    reposted = NewItem.from_row({**row, "item_id": "toy-story-again"})
    assert new_item_texts([reposted], config) == catalog_texts(catalog.slice(0, 1), config)
    assert new_item_texts([reposted], config) == ["Toy Story (1995). Genres: Animation, Children's, Comedy."]
    assert new_item_texts([OPERA], config) == ["Space Opera. Genres: Musical."]  # no year: its part is left out
    assert new_items_catalog([ALIEN, OPERA]).schema == CATALOG_SCHEMA


def test_items_to_embed_leaves_out_ids_the_catalogue_has(tmp_path):
    NewItemLog(tmp_path).append([ALIEN, OPERA])
    assert [i.item_id for i in items_to_embed(tmp_path, ["1", "new-2"])] == ["new-1"]
    assert items_to_embed(tmp_path / "nothing-here", []) == []


def test_declared_attributes_are_logged_read_back_and_part_of_the_content(tmp_path):
    long_one = NewItem("new-3", "Long Film", 2025, ("Drama",), attributes=(("language", "fr"), ("runtime", 190)))
    NewItemLog(tmp_path).append([long_one, OPERA])
    first, second = (json.loads(line) for line in shared_log_path(tmp_path, LOG_NAME).read_text().splitlines())
    assert first["attributes"] == {"language": "fr", "runtime": 190} and "attributes" not in second
    assert [i.content() for i in read_new_items(tmp_path)] == [long_one.content(), OPERA.content()]
    with pytest.raises(ItemConflictError):  # the same id with another runtime is another item
        NewItemLog(tmp_path).append([NewItem("new-3", "Long Film", 2025, ("Drama",), attributes=(("runtime", 90),))])
    declared = {"runtime": "int", "language": "string"}
    catalog = new_items_catalog([long_one, OPERA], declared)
    assert catalog["runtime"].to_pylist() == [190, None] and catalog["language"].to_pylist() == ["fr", None]
