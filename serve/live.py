"""What is live: the encoder version, its pinned items table, the popular list and
the interest model, resolved from the MLflow aliases and held as one immutable
bundle with the ranking pipeline over it; and the reload that swaps it.

The ingress answers every request from one bundle, read once, so an answer
never mixes the item vectors of one encoder version with a user vector or
query of another (invariant 1). A reload builds the next bundle beside the
live one, has every user shard hold its user states, and swaps a single
reference.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace

import torch
from ray.serve.handle import DeploymentHandle

from rec.ab.variants import CHALLENGER, CHAMPION, variant_of
from rec.config import RecConfig
from rec.errors import NotReadyError
from rec.interest.queries import ModelQueries
from rec.ranking.candidates import Candidates, pinned_source
from rec.ranking.pipeline import RankingPipeline, build_pipeline
from rec.registry.encoders import EncoderVersion, resolve_encoder
from rec.registry.interest_models import InterestModelVersion, resolve_interest_model
from rec.storage.items_table import ItemStore, ScoredItem, check_attributes, check_vector_space
from rec.storage.new_item_vectors import NewItemVectorTable
from serve.metrics import IngressMetrics
from serve.new_items import BundleNewItems, NewItemPlacer
from serve.schemas import ReloadResult, VersionInfo
from serve.user_state import UserShards

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveVersion:
    """Everything a request reads that depends on the live versions."""

    encoder: EncoderVersion
    store: ItemStore  # pinned to encoder.items_table_version
    popular: list[ScoredItem]
    item_count: int
    interest: InterestModelVersion | None  # only one trained on `encoder`'s vectors
    queries: ModelQueries | None  # the interest model's query maker
    scoring: ItemStore | None  # its scoring table, pinned to interest.scoring_table_version
    # New items added live, in this bundle's spaces; filled from the new-items log (serve/new_items.py).
    # The one mutable part: append-only, and never shared with another bundle.
    new_items: BundleNewItems
    text: Candidates  # item text vectors: the items table plus new items
    pipeline: RankingPipeline
    # The A/B test's other variant (serve.ab): the same encoder and items with the challenger
    # model, its own new-item projections; None when no distinct challenger is served.
    challenger: LiveVersion | None = None
    challenger_share: float = 0.0
    ab_salt: str = ""

    @property
    def key(self) -> tuple:
        """What identifies the bundle: equal keys, same answers."""
        return version_key(self.encoder, self.interest, self.challenger.interest if self.challenger else None)

    def variant_for(self, user_id: str | None) -> tuple[str, LiveVersion]:
        """The variant that answers the user, and its bundle."""
        if self.challenger is None or variant_of(user_id, self.challenger_share, self.ab_salt) == CHAMPION:
            return CHAMPION, self
        return CHALLENGER, self.challenger

    @property
    def bundles(self) -> list[LiveVersion]:
        return [self] + ([self.challenger] if self.challenger else [])


def version_key(
    encoder: EncoderVersion, interest: InterestModelVersion | None, challenger: InterestModelVersion | None = None,
) -> tuple:
    return (
        encoder.tag, encoder.items_table, encoder.items_table_version,
        interest.tag if interest else None, interest.scoring_table_version if interest else None,
        challenger.tag if challenger else None,
    )


@dataclass(frozen=True)
class LiveModels:
    """What the aliases name now: the encoder and the interest models to serve with it."""

    encoder: EncoderVersion
    interest: InterestModelVersion | None
    challenger: InterestModelVersion | None = None

    @property
    def key(self) -> tuple:
        return version_key(self.encoder, self.interest, self.challenger)


def resolve_live(config: RecConfig) -> LiveModels:
    """The encoder under its alias (which must name an items table), the interest model to use
    with it and, in an A/B test, the challenger."""
    encoder = resolve_encoder(config.encoder, config.paths)
    if encoder.items_table_version is None:
        raise NotReadyError(
            f"{encoder.tag} has no items table yet: run "
            "python -m jobs.embed_catalog --config configs/embed_catalog.yaml"
        )
    interest = live_interest_model(config, encoder)
    challenger = None
    if config.serve.ab.challenger_share > 0 and interest is not None:
        challenger = live_interest_model(config, encoder, config.train.challenger_alias)
        if challenger is not None and challenger.tag == interest.tag:
            challenger = None  # the same version: nothing to compare, the champion answers all
    return LiveModels(encoder, interest, challenger)


def open_live(config: RecConfig, models: LiveModels, reuse: LiveVersion | None = None) -> LiveVersion:
    """Open the bundle and, in an A/B test, the challenger's beside it (slow: LanceDB, model
    files); parts equal to `reuse`'s are shared."""
    live = _open_bundle(config, models.encoder, models.interest, reuse)
    if models.challenger is None:
        return live
    before = reuse.challenger if reuse is not None and reuse.challenger is not None else live
    challenger = _open_bundle(config, models.encoder, models.challenger, before)
    return replace(live, challenger=challenger, challenger_share=config.serve.ab.challenger_share,
                   ab_salt=config.serve.ab.salt)


