"""Concepts and captions for language-queried extraction.

Training captions come from TRAIN_TEMPLATES; evaluation uses EVAL_TEMPLATES and
PARAPHRASES, which training never sees, so the benchmark measures meaning,
not string matching.
"""

from __future__ import annotations

TRAIN_TEMPLATES = ("{c}", "the {c}", "{c} sound", "the sound of {c}", "a recording of {c}", "{c} audio",
                   "{c} only", "isolate the {c}", "extract the {c}", "just the {c}", "sounds like {c}",
                   "someone recorded {c}")
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
