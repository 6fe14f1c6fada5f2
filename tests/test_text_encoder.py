"""The numpy all-MiniLM-L6-v2 sentence encoder (``restora.models.text_encoder``, model ``minilm-l6``).

Needs the model in the store, as installed by ``scripts/setup.sh`` (fetched at
import time if missing, like the other model tests). The golden fixture
``fixtures/minilm_golden.npz`` holds sentence-transformers' (PyTorch) embeddings
of a few phrases, written by ``benchmarks/text_encoder_parity.py --write-golden``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from restora.errors import UsageError
from restora.models import fetch, text_encoder
from restora.models.text_encoder import DIM, MAX_TOKENS, embed, similarity

fetch.fetch("minilm-l6")  # no-op when already installed
GOLDEN = Path(__file__).parent / "fixtures" / "minilm_golden.npz"


def test_shape_dtype_and_unit_norm():
    vecs = embed(["dog barking", "a quiet room", "rain"])
    assert vecs.shape == (3, DIM) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert embed("dog barking").shape == (1, DIM)  # a lone string is one text
    assert embed([]).shape == (0, DIM)


def test_encoder_is_loaded_once():
    assert text_encoder.text_encoder() is text_encoder.text_encoder()


def test_paraphrase_closer_than_unrelated():
    dog, para, piano = embed(["dog barking", "a dog barks loudly", "piano"])
    assert similarity(dog, para) > similarity(dog, piano) + 0.3
    assert isinstance(similarity(dog, para), float)
    assert similarity(np.stack([dog, para]), np.stack([piano])).shape == (2, 1)


def test_batch_equals_one_by_one():
    texts = ["drums", "a long recording of an orchestra tuning before the concert begins",
             "hiss", "electric guitar with distortion", "x " * 400]  # lengths 3..256 word pieces
    batch = embed(texts)
    single = np.concatenate([embed([t]) for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-5)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_query_is_a_usage_error(text):
    with pytest.raises(UsageError, match="empty"):
        embed(["dog barking", text])


def test_non_string_is_a_usage_error():
    with pytest.raises(UsageError, match="string"):
        embed([None])  # type: ignore[list-item]


def test_very_long_query_is_truncated_with_a_note(caplog):
    words = " ".join(f"sound{i % 50} of rain on the roof" for i in range(300))  # ~2000 words
    assert len(words.split()) >= 1800
    ids, _ = text_encoder.text_encoder().tokenize([words])
    assert ids.shape == (1, MAX_TOKENS)
    with caplog.at_level(logging.INFO, logger="restora.models.text_encoder"):
        vec = embed([words])
    assert vec.shape == (1, DIM) and np.all(np.isfinite(vec))
    assert any("longer than 256 word pieces" in r.getMessage() for r in caplog.records)
    # only the first 256 word pieces count: a different tail changes nothing
    np.testing.assert_allclose(embed([words + " piano" * 100]), vec, atol=1e-6)


def test_non_english_text_embeds():
    vecs = embed(["Hund bellt laut im Garten", "犬が吠えている", "Пианино играет тихо", "🎹🥁"])
    assert vecs.shape == (4, DIM) and np.all(np.isfinite(vecs))
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_matches_sentence_transformers_golden():
    golden = np.load(GOLDEN)
    ours = embed([str(t) for t in golden["texts"]])
    np.testing.assert_allclose(ours, golden["embeddings"], atol=1e-4)