def _open_bundle(
    config: RecConfig, encoder: EncoderVersion, interest: InterestModelVersion | None,
    reuse: LiveVersion | None = None,
) -> LiveVersion:
    """One variant's bundle; parts equal to `reuse`'s are shared.

    Its new items start empty, even when reusing: they are placed again from the log
    before the bundle goes live (LiveVersions.prepare), in this bundle's vector spaces.
    """
    same_items = reuse is not None and (reuse.encoder.tag, reuse.store.version) == (
        encoder.tag, encoder.items_table_version
    )
    if same_items:
        store, popular, item_count = reuse.store, reuse.popular, reuse.item_count
    else:
        store = ItemStore(config.paths.lancedb_uri, encoder.items_table, encoder.items_table_version)
        check_vector_space(store, encoder.tag)
        check_attributes(store, config.catalog.filterable)
        popular, item_count = store.popular(config.serve.popular_pool), store.count()
    if interest is None:
        queries, scoring = None, None
    elif reuse is not None and reuse.interest == interest:
        queries, scoring = reuse.queries, reuse.scoring
    else:
        torch.set_num_threads(1)  # one small forward pass per request; leave cores to others
        queries = ModelQueries.from_dir(interest.model_dir)
        scoring = ItemStore(config.paths.lancedb_uri, interest.scoring_table, interest.scoring_table_version)
        check_vector_space(scoring, interest.tag)
        check_attributes(scoring, config.catalog.filterable)
    new_items = BundleNewItems(
        store.dim, queries.dim if queries else None, config.catalog.filterable,
        NewItemVectorTable(config.paths.lancedb_uri, encoder.items_table, encoder.tag),
    )
    limit = config.serve.in_memory_max_items
    text = Candidates(pinned_source(store, limit), new_items.text)
    model = (queries, Candidates(pinned_source(scoring, limit), new_items.model), interest.tag) if queries else None
    pipeline = build_pipeline(config.interest, text, popular, model)
    return LiveVersion(encoder, store, popular, item_count, interest, queries, scoring, new_items, text, pipeline)


def live_interest_model(
    config: RecConfig, live: EncoderVersion, alias: str | None = None,
) -> InterestModelVersion | None:
    """The interest model under `alias` (default serve.interest_model_alias), if it was trained
    on the live encoder's vectors."""
    alias = alias or config.serve.interest_model_alias
    interest = resolve_interest_model(config.train.registered_name, alias, config.paths) if alias else None
    if interest is None:
        log.info("no interest model (%s@%s): recommending with the per-event interest vector",
                 config.train.registered_name, alias)
        return None
    if interest.encoder_version != live.tag or interest.scoring_table_version is None:
        log.warning(
            "%s was trained on %s, not the live %s: using the per-event interest vector until it is retrained",
            interest.tag, interest.encoder_version, live.tag,
        )
        return None
    log.info("interest model %s, scoring table version %s", interest.tag, interest.scoring_table_version)
    return interest


