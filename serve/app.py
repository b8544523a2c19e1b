"""The Serve application: `serve run configs/serve.yaml` builds it from here.

Every deployment is given the same live version (encoder + items table
version), resolved once from the MLflow alias, so the app never scores a user
vector against item vectors of another encoder.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field
from ray.serve import Application

from rec.config import RecConfig, load_config
from rec.errors import NotReadyError
from rec.interest_registry import InterestModelVersion, resolve_interest_model
from rec.registry import EncoderVersion, resolve_encoder
from serve.encoder import QueryEncoder
from serve.ingress import Ingress
from serve.user_state import UserShardDeployment

log = logging.getLogger(__name__)


class AppArgs(BaseModel):
    """Arguments of `build_app`, given under `args:` in configs/serve.yaml."""

    model_config = ConfigDict(extra="forbid")

    config: str = Field("configs/base.yaml", description="the project config (YAML) to serve with")


def build_app(args: AppArgs) -> Application:
    """Wire the deployments: ingress -> user shards, query encoder."""
    if isinstance(args, dict):  # `serve run` passes the YAML args as a dict
        args = AppArgs.model_validate(args)
    config = load_config(args.config)
    live = resolve_encoder(config.encoder, config.paths)
    if live.items_table_version is None:
        raise NotReadyError(
            f"{live.tag} has no items table yet: run "
            "python -m jobs.embed_catalog --config configs/embed_catalog.yaml"
        )
    log.info("serving %s with %s version %s", live.tag, live.items_table, live.items_table_version)
    interest = live_interest_model(config, live)
    shards = [
        UserShardDeployment.options(name=f"UserShard{i}").bind(i, config, live)
        for i in range(config.serve.user_shards)
    ]
    encoder = QueryEncoder.bind(live.model_dir, config.encoder)
    return Ingress.bind(config, live, interest, shards, encoder)


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
