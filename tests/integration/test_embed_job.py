"""The nightly embed job on a real local Ray, LanceDB and MLflow store."""

from __future__ import annotations

import dataclasses

import lancedb
import numpy as np
import pyarrow.compute as pc
import pytest

from rec.config import RecConfig
from rec.registry.encoders import resolve_encoder
from rec.registry.encoders import connect  # this config's tracking and registry, not mlflow's global ones

pytestmark = pytest.mark.ray


def test_job_writes_every_item_with_its_encoder_version(embed_summary: dict, config: RecConfig) -> None:
    table = lancedb.connect(config.paths.lancedb_uri).open_table("items")
    rows = table.to_arrow()
    assert embed_summary["rows"] == rows.num_rows == 400
    assert set(rows["encoder_version"].to_pylist()) == {embed_summary["encoder"]}
    vectors = np.stack(rows["vector"].to_numpy(zero_copy_only=False))
    assert vectors.shape == (400, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    toy_story = rows.filter(pc.equal(rows["item_id"], "1")).to_pylist()[0]
    assert toy_story["text"] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert toy_story["popularity"] == 452  # its ML-100k rating count


def test_job_logs_an_mlflow_run_and_publishes_the_champion(embed_summary: dict, config: RecConfig) -> None:
    client = connect(config.paths)
    run = client.get_run(embed_summary["mlflow_run_id"])
    assert run.data.metrics["rows"] == 400
    assert run.data.metrics["items_per_s"] > 0
    assert run.data.params["encoder"] == embed_summary["encoder"]
    champion = client.get_model_version_by_alias("text-encoder", "champion")
    assert f"text-encoder/{champion.version}" == embed_summary["encoder"]
    assert champion.tags["items_table_version"] == str(embed_summary["table_version"])


def test_failed_run_changes_nothing_live(embed_summary: dict, config: RecConfig) -> None:
    from jobs.embed_catalog import embed_catalog

    before = resolve_encoder(config.encoder, config.paths)
    table = lancedb.connect(config.paths.lancedb_uri).open_table("items")
    version_before = table.version
    failing = config.model_copy(update={"embed": config.embed.model_copy(update={"fail_after_rows": 64})})
    with pytest.raises(Exception, match="injected failure"):
        embed_catalog(failing)
    after = resolve_encoder(config.encoder, config.paths)
    assert dataclasses.astuple(after) == dataclasses.astuple(before)
    assert lancedb.connect(config.paths.lancedb_uri).open_table("items").version == version_before