class LiveVersions:
    """The live bundle of one ingress replica, and the reload that replaces it."""

    def __init__(
        self, config: RecConfig, shards: UserShards, query_encoder: DeploymentHandle, placer: NewItemPlacer,
        metrics: IngressMetrics,
    ) -> None:
        self.config, self.shards, self.query_encoder, self.placer = config, shards, query_encoder, placer
        self.metrics = metrics
        self.live: LiveVersion | None = None  # replaced whole by reload(), never changed in place
        self.pending: LiveVersion | None = None  # the bundle a reload is preparing
        self._reload_lock = asyncio.Lock()
        self._poll: asyncio.Task | None = None  # held: the loop keeps only a weak reference
        self._report: asyncio.Task | None = None

    async def start(self) -> None:
        """Go live on the versions the aliases name now, not on init args: a replica that
        restarts after a reload comes back on the versions then live."""
        models = await asyncio.to_thread(resolve_live, self.config)
        live = await asyncio.to_thread(open_live, self.config, models)
        await self.prepare(live)
        self.live = live
        self._report = asyncio.get_running_loop().create_task(self._report_live())
        if self.config.serve.reload_interval_s > 0:
            self._poll = asyncio.get_running_loop().create_task(self._poll_aliases(self.config.serve.reload_interval_s))

    async def prepare(self, live: LiveVersion) -> None:
        """Have every user shard hold `live`'s user states and the query encoder its weights.

        The new items are placed in `live`'s spaces first (their text vectors stored for
        its encoder), so the shards' rebuild from the event log finds them.
        """
        for bundle in live.bundles:
            await self.placer.catch_up(bundle)
        await asyncio.gather(self.shards.prepare(live.encoder), self.query_encoder.prepare.remote(live.encoder))

    async def current(self) -> LiveVersion:
        """The live bundle, with the items other replicas logged since the last request placed."""
        live = self.live
        try:
            for bundle in live.bundles:
                await self.placer.catch_up(bundle)
        except Exception:  # e.g. the query encoder is restarting: answer without the newest items
            log.exception("could not place new items; answering without them for now")
        return live

    async def reload(self) -> ReloadResult:
        """Resolve the aliases again and, if they name other versions, go live on them.

        The next bundle is built beside the live one and every shard rebuilds
        its users' states in the new encoder's space from the event log before
        the one reference is swapped; until then requests are answered from
        the old versions, after it from the new ones. A failure leaves the old
        versions live.
        """
        started = time.perf_counter()
        async with self._reload_lock:
            before = self.live
            models = await asyncio.to_thread(resolve_live, self.config)
            live = before
            if before.key != (key := models.key):
                live = await asyncio.to_thread(open_live, self.config, models, before)
                self.pending = live  # POST /items meanwhile embeds in both versions
                try:
                    await self.prepare(live)
                finally:
                    self.pending = None
                self.live = live
                log.info("live versions %s -> %s", before.key, key)
        result = ReloadResult(
            changed=live is not before, previous=self.info(before), live=self.info(live),
            duration_s=round(time.perf_counter() - started, 3),
        )
        self.metrics.reloaded(result)
        return result

    async def _report_live(self, interval_s: float = 5.0) -> None:
        while True:
            self.metrics.serving(self.info())
            await asyncio.sleep(interval_s)

    async def _poll_aliases(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reload()
            except Exception:  # keep serving the current versions; the next poll tries again
                log.exception("reload from the aliases failed; the current versions stay live")

    def info(self, live: LiveVersion | None = None) -> VersionInfo:
        """What `live` (default: the live bundle) serves, as GET /version answers it."""
        live = live or self.live
        return VersionInfo(
            encoder=live.encoder.name, encoder_version=live.encoder.tag, items_table=live.encoder.items_table,
            items_table_version=live.store.version, items=live.item_count, fresh_items=len(live.new_items.text),
            user_shards=len(self.shards),
            interest_model=live.interest.tag if live.interest else None,
            scoring_table_version=live.scoring.version if live.scoring else None,
            challenger_model=live.challenger.interest.tag if live.challenger else None,
            challenger_share=live.challenger_share if live.challenger else 0.0,
            filters=self.config.catalog.attributes(),
        )
