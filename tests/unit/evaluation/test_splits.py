"""Tests for rec.evaluation.splits: leave-one-out ordering, histories, cold items, real ML-100k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rec.evaluation.splits import IdIndex, cold_item_split, leave_one_out_split, read_inter_file

# user, item, timestamp; line = row number. User "a" has a timestamp tie at its
# end (lines 3 and 5 share ts 30), so the line decides which is last.
TOY = [
    ("a", "x", 10),  # line 0
    ("b", "y", 5),  # line 1
    ("a", "y", 20),  # line 2
    ("a", "z", 30),  # line 3
    ("b", "x", 6),  # line 4 -> b's test
    ("a", "w", 30),  # line 5 -> a's test (same ts as line 3, later line)
    ("c", "z", 1),  # line 6: c has 2 events -> all train
    ("c", "w", 2),  # line 7
    ("b", "z", 4),  # line 8 -> b's first event
    ("a", "v", 5),  # line 9 -> a's first event
]


def _toy_split(ids_as_int: bool = False):
    users, items, ts = (np.array(col) for col in zip(*TOY))
    if ids_as_int:
        users = np.array([ord(u) for u in users])
        items = np.array([ord(i) for i in items])
    return leave_one_out_split(users, items, ts.astype(float), np.arange(len(TOY)))


def test_order_and_targets_by_timestamp_then_line():
    split = _toy_split()
    assert split.test.user_id.tolist() == ["a", "b"]
    assert split.test.item_id.tolist() == ["w", "x"]
    assert split.test.line.tolist() == [5, 4]
    assert split.valid.item_id.tolist() == ["z", "y"]
    assert split.valid.line.tolist() == [3, 1]
    assert split.train_history("a").tolist() == ["v", "x", "y"]
    assert split.train_history("b").tolist() == ["z"]


def test_short_users_stay_in_train():
    split = _toy_split()
    assert "c" not in split.test.user_id and "c" not in split.valid.user_id
    assert split.train_history("c").tolist() == ["z", "w"]
    assert split.history_with_valid("c").tolist() == ["z", "w"]
    assert len(split.train) + len(split.valid) + len(split.test) == len(TOY)


def test_history_with_valid_appends_valid_item():
    split = _toy_split()
    assert split.history_with_valid("a").tolist() == ["v", "x", "y", "z"]
    assert split.history_with_valid("b").tolist() == ["z", "y"]


def test_integer_ids_give_same_split():
    split = _toy_split(ids_as_int=True)
    assert split.test.item_id.tolist() == [ord("w"), ord("x")]
    assert split.train_history(ord("a")).tolist() == [ord("v"), ord("x"), ord("y")]


def test_history_table_gather():
    split = _toy_split()
    items = IdIndex.from_ids(np.array(["v", "w", "x", "y", "z"]))
    table = split.history_table(items, include_valid=True)
    rows, cols, pos, lengths = table.gather(np.array(["b", "a"]))
    assert lengths.tolist() == [2, 4]
    assert rows.tolist() == [0, 0, 1, 1, 1, 1]
    assert items.ids[cols].tolist() == ["z", "y", "v", "x", "y", "z"]
    assert pos.tolist() == [0, 1, 0, 1, 2, 3]
    train_only = split.history_table(items, include_valid=False)
    assert train_only.lengths(np.array(["a", "b", "c"])).tolist() == [3, 1, 2]


def test_id_index_rejects_unknown_ids():
    index = IdIndex.from_ids(np.array([3, 1, 2, 3]))
    assert index.ids.tolist() == [1, 2, 3]
    assert index.encode(np.array([3, 1])).tolist() == [2, 0]
    with pytest.raises(KeyError):
        index.encode(np.array([4]))


def test_length_mismatch_raises():
    with pytest.raises(ValueError):
        leave_one_out_split(np.array([1, 2]), np.array([1]), np.array([0.0, 1.0]), np.array([0, 1]))


def test_cold_item_split_removes_train_events_only():
    split = _toy_split()
    items = IdIndex.from_ids(np.array(["v", "w", "x", "y", "z"]))
    cold = cold_item_split(split, items, fraction=0.4, seed=3)
    assert len(cold.cold_items) == 2
    assert not cold.is_cold(cold.split.train.item_id).any()
    assert cold.split.test is split.test and cold.split.valid is split.valid
    removed = np.isin(split.train.item_id, cold.cold_items).sum()
    assert len(cold.split.train) == len(split.train) - removed
    for user in ("a", "b", "c"):
        expected = [i for i in split.train_history(user) if i not in cold.cold_items]
        assert cold.split.train_history(user).tolist() == expected
    again = cold_item_split(split, items, fraction=0.4, seed=3)
    assert again.cold_items.tolist() == cold.cold_items.tolist()


def load_ml100k_split(ml100k_dir: Path):
    """Read ``ml-100k.inter`` and split it; skip when the file is absent."""
    path = ml100k_dir / "ml-100k.inter"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    events = read_inter_file(path)
    split = leave_one_out_split(events.user_id, events.item_id, events.timestamp, events.line)
    return events, split


@pytest.mark.parametrize("target", ["valid", "test"])
def test_ml100k_split_matches_reference(ml100k_dir: Path, anchors_dir: Path, target: str):
    ref_path = anchors_dir / f"ml100k_loo_{target}.tsv"
    if not ref_path.is_file():
        pytest.skip(f"{ref_path} not found")
    _, split = load_ml100k_split(ml100k_dir)
    ref = pd.read_csv(ref_path, sep="\t", dtype={"user_id": str, "item_id": str})
    ref = ref.sort_values("user_id", kind="stable")
    ours = split.targets(target)
    assert len(ours) == len(ref) == 943
    assert ours.user_id.tolist() == ref["user_id"].tolist()
    assert ours.item_id.tolist() == ref["item_id"].tolist()
    assert ours.line.tolist() == ref["line"].tolist()
