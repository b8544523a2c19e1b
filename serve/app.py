"""The Serve application: `serve run configs/serve.yaml` builds it from here.

No deployment is given the live version: the ingress resolves it from the
MLflow aliases (at start, on POST /admin/reload and every
serve.reload_interval_s) and names it in every call to the user shards and
the query encoder, which hold states and weights per encoder version. So a new
encoder goes live without a redeploy, and the app never scores a user vector
against item vectors of another encoder (see serve/live.py).
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field
from ray.serve import Application

from rec.config import load_config
from serve.encoder import QueryEncoder
from serve.ingress import Ingress
from serve.live import resolve_live
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
    live, _ = resolve_live(config)  # fail here, with the fix in the message, if nothing is embedded yet
    log.info("serving %s with %s version %s", live.tag, live.items_table, live.items_table_version)
    shards = [
        UserShardDeployment.options(name=f"UserShard{i}").bind(i, config)
        for i in range(config.serve.user_shards)
    ]
    encoder = QueryEncoder.bind(config.encoder)
    # Any number of ingress replicas: they hold no user state, and each user's
    # events go to the one replica of that user's shard (see serve/user_state.py).
    ingress = Ingress.options(num_replicas=config.serve.ingress_replicas)
    return ingress.bind(config, shards, encoder)

