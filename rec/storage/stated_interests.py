"""The durable log of users' stated interests (PUT /users/{id}/interests): one record
log per user shard, beside its event log and on the same backend
(rec/storage/record_log.py), durable before an ack.
 A user's latest line wins; an
empty text clears what they stated. Only the text is stored: its vector is the
live encoder's embedding of it, made when it is read, so it is never in
another encoder's space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from rec.storage.record_log import open_record_log, read_all_records, record_file_path

KIND = "stated"


@dataclass(frozen=True)
class StatedInterest:
    """What a user said they like, in their words, and when it was logged."""

    user_id: str
    text: str  # "" = cleared
    logged_at: float


def stated_log_path(log_dir: str | Path, shard: int) -> Path:
    """The stated-interests file written by one user shard (the JSON-lines backend)."""
    return record_file_path(log_dir, KIND, shard)


class StatedInterestLog:
    """Appends users' stated interests to one shard's log (at `location`: a folder or a nats:// URI), durably."""

    def __init__(self, location: str | Path, shard: int) -> None:
        self.log = open_record_log(location, KIND, shard)

    def append(self, stated: StatedInterest) -> None:
        """Write durably; when this returns it survives a crash."""
        self.log.append([asdict(stated)])

    def remove_user(self, user_id: str) -> int:
        """Remove the user's records; returns how many were removed."""
        return self.log.remove_user(user_id)

    def close(self) -> None:
        self.log.close()


def read_stated_interests(log_dir: str | Path) -> dict[str, StatedInterest]:
    """Each user's current stated interest over every shard's log (the latest logged
    wins, whichever shard count wrote it); users who cleared theirs are left out."""
    latest: dict[str, StatedInterest] = {}
    for record in read_all_records(log_dir, KIND):
        stated = StatedInterest(**record)
        held = latest.get(stated.user_id)
        if held is None or stated.logged_at >= held.logged_at:
            latest[stated.user_id] = stated
    return {user: stated for user, stated in latest.items() if stated.text}
