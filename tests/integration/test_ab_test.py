"""An A/B test on live traffic, over real HTTP: the champion and a challenger interest model
in one app (serve.ab), every answer logged as an impression, simulated users whose clicks
favour one variant, and the report (jobs/ab_report.py) that finds it and moves the alias.

The app under test is its own (`ab-test`, under /ab, its own event log and impressions).
The challenger is a second registered version of the session's model (the same weights, so
both variants rank alike): in this simulation the challenger's users click more because the
simulated world is built that way, which is what the report must find. The aliases are put
back afterwards, so the other apps' champion is unchanged.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
import yaml
from ray import serve

from rec.config import RecConfig, load_config
from rec.registry import interest_models as models
from rec.registry.encoders import connect
from rec.storage.impressions import read_impressions
from rec.storage.items_table import ItemStore, write_version

pytestmark = pytest.mark.ray

NAME = "interest-model"
CLICK_RATE = {"champion": 0.12, "challenger": 0.35}  # the simulated world: the challenger is better


@pytest.fixture(scope="module")
def ab_config(rec_home: Path, model_config_path: Path, train_summary: dict) -> Iterator[RecConfig]:
    """A config with half the users on the challenger: a second version of the champion's model."""
    raw = yaml.safe_load(model_config_path.read_text())
    raw["paths"].update(event_log_dir=str(rec_home / "events-ab-app"), impressions_dir=str(rec_home / "impressions-ab"))
    raw["serve"]["ab"] = {"challenger_share": 0.5, "salt": "test", "impressions_flush_s": 0.2}
    path = rec_home / "test-ab.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    before = {alias: models.alias_version(NAME, alias, config.paths) for alias in ("champion", "challenger")}
    champion = models.resolve_interest_model(NAME, "champion", config.paths)
    tags = connect(config.paths).get_model_version(NAME, champion.version).tags
    version = models.register_interest_model(
        champion.model_dir, NAME, champion.encoder_version, champion.valid_ndcg10,
        {"HR@10": float(tags[models.TEST_HR_TAG]), "NDCG@10": float(tags[models.TEST_NDCG_TAG])}, config.paths, "challenger")
    # its scoring table version: the champion's rows, stamped as the new version's (invariant 1)
    rows = ItemStore(config.paths.lancedb_uri, champion.scoring_table, champion.scoring_table_version).table.to_arrow()
    rows = rows.set_column(rows.schema.get_field_index("encoder_version"), "encoder_version",
                           pa.array([f"{NAME}/{version}"] * rows.num_rows))
    table = write_version(config.paths.lancedb_uri, champion.scoring_table, rows)
    models.publish_scoring_table(NAME, version, champion.scoring_table, int(table.version), config.paths)
    try:
        yield config
    finally:
        for alias, was in before.items():
            models.promote(NAME, was, config.paths, alias)


@pytest.fixture(scope="module")
def ab_client(base_url: str, ab_config: RecConfig, rec_home: Path) -> Iterator[httpx.Client]:
    from serve.app import AppArgs, build_app

    serve.run(build_app(AppArgs(config=str(rec_home / "test-ab.yaml"))), name="ab-test", route_prefix="/ab")
    try:
        with httpx.Client(base_url=f"{base_url}/ab", headers={"X-API-Key": ab_config.serve.api_key}, timeout=60) as http:
            yield http
    finally:
        serve.delete("ab-test")


def _recommend(client: httpx.Client, user: str) -> dict:
    reply = client.get(f"/users/{user}/recommendations")
    reply.raise_for_status()
    return reply.json()


