"""The nightly embed job on a real local Ray, LanceDB and MLflow store."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from catalog_items import FILTERABLE
from conftest import REPO_ROOT
from rec.config import RecConfig, load_config
from rec.registry.encoders import resolve_encoder
from rec.registry.encoders import connect  # this config's tracking and registry, not mlflow's global ones

pytestmark = pytest.mark.ray


def test_job_writes_every_item_with_its_encoder_version(embed_summary: dict, config: RecConfig) -> None:
    table = lancedb.connect(config.paths.lancedb_uri).open_table("items")
    rows = table.to_arrow()
    assert embed_summary["rows"] == rows.num_rows == 400
    assert embed_summary["encoder_nodes"] == 1  # one node here; tests/multinode spreads them
    assert "embedded_on" not in rows.column_names
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


def _vectors(config: RecConfig, version: int) -> dict[str, np.ndarray]:
    table = lancedb.connect(config.paths.lancedb_uri).open_table(config.embed.table)
    table.checkout(version)
    rows = table.to_arrow()
    return dict(zip(rows["item_id"].to_pylist(), rows["vector"].to_numpy(zero_copy_only=False)))


def test_a_rerun_embeds_only_the_items_whose_text_changed(ray_cluster: str, rec_home: Path, tmp_path: Path) -> None:
    """On stores of its own: the session's table stays as the other tests expect it."""
    from jobs.embed_catalog import embed_catalog

    shutil.copytree(rec_home / "data", tmp_path / "data")
    path = tmp_path / "rerun.yaml"
    path.write_text(yaml.safe_dump({"inherit": str(REPO_ROOT / "configs" / "base.yaml"),
                                    "paths": {"home": str(tmp_path)},
                                    "catalog": {"filterable": FILTERABLE}, "embed": {"actors": 2, "batch_size": 64}}))
    config = load_config(path)
    first = embed_catalog(config)
    assert (first["vectors_embedded"], first["vectors_reused"], first["reused_from_version"]) == (400, 0, None)

    items = pq.read_table(config.catalog.path).to_pylist()
    edited = next(i for i in items if i["item_id"] == "7")
    edited["title"] = "Twelve Monkeys, the director's cut"
    pq.write_table(pa.Table.from_pylist(items, schema=pq.read_schema(config.catalog.path)), config.catalog.path)
    second = embed_catalog(config)
    assert (second["vectors_embedded"], second["vectors_reused"]) == (1, 399)
    assert second["reused_from_version"] == first["table_version"] and second["rows"] == 400
    old, new = _vectors(config, first["table_version"]), _vectors(config, second["table_version"])
    for item_id in set(old) - {"7"}:
        np.testing.assert_array_equal(new[item_id], old[item_id])
    assert float(new["7"] @ old["7"]) < 0.99

    # Vectors made with another max length are not the same vectors: everything is embedded again.
    shorter = config.model_copy(update={"encoder": config.encoder.model_copy(update={"max_length": 16})})
    third = embed_catalog(shorter)
    assert (third["vectors_embedded"], third["vectors_reused"]) == (400, 0)
