"""Leave-one-out and cold-item splits for offline evaluation.

Protocol (see ``shared/anchors/quality.md``): each user's interactions are
ordered by ``(timestamp, line)``, where ``line`` is the 0-based data row in the
source file. The last interaction is the test target, the second to last the
validation target, everything before it is train. Users with fewer than
``MIN_INTERACTIONS`` (3) interactions keep all of them in train and get no
validation or test target (ML-100k has none: every user has >= 20 ratings).

Ids may be ints or strings; every function works on numpy arrays of any
sortable dtype, as long as one id space uses a single dtype.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MIN_INTERACTIONS = 3


@dataclass(frozen=True, eq=False)
class IdIndex:
    """Sorted unique ids; position ``j`` is the dense index (e.g. a score column)."""

    ids: np.ndarray  # (n,) sorted, unique

    @classmethod
    def from_ids(cls, ids: np.ndarray) -> IdIndex:
        """Build an index from ids that may repeat, in any order."""
        return cls(np.unique(np.asarray(ids)))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def encode(self, ids: np.ndarray) -> np.ndarray:
        """Map raw ids (m,) to dense int64 indices (m,); raise KeyError on unknown ids."""
        ids = np.asarray(ids)
        pos = np.searchsorted(self.ids, ids)  # (m,)
        pos = np.minimum(pos, max(len(self) - 1, 0))
        if len(self) == 0 or not np.array_equal(self.ids[pos], ids):
            missing = ids if len(self) == 0 else ids[self.ids[pos] != ids]
            raise KeyError(f"unknown ids, e.g. {missing[:5].tolist()}")
        return pos.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Interactions:
    """Column arrays of interaction events, all of shape (n,)."""

    user_id: np.ndarray
    item_id: np.ndarray
    timestamp: np.ndarray
    line: np.ndarray  # 0-based data row in the source file

    def __len__(self) -> int:
        return int(self.user_id.shape[0])

    def take(self, idx: np.ndarray) -> Interactions:
        """Select rows by integer indices or a boolean mask."""
        return Interactions(self.user_id[idx], self.item_id[idx], self.timestamp[idx], self.line[idx])


@dataclass(frozen=True, eq=False)
class HistoryTable:
    """Per-user ordered item histories as dense item columns (CSR layout)."""

    users: IdIndex
    indptr: np.ndarray  # (n_users + 1,) offsets into cols
    cols: np.ndarray  # (nnz,) item columns, chronological within each user

    def lengths(self, user_ids: np.ndarray) -> np.ndarray:
        """History length (B,) for each user id in ``user_ids`` (B,)."""
        u = self.users.encode(user_ids)
        return self.indptr[u + 1] - self.indptr[u]

    def gather(self, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Flatten the histories of a batch of users.

        Returns ``(rows, cols, pos, lengths)``: ``rows`` (nnz,) batch row of each
        event, ``cols`` (nnz,) item column, ``pos`` (nnz,) 0-based position in that
        user's history, ``lengths`` (B,) history length per user.
        """
        u = self.users.encode(user_ids)  # (B,)
        starts = self.indptr[u]  # (B,)
        lengths = self.indptr[u + 1] - starts  # (B,)
        rows = np.repeat(np.arange(len(u)), lengths)  # (nnz,)
        pos = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        cols = self.cols[np.repeat(starts, lengths) + pos]
        return rows, cols, pos, lengths


def _indptr(codes: np.ndarray, n: int) -> np.ndarray:
    """CSR offsets (n + 1,) for sorted group codes (m,)."""
    return np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=n))]).astype(np.int64)


@dataclass(frozen=True, eq=False)
class LeaveOneOutSplit:
    """Result of :func:`leave_one_out_split`.

    ``train`` is sorted by (user, timestamp, line), so each user's events form
    one contiguous chronological block ``train_indptr[u]:train_indptr[u + 1]``
    with ``u`` the position of the user in ``users.ids``. ``valid`` and ``test``
    hold one row per evaluable user, sorted by user id.
    """

    users: IdIndex  # every user of the input, also those without a target
    train: Interactions  # (n_train,)
    train_indptr: np.ndarray  # (n_users + 1,)
    valid: Interactions  # (n_eval_users,)
    test: Interactions  # (n_eval_users,)

    def targets(self, target: str) -> Interactions:
        """Return ``valid`` or ``test`` by name."""
        if target not in ("valid", "test"):
            raise ValueError(f"target must be 'valid' or 'test', got {target!r}")
        return self.valid if target == "valid" else self.test

    def train_history(self, user_id: object) -> np.ndarray:
        """Chronological train item ids of one user (possibly empty)."""
        u = int(self.users.encode(np.asarray([user_id]))[0])
        return self.train.item_id[self.train_indptr[u] : self.train_indptr[u + 1]]

    def history_with_valid(self, user_id: object) -> np.ndarray:
        """Train history followed by the validation item (the context for scoring test)."""
        hist = self.train_history(user_id)
        row = np.flatnonzero(self.valid.user_id == user_id)
        return np.concatenate([hist, self.valid.item_id[row]]) if row.size else hist

    def history_table(self, item_index: IdIndex, include_valid: bool) -> HistoryTable:
        """Histories of all users as item columns; validation item appended if asked."""
        codes = self.users.encode(self.train.user_id)  # (n_train,) sorted
        cols = item_index.encode(self.train.item_id)
        if include_valid and len(self.valid):
            v_codes = self.users.encode(self.valid.user_id)
            is_valid = np.concatenate([np.zeros(len(codes), bool), np.ones(len(v_codes), bool)])
            codes = np.concatenate([codes, v_codes])
            cols = np.concatenate([cols, item_index.encode(self.valid.item_id)])
            order = np.lexsort((is_valid, codes))  # stable: train order kept, valid last
            codes, cols = codes[order], cols[order]
        return HistoryTable(self.users, _indptr(codes, len(self.users)), cols)

    def with_train(self, keep: np.ndarray) -> LeaveOneOutSplit:
        """Copy of the split with train reduced to ``keep`` (bool, (n_train,)); targets unchanged."""
        train = self.train.take(np.asarray(keep, dtype=bool))
        indptr = _indptr(self.users.encode(train.user_id), len(self.users))
        return LeaveOneOutSplit(self.users, train, indptr, self.valid, self.test)


