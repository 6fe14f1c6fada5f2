"""Sentence embeddings from all-MiniLM-L6-v2 (model ``minilm-l6``) in numpy — no torch at run time.

The model is sentence-transformers' ``all-MiniLM-L6-v2``: a BERT encoder (6 layers,
hidden 384, 12 heads of 32, feed-forward 1536, exact-erf GELU, LayerNorm eps 1e-12,
absolute positions up to 512), followed by mean pooling over the real tokens and
L2 normalisation. Weights come from ``model.safetensors`` (read with
``safetensors.numpy``); text is split by the uncased WordPiece ``tokenizer.json``
(the ``tokenizers`` package). Both files are installed by ``restora models fetch``.

Shapes: ``embed(texts)`` takes ``n`` strings and returns float32 ``[n, 384]``,
each row of unit length, so the cosine similarity of two rows is their dot product.

Text longer than 256 word pieces (the model's ``max_seq_length``, special tokens
included) is truncated, as sentence-transformers does, with a log note.
Parity with sentence-transformers in PyTorch: ``benchmarks/text_encoder_parity.py``
(figures in ``models/cards/minilm-l6.json``).
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import erf

from restora.errors import ModelError, UsageError
from restora.models import store

log = logging.getLogger(__name__)

MODEL_ID = "minilm-l6"
DIM = 384
MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length (word pieces incl. [CLS] and [SEP])
_BATCH = 32  # at most this many texts per forward pass
_BATCH_TOKENS = 2048  # and at most this many padded tokens (bounds the [batch, 12, L, L] scores)


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis (biased variance, as torch)."""
    mean = x.mean(-1, keepdims=True)
    var = np.square(x - mean).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU with the exact erf, as BERT's ``hidden_act="gelu"``."""
    return (0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


class TextEncoder:
    """all-MiniLM-L6-v2 sentence encoder: ``embed(list of str) -> [n, 384]`` float32, unit rows.

    ``folder`` holds ``model.safetensors``, ``tokenizer.json`` and ``config.json``;
    by default the installed model (``store.require("minilm-l6")``, ModelError if
    missing). Use :func:`text_encoder` for a shared, cached instance.
    """

    def __init__(self, folder: Path | str | None = None):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder) if folder is not None else store.require(MODEL_ID)
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if cfg.get("hidden_act") != "gelu" or cfg.get("hidden_size") != DIM:
            raise ModelError(f"model '{MODEL_ID}': unexpected config {folder / 'config.json'}")
        self.layers = int(cfg["num_hidden_layers"])
        self.heads = int(cfg["num_attention_heads"])
        self.eps = float(cfg["layer_norm_eps"])
        w = load_file(str(folder / "model.safetensors"))
        f32 = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in w.items()
               if v.dtype.kind == "f"}
        self.word = f32["embeddings.word_embeddings.weight"]           # [30522, 384]
        self.pos = f32["embeddings.position_embeddings.weight"]        # [512, 384]
        self.type0 = f32["embeddings.token_type_embeddings.weight"][0]  # [384]: one segment
        self.emb_ln = (f32["embeddings.LayerNorm.weight"], f32["embeddings.LayerNorm.bias"])
        self.blocks = []
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(name: str, p: str = p) -> tuple[np.ndarray, np.ndarray]:
                # torch Linear stores [out, in]; keep [in, out] so that y = x @ W + b
                return np.ascontiguousarray(f32[p + name + ".weight"].T), f32[p + name + ".bias"]

            def ln(name: str, p: str = p) -> tuple[np.ndarray, np.ndarray]:
                return f32[p + name + ".weight"], f32[p + name + ".bias"]

            q, k, v = (lin(f"attention.self.{n}") for n in ("query", "key", "value"))
            self.blocks.append({
                "qkv": (np.concatenate([q[0], k[0], v[0]], 1), np.concatenate([q[1], k[1], v[1]])),
                "attn_out": lin("attention.output.dense"), "attn_ln": ln("attention.output.LayerNorm"),
                "ffn_in": lin("intermediate.dense"), "ffn_out": lin("output.dense"),
                "out_ln": ln("output.LayerNorm")})
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()  # the file pads every text to 128 tokens
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)  # the file truncates at 128

    # -- tokenising -----------------------------------------------------------
    def _encode(self, texts: list[str]) -> list:
        """``tokenizers`` encodings of ``texts`` (≤ 256 ids each); UsageError for a non-string or blank text."""
        for t in texts:
            if not isinstance(t, str):
                raise UsageError(f"text query must be a string, not {type(t).__name__}")
            if not t.strip():
                raise UsageError("text query is empty; describe the sound, e.g. 'dog barking'")
        encodings = self.tokenizer.encode_batch(list(texts))
        for t, enc in zip(texts, encodings):
            if enc.overflowing:
                log.info("text query of %d characters is longer than %d word pieces; "
                         "only its start is used: %.40r…", len(t), MAX_TOKENS, t)
        return encodings

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask, both int64 ``[n, L]`` (L = longest text, ≤ 256; zero padding)."""
        return _pad(self._encode(texts))

    # -- the network ----------------------------------------------------------
    def hidden(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last hidden states float32 ``[n, L, 384]`` for token ids / mask ``[n, L]``."""
        n, length = ids.shape
        x = self.word[ids] + self.pos[:length] + self.type0
        x = _layer_norm(x, *self.emb_ln, self.eps)
        head = DIM // self.heads
        # additive mask [n, 1, 1, L]: padding keys get the most negative float, as transformers does
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(head))
        for b in self.blocks:
            qkv = x @ b["qkv"][0] + b["qkv"][1]                                 # [n, L, 3·384]
            q, k, v = qkv.reshape(n, length, 3, self.heads, head).transpose(2, 0, 3, 1, 4)
            probs = (q * scale) @ k.transpose(0, 1, 3, 2)                       # [n, 12, L, L]
            probs += bias                                                       # softmax, in place
            probs -= probs.max(-1, keepdims=True)
            np.exp(probs, out=probs)
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(n, length, DIM)     # [n, L, 384]
            x = _layer_norm(x + ctx @ b["attn_out"][0] + b["attn_out"][1], *b["attn_ln"], self.eps)
            h = _gelu(x @ b["ffn_in"][0] + b["ffn_in"][1])                      # [n, L, 1536]
            x = _layer_norm(x + h @ b["ffn_out"][0] + b["ffn_out"][1], *b["out_ln"], self.eps)
        return x.astype(np.float32, copy=False)

    def embed(self, texts: list[str] | str) -> np.ndarray:
        """Unit-length sentence embeddings float32 ``[n, 384]`` of ``n`` texts (a lone str: n = 1).

        Mean of the last hidden states over the real tokens, then L2-normalised
        (sentence-transformers' Pooling + Normalize). UsageError for an empty or
        blank text; text over 256 word pieces is truncated (logged).
        """
        if isinstance(texts, str):
            texts = [texts]
        encodings = self._encode(list(texts))
        out = np.zeros((len(encodings), DIM), np.float32)
        for rows in _batches([len(e.ids) for e in encodings]):
            ids, mask = _pad([encodings[i] for i in rows])
            x = self.hidden(ids, mask)                                           # [b, L, 384]
            m = mask[..., None].astype(np.float32)
            pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)                 # [b, 384]
            norm = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[rows] = pooled / norm
        return out


