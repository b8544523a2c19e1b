"""rec/evaluation/calibration.py: KL between the recent and recommended category mixes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from rec.evaluation.calibration import calibration
from rec.evaluation.harness import build_eval_data
from rec.evaluation.metrics import RankResult


def _data():
    """One user: 6 Horror events, then a Horror test item; 12 items, i0..i5 Horror, i6..i11 Comedy."""
    ids = [f"i{j:02d}" for j in range(12)]
    rows = [{"user_id": "u", "item_id": ids[j], "timestamp": j, "line": j} for j in range(7)]
    categories = [["Horror"]] * 6 + [["Comedy"]] * 6
    return build_eval_data(pa.Table.from_pylist(rows), ids, np.eye(12, dtype=np.float32), categories)


def _result(data, top: list[int]) -> RankResult:
    split = data.split
    return RankResult(split.test.user_id, data.item_index.encode(split.test.item_id), np.array([0]),
                      np.array([top]), len(data.item_index))


def test_a_list_in_the_users_category_is_calibrated_and_follows_the_focus():
    data = _data()  # history i00..i05 (Horror), test i06: a Comedy item after all
    horror, comedy = list(range(6)) * 2, list(range(6, 12)) * 2
    on = calibration(_result(data, horror[:10]), data.split, data.item_index, data.item_categories)
    off = calibration(_result(data, comedy[:10]), data.split, data.item_index, data.item_categories)
    assert on["KL"] < 1e-9 < off["KL"]  # KL(p || q~) = 0 when the mixes agree
    assert off["KL"] == np.log(1 / 0.01)  # all of p's mass on a category q~ holds at 0.01
    assert on["focused_users"] == 1 and on["focused_top10_share"] == 1.0 and off["focused_top10_share"] == 0.0
    assert on["focused_next_share"] == 0.0  # the next item was not Horror