def leave_one_out_split(
    user_ids: np.ndarray, item_ids: np.ndarray, timestamps: np.ndarray, lines: np.ndarray
) -> LeaveOneOutSplit:
    """Split interactions per user: last = test, second to last = valid, rest = train.

    Events are ordered by ``(timestamp, line)`` within each user. Users with
    fewer than 3 interactions put everything in train and have no targets.
    All inputs have shape (n,).
    """
    user_ids, item_ids = np.asarray(user_ids), np.asarray(item_ids)
    timestamps, lines = np.asarray(timestamps), np.asarray(lines)
    n = user_ids.shape[0]
    if not (item_ids.shape[0] == timestamps.shape[0] == lines.shape[0] == n):
        raise ValueError("user_ids, item_ids, timestamps and lines must have the same length")
    users = IdIndex.from_ids(user_ids)
    codes = users.encode(user_ids)  # (n,)
    order = np.lexsort((lines, timestamps, codes))  # (n,) primary key: user
    events = Interactions(user_ids, item_ids, timestamps, lines).take(order)
    sorted_codes = codes[order]
    counts = np.bincount(codes, minlength=len(users))  # (n_users,)
    pos = np.arange(n) - (np.cumsum(counts) - counts)[sorted_codes]  # position within user
    n_user = counts[sorted_codes]
    evaluable = n_user >= MIN_INTERACTIONS
    is_test = evaluable & (pos == n_user - 1)
    is_valid = evaluable & (pos == n_user - 2)
    train_mask = ~(is_test | is_valid)
    n_short = int((counts < MIN_INTERACTIONS).sum())
    if n_short:
        logger.info("%d users with < %d interactions kept fully in train", n_short, MIN_INTERACTIONS)
    return LeaveOneOutSplit(
        users=users,
        train=events.take(train_mask),
        train_indptr=_indptr(sorted_codes[train_mask], len(users)),
        valid=events.take(is_valid),
        test=events.take(is_test),
    )


def read_inter_file(path: str | Path) -> Interactions:
    """Read a RecBole ``.inter`` file (TSV, ``name:type`` headers) keeping ids as strings.

    ``line`` is the 0-based data row (after the header).
    """
    import pandas as pd  # local import: only needed when reading files

    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df.columns = [c.split(":")[0] for c in df.columns]
    return Interactions(
        user_id=df["user_id"].to_numpy(dtype=str),
        item_id=df["item_id"].to_numpy(dtype=str),
        timestamp=df["timestamp"].astype(np.float64).to_numpy(),
        line=np.arange(len(df), dtype=np.int64),
    )


@dataclass(frozen=True, eq=False)
class ColdItemSplit:
    """A leave-one-out split whose train lacks every event of the cold items."""

    split: LeaveOneOutSplit  # train reduced; valid / test unchanged
    cold_items: np.ndarray  # (n_cold,) sorted item ids

    def is_cold(self, item_ids: np.ndarray) -> np.ndarray:
        """Boolean mask (m,): which of ``item_ids`` (m,) are cold."""
        return np.isin(np.asarray(item_ids), self.cold_items)


def cold_item_split(
    split: LeaveOneOutSplit, item_index: IdIndex, fraction: float = 0.1, seed: int = 0
) -> ColdItemSplit:
    """Make a seeded ``fraction`` of the catalogue cold.

    ``round(fraction * n_items)`` items are drawn uniformly without replacement
    from ``item_index`` (with ``numpy.random.default_rng(seed)``); all their
    train events are removed, so they also vanish from the users' train
    histories (and are no longer excluded from the ranking). Validation and test
    events stay, so ``is_cold(split.test.item_id)`` slices test users into
    cold-target and warm-target subsets.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    n_cold = int(round(fraction * len(item_index)))
    cold = np.sort(item_index.ids[rng.choice(len(item_index), size=n_cold, replace=False)])
    keep = ~np.isin(split.train.item_id, cold)
    logger.info("cold split: %d cold items, %d train events removed", n_cold, int((~keep).sum()))
    return ColdItemSplit(split=split.with_train(keep), cold_items=cold)
