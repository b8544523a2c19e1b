"""What is live: the encoder version, its pinned items table, the popular list and
the interest model, resolved from the MLflow aliases and held as one immutable
bundle.

The ingress answers every request from one bundle, read once, so an answer
never mixes the item vectors of one encoder version with a user vector or
query of another (invariant 1). A reload builds the next bundle beside the
live one and swaps a single reference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rec.config import RecConfig
from rec.errors import NotReadyError
from rec.storage.new_item_vectors import FreshVectorTable
from rec.registry.interest_models import InterestModelVersion, resolve_interest_model
from rec.registry.encoders import EncoderVersion, resolve_encoder
from rec.storage.items_table import ItemStore, ScoredItem, check_vector_space
from serve.new_items import FreshSet
from serve.interest_model import InterestModelRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveVersion:
    """Everything a request reads that depends on the live versions."""

    encoder: EncoderVersion
    store: ItemStore  # pinned to encoder.items_table_version
    popular: list[ScoredItem]
    item_count: int
    interest: InterestModelVersion | None  # only one trained on `encoder`'s vectors
    model: InterestModelRunner | None
    # Live-added items in this bundle's spaces; filled from the new-items log (serve/new_items.py).
    # The one mutable part: append-only, and never shared with another bundle.
    fresh: FreshSet

    @property
    def key(self) -> tuple:
        """What identifies the bundle: equal keys, same answers."""
        return version_key(self.encoder, self.interest)


def version_key(encoder: EncoderVersion, interest: InterestModelVersion | None) -> tuple:
    return (
        encoder.tag, encoder.items_table, encoder.items_table_version,
        interest.tag if interest else None, interest.scoring_table_version if interest else None,
    )


def resolve_live(config: RecConfig) -> tuple[EncoderVersion, InterestModelVersion | None]:
    """The encoder under its alias (which must name an items table) and the interest model to use with it."""
    encoder = resolve_encoder(config.encoder, config.paths)
    if encoder.items_table_version is None:
        raise NotReadyError(
            f"{encoder.tag} has no items table yet: run "
            "python -m jobs.embed_catalog --config configs/embed_catalog.yaml"
        )
    return encoder, live_interest_model(config, encoder)


def open_live(
    config: RecConfig, encoder: EncoderVersion, interest: InterestModelVersion | None,
    reuse: LiveVersion | None = None,
) -> LiveVersion:
    """Open the bundle (slow: LanceDB, model files); parts equal to `reuse`'s are shared.

    The fresh set starts empty, even when reusing: its items are placed again from the
    log before the bundle goes live (Ingress._prepare), in this bundle's vector spaces.
    """
    same_items = reuse is not None and (reuse.encoder.tag, reuse.store.version) == (
        encoder.tag, encoder.items_table_version
    )
    if same_items:
        store, popular, item_count = reuse.store, reuse.popular, reuse.item_count
    else:
        store = ItemStore(config.paths.lancedb_uri, encoder.items_table, encoder.items_table_version)
        check_vector_space(store, encoder.tag)
        popular, item_count = store.popular(config.serve.popular_pool), store.count()
    if interest is None:
        model = None
    elif reuse is not None and reuse.interest == interest:
        model = reuse.model
    else:
        model = InterestModelRunner(config, interest)
    fresh = FreshSet(
        store.dim, model.dim if model else None,
        FreshVectorTable(config.paths.lancedb_uri, encoder.items_table, encoder.tag),
    )
    return LiveVersion(encoder, store, popular, item_count, interest, model, fresh)


def live_interest_model(config: RecConfig, live: EncoderVersion) -> InterestModelVersion | None:
    """The interest model under serve.interest_model_alias, if it was trained on the live encoder's vectors."""
    alias = config.serve.interest_model_alias
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
