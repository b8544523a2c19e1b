"""Tests for rec.encoding.encoder with the real all-MiniLM-L6-v2 weights (CPU)."""

from __future__ import annotations

import numpy as np
import pytest

from base_config import BASE, changed
from rec.encoding.encoder import TextEncoder, default_model_dir, pick_device

DIM = 384
TEXTS = [
    "Toy Story (1995). Genres: Animation, Children's, Comedy.",
    "Heat.",
    "Star Wars (1977). Genres: Action, Adventure, Romance, Sci-Fi, War.",
    "A farm boy joins a rebellion against a galactic empire, with a wise old knight and two droids.",
    "Fargo",
]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    # batch_size 2 so the 5 texts above span several length-sorted batches
    return TextEncoder(default_model_dir(), changed(BASE.encoder, device="cpu", batch_size=2))


def test_default_model_dir_has_weights():
    folder = default_model_dir()
    assert (folder / "config.json").is_file()
    assert (folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file()


def test_shape_dtype_unit_norm(encoder):
    out = encoder.encode(TEXTS)
    assert encoder.dim == DIM
    assert out.shape == (len(TEXTS), DIM)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(out).all()


def test_order_preserved_with_sort_by_length(encoder):
    assert encoder.config.sort_by_length
    batched = encoder.encode(TEXTS)
    one_by_one = np.stack([encoder.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    # distinct texts give distinct rows: a shuffle would not match above
    assert np.abs(batched[0] - batched[1]).max() > 0.1


def test_batch_size_argument_does_not_change_output(encoder):
    np.testing.assert_allclose(encoder.encode(TEXTS, batch_size=5), encoder.encode(TEXTS, batch_size=1), atol=1e-5)


def test_related_pair_scores_higher(encoder):
    anchor, related, unrelated = encoder.encode(
        ["space adventure film", "science fiction movie set in outer space", "a cookbook of french desserts"]
    )
    assert float(anchor @ related) > float(anchor @ unrelated) + 0.1


def test_empty_input(encoder):
    out = encoder.encode([])
    assert out.shape == (0, DIM)
    assert out.dtype == np.float32


def test_long_text_is_truncated(encoder):
    out = encoder.encode(["word " * 2000])
    assert out.shape == (1, DIM)
    assert np.linalg.norm(out[0]) == pytest.approx(1.0, abs=1e-5)


def test_pick_device():
    assert pick_device("cpu") == "cpu"
    assert pick_device("auto") in ("cpu", "cuda")
