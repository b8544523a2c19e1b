"""Invariant 5: a training run that fails half way changes nothing live.

The failure is injected with `train.fail_after_epochs` (like the embed job's
`embed.fail_after_rows`): the run dies after that many epochs, before it
registers anything. The registry, the scoring table and the live app must be
exactly as they were, and the next normal run must succeed.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import lancedb
import pytest

from rec.config import RecConfig, load_config
from rec.registry.encoders import connect  # this config's tracking and registry, not mlflow's global ones

pytestmark = pytest.mark.ray


def live_pointers(config: RecConfig) -> dict:
    """What serving reads from the stores: registry versions with their aliases and tags, the table version."""
    client = connect(config.paths)
    name = config.train.registered_name
    versions = {
        str(v.version): (v.run_id, sorted(v.aliases), dict(v.tags))
        for v in client.search_model_versions(f"name='{name}'")
    }
    return {
        "versions": versions,
        "champion": str(client.get_model_version_by_alias(name, "champion").version),
        "challenger": str(client.get_model_version_by_alias(name, "challenger").version),
        "scoring_table_version": (
            lancedb.connect(config.paths.lancedb_uri).open_table(config.train.scoring_table).version
        ),
    }


def served(client: httpx.Client) -> tuple[dict, dict]:
    client.post("/events", json={"user_id": "train-failure-user", "item_id": "50", "type": "like",
                                 "event_id": "train-failure-1"}).raise_for_status()
    recommendations = client.get("/users/train-failure-user/recommendations").json()
    del recommendations["request_id"]  # each answer's own
    return client.get("/version").json(), recommendations


def test_failed_training_run_changes_nothing_live(
    model_client: httpx.Client, train_summary: dict, model_config_path: Path
) -> None:
    from jobs.train_interest import train_interest

    config = load_config(model_config_path)
    before, served_before = live_pointers(config), served(model_client)
    assert served_before[1]["strategy"] == "interest-model"
    epochs = config.train.model.max_epochs // 2 or 1  # half way
    failing = config.model_copy(update={"train": config.train.model_copy(update={"fail_after_epochs": epochs})})

    with pytest.raises(RuntimeError, match=f"injected failure after {epochs} epochs"):
        train_interest(failing)

    assert live_pointers(config) == before
    assert served(model_client) == served_before  # same model version, same answer
    client = connect(config.paths)
    experiment = client.get_experiment_by_name(config.train.experiment)
    last_run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert last_run.info.status == "FAILED"  # recorded as failed, not half-published

    again = train_interest(config)  # the next normal run goes through
    after = live_pointers(config)
    new_version = str(max(int(v) for v in before["versions"]) + 1)
    assert again["model_version"] == f"{config.train.registered_name}/{new_version}"
    assert after["versions"].keys() == before["versions"].keys() | {new_version}
    assert after["challenger"] == new_version
    assert after["champion"] == (new_version if again["promoted"] else before["champion"])
    assert after["scoring_table_version"] > before["scoring_table_version"]