def _impressions_of(config: RecConfig, request_ids: set[str], timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:  # written in batches every impressions_flush_s (0.2 s here)
        found = {i.request_id: i for i in read_impressions(config.paths.impressions_dir) if i.request_id in request_ids}
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_users_stay_in_one_variant_and_every_answer_is_logged(ab_client: httpx.Client, ab_config: RecConfig) -> None:
    version = ab_client.get("/version").json()
    assert version["challenger_share"] == 0.5 and version["challenger_model"] != version["interest_model"]
    answers = {}
    for n in range(30):
        user = f"split-{n}"
        ab_client.post("/events", json={"user_id": user, "item_id": str(1 + n), "type": "like"}).raise_for_status()
        first, again = _recommend(ab_client, user), _recommend(ab_client, user)
        assert first["variant"] == again["variant"] and first["request_id"] != again["request_id"]
        assert first["model_version"] == (version["challenger_model"] if first["variant"] == "challenger"
                                          else version["interest_model"])
        answers[first["request_id"]] = (user, first)
    assert {a["variant"] for _, a in answers.values()} == {"champion", "challenger"}
    logged = _impressions_of(ab_config, set(answers))
    assert logged.keys() == answers.keys()
    for request_id, (user, answer) in answers.items():
        shown = logged[request_id]
        assert (shown.user_id, shown.variant, shown.route) == (user, answer["variant"], "user")
        assert list(shown.items) == [item["item_id"] for item in answer["items"]]
    text = ab_client.post("/recommendations/text", json={"text": "a space adventure"}).json()
    assert text["variant"] == "champion" and _impressions_of(ab_config, {text["request_id"]})
    bad = ab_client.post("/events", json={"user_id": "u", "item_id": "1", "type": "click", "request_id": "no spaces"})
    assert bad.status_code == 422 and "request_id" in bad.text


def test_the_report_finds_the_better_variant_and_promotion_moves_the_alias(
    ab_client: httpx.Client, ab_config: RecConfig,
) -> None:
    from jobs.ab_report import ab_report

    rng = random.Random(7)
    for n in range(160):
        user = f"sim-{n}"
        ab_client.post("/events", json={"user_id": user, "item_id": str(rng.randrange(1, 400)), "type": "like"})
        for _ in range(3):
            answer = _recommend(ab_client, user)
            if rng.random() < CLICK_RATE[answer["variant"]]:
                item = rng.choice(answer["items"][:5])["item_id"]
                # half the clicks carry the answer's request id, half are matched by user, item and time
                event = {"user_id": user, "item_id": item, "type": "purchase" if rng.random() < 0.3 else "click"}
                if rng.random() < 0.5:
                    event["request_id"] = answer["request_id"]
                ab_client.post("/events", json=event).raise_for_status()
    time.sleep(1.0)  # the last batch of impressions
    champion, challenger = (models.alias_version(NAME, a, ab_config.paths) for a in ("champion", "challenger"))

    kept = ab_report(ab_config, promote=False)
    figures = kept["variants"]
    assert figures["challenger"]["click_through"]["value"] > figures["champion"]["click_through"]["value"]
    for variant, rate in CLICK_RATE.items():  # the true rates within 3 standard errors
        low, high = figures[variant]["click_through"]["ci95"]
        assert abs(figures[variant]["click_through"]["value"] - rate) < 1.5 * (high - low) / 2, figures[variant]
        assert figures[variant]["impressions"] >= 100
    assert kept["decision"]["challenger_wins"] and not kept["decision"]["promoted"]
    assert models.alias_version(NAME, "champion", ab_config.paths) == champion

    promoted = ab_report(ab_config, promote=True)
    assert promoted["decision"]["promoted"] and "wins" in promoted["decision"]["why"]
    assert models.alias_version(NAME, "champion", ab_config.paths) == challenger
    client = connect(ab_config.paths)
    run = client.get_run(promoted["mlflow_run_id"])
    assert run.data.metrics["challenger_click_through"] == pytest.approx(
        promoted["variants"]["challenger"]["click_through"]["value"], abs=1e-6)
    assert run.data.tags["challenger_version"] == f"{NAME}/{challenger}"
    for version in (champion, challenger):
        assert client.get_model_version(NAME, version).tags["ab_report_run"] == promoted["mlflow_run_id"]
    reloaded = ab_client.post("/admin/reload").json()
    assert reloaded["live"]["interest_model"] == f"{NAME}/{challenger}"
    assert reloaded["live"]["challenger_model"] is None  # champion and challenger are one version now