def _batches(lengths: list[int]) -> list[list[int]]:
    """Indices grouped for forward passes: sorted by length (less padding, as sentence-transformers
    does), at most ``_BATCH`` texts and ``_BATCH_TOKENS`` padded tokens each (a text longer than the
    budget goes alone)."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if batches and len(batches[-1]) < _BATCH and (len(batches[-1]) + 1) * lengths[i] <= _BATCH_TOKENS:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _pad(encodings: list) -> tuple[np.ndarray, np.ndarray]:
    """Ids and attention mask int64 ``[n, L]`` of ``n`` encodings, zero-padded to the longest."""
    length = max((len(e.ids) for e in encodings), default=0)
    ids = np.zeros((len(encodings), length), np.int64)
    mask = np.zeros((len(encodings), length), np.int64)
    for row, enc in enumerate(encodings):
        ids[row, :len(enc.ids)] = enc.ids
        mask[row, :len(enc.ids)] = 1
    return ids, mask


@lru_cache(maxsize=1)
def text_encoder() -> TextEncoder:
    """The installed encoder, loaded once (about 90 MB of weights) and shared."""
    return TextEncoder()


def embed(texts: list[str] | str) -> np.ndarray:
    """``text_encoder().embed(texts)``: float32 ``[n, 384]``, unit rows."""
    return text_encoder().embed(texts)


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Cosine similarity: ``[n, d]`` × ``[m, d]`` → ``[n, m]``; two vectors ``[d]`` → a float.

    Rows are normalised here too, so raw (unnormalised) vectors are fine.
    """
    a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
    a2, b2 = np.atleast_2d(a32), np.atleast_2d(b32)
    a2 = a2 / np.maximum(np.linalg.norm(a2, axis=-1, keepdims=True), 1e-12)
    b2 = b2 / np.maximum(np.linalg.norm(b2, axis=-1, keepdims=True), 1e-12)
    sim = a2 @ b2.T
    if a32.ndim == 1 and b32.ndim == 1:
        return float(sim[0, 0])
    return sim
