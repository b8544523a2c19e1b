"""The durable log of users' stated interests (PUT /users/{id}/interests): JSON
lines (rec/storage/jsonl.py), fsynced before an ack.

One file per user shard, beside its event log. A user's latest line wins; an
empty text clears what they stated. Only the text is stored: its vector is the
live encoder's embedding of it, made when it is read, so it is never in
another encoder's space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from rec.storage.jsonl import UserRecordFile, read_records


@dataclass(frozen=True)
class StatedInterest:
    """What a user said they like, in their words, and when it was logged."""

    user_id: str
    text: str  # "" = cleared
    logged_at: float


def stated_log_path(log_dir: str | Path, shard: int) -> Path:
    """The stated-interests file written by one user shard."""
    return Path(log_dir) / f"stated-shard-{shard:04d}.jsonl"


class StatedInterestLog:
    """Appends users' stated interests to one shard's file, durably."""

    def __init__(self, path: str | Path) -> None:
        self.file = UserRecordFile(path)
        self.path = self.file.path

    def append(self, stated: StatedInterest) -> None:
        """Write and fsync; when this returns it survives a crash."""
        self.file.append([asdict(stated)])

    def remove_user(self, user_id: str) -> int:
        """Rewrite the file without the user's lines; returns how many were removed."""
        return self.file.remove_user(user_id)

    def close(self) -> None:
        self.file.close()


def read_stated_interests(log_dir: str | Path) -> dict[str, StatedInterest]:
    """Each user's current stated interest over every shard's file (the latest logged
    wins, whichever shard count wrote it); users who cleared theirs are left out."""
    latest: dict[str, StatedInterest] = {}
    for path in sorted(Path(log_dir).glob("stated-shard-*.jsonl")):
        for record in read_records(path):
            stated = StatedInterest(**record)
            held = latest.get(stated.user_id)
            if held is None or stated.logged_at >= held.logged_at:
                latest[stated.user_id] = stated
    return {user: stated for user, stated in latest.items() if stated.text}
