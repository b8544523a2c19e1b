"""The interest model's forward passes, shared by concurrent recommendations.

A pass over 8 histories costs about 2 passes over one, and under load many
recommendations wait in the ingress at once: each asks for its query before it
ranks, and the queries of all that asked meanwhile are computed in one pass
(serve/coalesce.py; rec/interest/queries.py keeps each for its request).
"""

from __future__ import annotations

from rec.interest.profile import UserProfile
from rec.ranking.pipeline import RankingPipeline
from serve.coalesce import Coalescer, runs_of


class ModelPasses:
    def __init__(self) -> None:
        self.coalescer = Coalescer(self._prefetch)

    async def prefetch(self, pipeline: RankingPipeline, profile: UserProfile) -> None:
        """Compute `profile`'s query (with the others waiting) for `pipeline.recommend` next."""
        await self.coalescer.ask((pipeline, profile))

    @staticmethod
    async def _prefetch(asks: list[tuple[RankingPipeline, UserProfile]]) -> list[None]:
        for run in runs_of(asks, lambda ask: id(ask[0])):  # one pass per pipeline (A/B variant)
            run[0][0].prefetch([profile for _, profile in run])
        return [None] * len(asks)
