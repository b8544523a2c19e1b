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

from rec.config import DeploymentConfig, load_config
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
    live = resolve_live(config).encoder  # fail here, with the fix in the message, if nothing is embedded yet
    log.info("serving %s with %s version %s", live.tag, live.items_table, live.items_table_version)
    knobs = config.serve
    shards = [
        UserShardDeployment.options(name=f"UserShard{i}", **_resources(knobs.user_shard)).bind(i, config)
        for i in range(knobs.user_shards)
    ]
    encoder = QueryEncoder.options(**_resources(knobs.query_encoder)).bind(config.encoder, knobs.query_encoder)
    # Any number of ingress replicas: they hold no user state, and each user's
    # events go to the one replica of that user's shard (see serve/user_state.py).
    ingress = Ingress.options(num_replicas=knobs.ingress_replicas, **_resources(knobs.ingress))
    return ingress.bind(config, shards, encoder)


def _resources(deployment: DeploymentConfig) -> dict:
    """`.options()` of a deployment from its config section."""
    return {"ray_actor_options": {"num_cpus": deployment.num_cpus},
            "max_ongoing_requests": deployment.max_ongoing_requests}

