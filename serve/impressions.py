"""The ingress replica's impressions: every answer gets a request id and is logged
(rec/storage/impressions.py) off the hot path, by a task that writes the buffer
every serve.ab.impressions_flush_s."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid

from rec.config import RecConfig
from rec.ranking.pipeline import Ranking
from rec.storage.impressions import Impression, ImpressionLog, impressions_path

log = logging.getLogger(__name__)


class ImpressionRecorder:
    def __init__(self, config: RecConfig) -> None:
        writer = f"{socket.gethostname()}-{os.getpid()}"  # one file per replica process
        self.log = ImpressionLog(impressions_path(config.paths.impressions_dir, writer))
        self.flush_s = config.serve.ab.impressions_flush_s
        self._task: asyncio.Task | None = None  # held: the loop keeps only a weak reference

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_every())

    def shown(self, route: str, user_id: str | None, variant: str, model_version: str | None,
              ranking: Ranking, offset: int) -> str:
        """Log the answer (in memory until the next flush); returns its request id."""
        request_id = uuid.uuid4().hex
        items = tuple(item.item_id for item in ranking.items)
        self.log.add(Impression(request_id, user_id, route, variant, model_version, items, offset, time.time()))
        return request_id

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                await asyncio.to_thread(self.log.flush)
            except Exception:  # the batch is lost, the service goes on: impressions are not events
                log.exception("could not write impressions")

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.log.close()
