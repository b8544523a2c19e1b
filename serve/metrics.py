"""The service's own metrics, through Ray Serve's metrics API: Ray's metrics agent on each node
exports them in Prometheus format (the demo on serve.metrics_port, default 8080), beside
Serve's own (requests, errors and latency by route, replica health).

Names as Prometheus shows them: ray_rec_events_accepted_total,
ray_rec_events_rejected_total{reason}, ray_rec_events_duplicate_total,
ray_rec_recommendation_latency_ms{endpoint,strategy} (a histogram),
ray_rec_fallbacks_total{strategy}, ray_rec_items_added_total,
ray_rec_reloads_total{changed}, ray_rec_reload_duration_s,
ray_rec_live_version{encoder_version,items_table_version,interest_model} (1 for the live
versions, 0 for those before), ray_rec_shard_rebuild_duration_s{shard}. Serve adds the
deployment, replica and application tags. docs/operations.md has the dashboard.

The metrics are made in the replica (Ingress.__init__, the shard's __init__), not at import:
only there does Serve know which deployment and replica to tag them with.
"""

from __future__ import annotations

from collections.abc import Callable

from ray.serve import metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rec.ranking.pipeline import Ranking
from serve.schemas import ReloadResult, VersionInfo

LATENCY_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]
DURATION_S = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]
# Why an event request was refused, by its status (a 422 for an unknown item says so itself).
REJECTION_REASONS = {400: "bad_body", 401: "api_key", 413: "too_large", 422: "invalid"}
UNKNOWN_ITEM = "unknown_item"


class IngressMetrics:
    """What the ingress counts and times."""

    def __init__(self) -> None:
        self.events_accepted = metrics.Counter("rec_events_accepted", "events accepted and logged")
        self.events_duplicate = metrics.Counter("rec_events_duplicate", "events ignored as resent (same event_id)")
        self.events_rejected = metrics.Counter(
            "rec_events_rejected", "requests to POST /events refused, by reason", tag_keys=("reason",))
        self.latency = metrics.Histogram(
            "rec_recommendation_latency_ms", "time to answer a recommendation request in the ingress",
            boundaries=LATENCY_MS, tag_keys=("endpoint", "strategy"))
        self.fallbacks = metrics.Counter(
            "rec_fallbacks", "recommendations answered by a later strategy than the policy's first",
            tag_keys=("strategy",))
        self.items_added = metrics.Counter("rec_items_added", "brand-new items added live (POST /items)")
        self.reloads = metrics.Counter("rec_reloads", "reloads from the aliases", tag_keys=("changed",))
        self.reload_s = metrics.Histogram("rec_reload_duration_s", "time a reload took", boundaries=DURATION_S)
        self.live = metrics.Gauge(
            "rec_live_version", "1 for the versions served now, 0 for those before",
            tag_keys=("encoder_version", "items_table_version", "interest_model"))
        self._live_tags: dict[str, str] | None = None

    def events(self, accepted: int, duplicates: int) -> None:
        if accepted:
            self.events_accepted.inc(accepted)
        if duplicates:
            self.events_duplicate.inc(duplicates)

    def answered(self, endpoint: str, ranking: Ranking, seconds: float, first_strategy: str) -> None:
        self.latency.observe(seconds * 1000, tags={"endpoint": endpoint, "strategy": ranking.strategy})
        if endpoint == "user" and ranking.strategy != first_strategy:
            self.fallbacks.inc(tags={"strategy": ranking.strategy})

    def reloaded(self, result: ReloadResult) -> None:
        self.reloads.inc(tags={"changed": str(result.changed).lower()})
        self.reload_s.observe(result.duration_s)
        self.serving(result.live)

    def serving(self, info: VersionInfo) -> None:
        """Report the live versions; called again every few seconds (LiveVersions), since Ray's
        agent drops a gauge series that has not been reported for two report intervals."""
        tags = {"encoder_version": info.encoder_version, "items_table_version": str(info.items_table_version),
                "interest_model": info.interest_model or ""}
        if self._live_tags is not None and tags != self._live_tags:
            self.live.set(0, tags=self._live_tags)
        self.live.set(1, tags=tags)
        self._live_tags = tags


def shard_rebuild_histogram() -> metrics.Histogram:
    return metrics.Histogram("rec_shard_rebuild_duration_s", "time a user shard took to rebuild its states "
                             "in an encoder version's space from the event log", boundaries=DURATION_S,
                             tag_keys=("shard",))


def mark_unknown_item(scope: Scope) -> None:
    """Tell EventRejections that this request is refused for an unknown item_id."""
    scope.setdefault("state", {})["rejected_reason"] = UNKNOWN_ITEM


class EventRejections:
    """Counts POST /events answered with a 4xx, by reason: outermost, so that it also sees what
    the body limits and request validation refuse before the route runs."""

    def __init__(self, app: ASGIApp, ingress_metrics: Callable[[], IngressMetrics]) -> None:
        self.app, self.ingress_metrics = app, ingress_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/events":
            return await self.app(scope, receive, send)
        status = 200

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if 400 <= status < 500:
                reason = scope.get("state", {}).get("rejected_reason") or REJECTION_REASONS.get(status, f"status_{status}")
                self.ingress_metrics().events_rejected.inc(tags={"reason": reason})
