"""Concepts and captions for language-queried extraction.

Training captions come from TRAIN_TEMPLATES; evaluation uses EVAL_TEMPLATES and
PARAPHRASES, which training never sees, so the benchmark measures meaning,
not string matching.
"""

from __future__ import annotations

import numpy as np

TRAIN_TEMPLATES = ("{c}", "the {c}", "{c} sound", "the sound of {c}", "a recording of {c}", "{c} audio",
                   "{c} only", "isolate the {c}", "extract the {c}", "just the {c}", "sounds like {c}",
                   "someone recorded {c}",
                   # More phrasings (the held-out EVAL_TEMPLATES' words "keep", "want", "give", "part" stay unused)
                   "a {c} noise", "{c} noises", "{c} in the background", "loud {c}", "quiet {c}",
                   "{c} recorded outdoors", "{c} recorded indoors", "a short clip of {c}", "separate the {c}",
                   "pull out the {c}", "the {c} track", "the {c} stem", "focus on the {c}", "only hear the {c}",
                   "listen to the {c}", "what the {c} sounds like", "distant {c}", "{c} close to the microphone",
                   "there is {c} in this recording", "find the {c}", "{c}, isolated", "a mix with {c} in it",
                   "get rid of everything except the {c}", "the noise the {c} makes")
EVAL_TEMPLATES = ("I want to hear the {c}", "give me the {c} part", "keep the {c}")

# Category names of corpus/sfx → the phrase a user would type.
SFX_CATEGORIES = {"human voice": "human voice", "impact": "impact", "animal": "animal", "weapon": "weapon",
                  "magic/sci-fi": "sci-fi sound effect", "vehicle": "vehicle", "machine": "machine",
                  "water": "water", "footsteps": "footsteps", "fire": "fire", "weather": "weather",
                  "ambience": "ambience", "music instrument": "musical instrument", "crowd": "crowd",
                  "ui/beep": "beep", "other": ""}

# Held-out paraphrases of concepts (never used as training captions).
PARAPHRASES = {
    "dog barking": "a barking hound", "speech": "somebody talking", "drums": "the percussion kit",
    "violin": "a fiddle being bowed", "acoustic grand piano": "a grand piano", "bass": "the low bass line",
    "applause": "people clapping their hands", "gunshot": "a gun being fired", "helicopter": "a chopper flying",
    "bird tweet": "a small bird chirping", "church organ": "a pipe organ in a church", "flute": "a woodwind flute",
    "trumpet": "a brass trumpet", "cello": "a bowed cello", "closed hi-hat": "a closed hihat cymbal",
    "bass drum": "the kick drum", "acoustic snare drum": "a snare", "telephone ring": "a phone ringing",
    "seashore": "waves on a beach", "singing voice": "a person singing", "crash cymbal": "a crashing cymbal",
}


def captions(concept: str, templates=TRAIN_TEMPLATES) -> list[str]:
    """Every caption of ``concept`` from ``templates``."""
    return [t.format(c=concept) for t in templates]


def pack_embeddings(emb) -> dict:
    """Caption embeddings [n, 384] (unit rows) as int8 codes + one float32 scale per row.

    A quarter of float32's size: the caption table must fit beside a data shard and
    a checkpoint in the GPU machine's upload limit; the rounding error (≤ 0.4 % of
    a row's largest value) is far below the query noise the training adds anyway.
    """
    emb = np.asarray(emb, np.float32)
    scale = np.abs(emb).max(axis=1, keepdims=True).clip(1e-12) / 127.0
    return {"caption_emb": np.round(emb / scale).astype(np.int8), "caption_scale": scale.astype(np.float32)}


def unpack_embeddings(npz) -> np.ndarray:
    """float32 [n, 384] caption embeddings from a set written by ``pack_embeddings`` (or older float16 sets)."""
    emb = np.asarray(npz["caption_emb"]).astype(np.float32)
    return emb * np.asarray(npz["caption_scale"]) if "caption_scale" in npz else emb
