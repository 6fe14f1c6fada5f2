"""Language-queried extraction on held-out mixtures: ours vs a label-matching router vs the mixture.

    .venv/bin/python benchmarks/extract_quality.py [--mixtures 30] [--seed 0] [--targets val|outsource|both]
        [--json out.json]

Two target sets (``--targets``, default both), each with its own tables:
``val`` (below) and ``outsource``, recordings from Debian packages that
neither the training data nor the corpus used (``benchmarks/lass_outsource.py``
builds them into ``.train/outsource`` if its manifest is missing; each file's
concepts come from that script's hand-written table, all of them names of the
model's concept table). Backgrounds are the corpus val ones for both sets; the
out-of-source conditions are named ``outsource seen / …`` etc.

Recordings: ../shared/corpus, ``val`` split only (never seen in training),
mono at 44.1 kHz (``restora.dsp.resample.resample``), high-passed at 20 Hz
(DC and sub-audio rumble out: see ``load``), 5 s segments (a longer
recording: a random window that is not near-silent; a shorter one-shot:
zero-padded at a random offset). Targets carry the concepts
``prepare_lass_data`` assigns them (noise_env labels, drum pieces / tabla /
bass samples, rendered stems drums / bass / piano / chorale voices, speech);
only targets with a concept the model was trained on (its concept table) are
used, and the query concept is the first such one (e.g. "tom", not "drums").
A mixture = target + one background at 0 dB (equal RMS over the 5 s), the
background being ``speech`` (val clean speech, clips joined), ``music`` (a
val music mix, or the sum of a val song's rendered stems) or ``other``
(val noise_env clips joined). A background never carries one of the target's
concepts (no speech over speech, no kick drum over a song with a drums stem)
nor the target's own recording or song. Targets are drawn concept first
(uniformly), then recording, so the many speech clips do not dominate.

Query sets, on the same mixtures: ``seen`` (the concept itself, e.g. "tom")
and ``paraphrase`` (``PARAPHRASES[concept]`` where it exists, else a held-out
``EVAL_TEMPLATES`` sentence); ``two-query``: two targets of disjoint concepts
mixed at 0 dB with nothing else, A extracted with A's seen query and B with
B's from the same mix (score: the mean of both). The two must really overlap
in time: the 20 ms frames where each is within 30 dB of its own loudest frame
(mean-square power) must coincide for at least min(1 s, half the shorter
one's active time); otherwise the pair and its segments are drawn again (so a
pair of short one-shots at distant offsets, which is trivially separable and
gave huge scores, no longer counts).

Methods: ``ours`` (``restora.models.lass.extractor().extract``); ``router``,
a label-matching router over existing nodes (sing/vocal/choir → ``separate``
spleeter-2stems vocals; speech/voice/talk/speak → the deepfilternet3 node's
output; drum/bass/piano/guitar/music/instrument and other GM-ish words →
spleeter accompaniment; anything else → the mixture unchanged; node outputs
cached per mixture); ``mixture`` (SI-SDRi 0 by definition; its SI-SDR is shown).

Metrics: SI-SDR improvement in dB (estimate's SI-SDR minus the mixture's,
both against the true target), mean and median per query set × background
and overall; the query confidence (cosine to the nearest trained concept)
for each query set; ours' real-time factor (extraction time / audio
duration, model loaded and warmed up first) on the 5 s mixtures and on a
60 s mixture (12 of them joined).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpus"
SR = 44100
SECONDS = 5.0
KINDS = ("speech", "music", "other")
SPEECH = ("speech", "human voice")
TARGET_SETS = ("val", "outsource")
FRAME = 0.02          # s, activity frames of the two-query overlap rule
ACTIVE_DB = 30.0      # a frame is active within this many dB of the recording's loudest frame
MIN_OVERLAP = 1.0     # s of common activity, or half the shorter one's active time if that is less
HIGHPASS = 20.0       # Hz, every recording is high-passed here (see ``load``)


# -- recordings -----------------------------------------------------------------
@dataclass(frozen=True)
class Rec:
    """One recording: ``path`` (corpus-relative; absolute for out-of-source ones), its ``concepts``, its ``group``.

    ``group`` is the song / kit / speaker (the path itself for an out-of-source recording).
    """

    path: str
    concepts: tuple[str, ...]
    group: str
    query: str = ""          # the concept asked for (first one the model knows)


@dataclass
class Mixture:
    """A 5 s mixture: ``mix`` and the true ``targets`` (float32 [n] at 44.1 kHz), one query concept per target."""

    key: str
    kind: str
    mix: np.ndarray
    targets: list[np.ndarray]
    concepts: list[str]
    names: list[str] = field(default_factory=list)


@lru_cache(maxsize=None)
def load(path: str) -> np.ndarray:
    """Mono float32 [n] at 44.1 kHz of the corpus file ``path`` (an absolute path is read as is), high-passed.

    The 20 Hz high-pass (4th-order Butterworth) removes DC offsets and sub-audio rumble: some game
    sound files carry most of their energy there, which would set the 0 dB level and dominate the
    SI-SDR although nobody hears it (nor asks for it).
    """
    from scipy.signal import butter, sosfilt

    from restora.dsp.resample import resample

    x, rate = sf.read(CORPUS / path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    x = resample(x, rate, SR) if rate != SR else x
    return sosfilt(butter(4, HIGHPASS, "highpass", fs=SR, output="sos"), x).astype(np.float32)


def val_rows() -> list[dict]:
    """The corpus manifest's val rows."""
    with open(CORPUS / "manifest.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["split"] == "val"]


def row_concepts(row: dict) -> list[str]:
    """Concepts of a val row exactly as ``prepare_lass_data.add_corpus`` assigns them ([] = unlabelled)."""
    from restora.models.training.prepare_lass_data import STEM_CONCEPTS, clean, instrument_concepts

    kind = row["kind"]
    if kind == "noise_env":
        return [clean(row["label"])]
    if kind == "instrument_sample":
        return instrument_concepts(row["label"])
    if kind == "music_stem_rendered":
        return list(STEM_CONCEPTS.get(row["label"].split(";")[0], []))
    return list(SPEECH) if kind == "speech_clean" else []


def pool_of(recs: list[Rec], known: set[str]) -> dict[str, list[Rec]]:
    """Query concept → ``recs`` whose concepts include one the model was trained on (the first is the query)."""
    out: dict[str, list[Rec]] = {}
    for rec in recs:
        seen = [c for c in rec.concepts if c in known]
        if seen:
            out.setdefault(seen[0], []).append(Rec(rec.path, rec.concepts, rec.group, seen[0]))
    return dict(sorted(out.items()))


def val_targets() -> list[Rec]:
    """Every val recording with its concepts (possibly none)."""
    return [Rec(row["path"], tuple(row_concepts(row)), row["group"]) for row in val_rows()]


def outsource_targets() -> list[Rec]:
    """The out-of-source recordings (absolute paths), built first by ``lass_outsource`` if missing."""
    import lass_outsource

    manifest = lass_outsource.CACHE / "manifest.csv"
    if not manifest.exists():
        lass_outsource.build()
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        path = str(lass_outsource.CACHE / row["path"])
        out.append(Rec(path, tuple(row["concepts"].split(";")), path))
    return out


def backgrounds() -> dict[str, list[Rec]]:
    """Background kind → candidate recordings (a music song is one Rec per stem, grouped by song)."""
    out: dict[str, list[Rec]] = {k: [] for k in KINDS}
    for row in val_rows():
        group = row["path"] if row["kind"] == "music_mix" else row["group"]  # a mix is a song of its own
        rec = Rec(row["path"], tuple(row_concepts(row)), group)
        if row["kind"] == "speech_clean":
            out["speech"].append(rec)
        elif row["kind"] in ("music_mix", "music_stem_rendered"):
            out["music"].append(rec)
        elif row["kind"] == "noise_env":
            out["other"].append(rec)
    return out


# -- segments and mixtures -------------------------------------------------------
def rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` (linear)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def segment(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of ``x``: a random window (not near-silent) if longer, else zero-padded at a random offset."""
    if len(x) <= n:
        start = int(rng.integers(0, n - len(x) + 1))
        return np.pad(x, (start, n - len(x) - start)).astype(np.float32)
    for _ in range(20):
        start = int(rng.integers(0, len(x) - n + 1))
        if rms(x[start:start + n]) >= 0.5 * rms(x):
            break
    return x[start:start + n].astype(np.float32)


def joined(recs: list[Rec], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of random ``recs`` (each at unit RMS) joined end to end, from a random start."""
    parts, total = [], 0
    while total < n + SR:
        x = load(recs[int(rng.integers(len(recs)))].path)
        parts.append(x / rms(x))
        total += len(x)
    full = np.concatenate(parts)
    start = int(rng.integers(0, len(full) - n))
    return full[start:start + n].astype(np.float32)


def background(kind: str, target: Rec, pool: list[Rec], n: int, rng: np.random.Generator) -> np.ndarray | None:
    """``n`` samples of a ``kind`` background free of ``target``'s concepts, recording and song (None: none fits)."""
    banned = set(target.concepts)
    if kind == "music":
        songs: dict[str, list[Rec]] = {}
        for r in pool:
            songs.setdefault(r.group, []).append(r)
        fits = [s for g, s in songs.items() if g != target.group and not banned & {c for r in s for c in r.concepts}]
        if not fits:
            return None
        song = fits[int(rng.integers(len(fits)))]
        stems = [load(r.path) for r in song]
        total = np.zeros(max(len(s) for s in stems), np.float32)
        for s in stems:
            total[:len(s)] += s
        return segment(total, n, rng)
    fits = [r for r in pool if r.path != target.path and not banned & set(r.concepts)]
    return joined(fits, n, rng) if fits else None


def mix_at_0db(parts: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Scale ``parts`` to equal RMS, sum them, keep the peak ≤ 0.9; returns (mix, scaled parts)."""
    parts = [p * (0.1 / rms(p)) for p in parts]
    mix = np.sum(parts, axis=0)
    scale = min(1.0, 0.9 / (float(np.max(np.abs(mix))) + 1e-12))
    return (mix * scale).astype(np.float32), [(p * scale).astype(np.float32) for p in parts]


def pick_target(pool: dict[str, list[Rec]], rng: np.random.Generator, exclude: set[str] = frozenset()) -> Rec:
    """A target recording: concept uniformly among ``pool``'s (minus ``exclude``), then a recording of it."""
    concepts = [c for c in pool if c not in exclude]
    recs = pool[concepts[int(rng.integers(len(concepts)))]]
    return recs[int(rng.integers(len(recs)))]


def active(x: np.ndarray) -> np.ndarray:
    """Bool [frames]: the 20 ms frames of ``x`` (44.1 kHz) within ``ACTIVE_DB`` of its loudest frame's power."""
    hop = int(FRAME * SR)
    frames = len(x) // hop
    power = np.mean(np.square(x[:frames * hop].reshape(frames, hop), dtype=np.float64), axis=1)
    return power >= np.max(power, initial=0.0) * 10 ** (-ACTIVE_DB / 10) if frames else np.zeros(0, bool)


def overlapping(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` (same length, 44.1 kHz) are active together ≥ min(1 s, half the shorter's activity)."""
    on_a, on_b = active(a), active(b)
    need = min(MIN_OVERLAP, 0.5 * FRAME * min(on_a.sum(), on_b.sum()))
    return bool(FRAME * np.sum(on_a & on_b) >= max(need, FRAME))   # at least one common frame


def stream(seed: int, part: int, target_set: str) -> np.random.Generator:
    """The random stream of one condition (val keeps the seeds it had before the outsource set existed)."""
    extra = [TARGET_SETS.index(target_set)] if target_set != "val" else []
    return np.random.default_rng([seed, part, *extra])


def build_pairs(kind: str, count: int, pool: dict[str, list[Rec]], bgs: dict[str, list[Rec]],
                seed: int, target_set: str = "val") -> list[Mixture]:
    """``count`` target-over-``kind`` mixtures (5 s, 0 dB), reproducible from ``seed``."""
    n, out = int(SECONDS * SR), []
    rng = stream(seed, KINDS.index(kind), target_set)
    while len(out) < count:
        target = pick_target(pool, rng)
        bg = background(kind, target, bgs[kind], n, rng)
        if bg is None:
            continue
        tgt = segment(load(target.path), n, rng)
        mix, (tgt, _) = mix_at_0db([tgt, bg])
        out.append(Mixture(f"{target_set}-{kind}-{len(out)}", kind, mix, [tgt], [target.query], [target.path]))
    return out


def build_two(count: int, pool: dict[str, list[Rec]], seed: int, target_set: str = "val") -> list[Mixture]:
    """``count`` mixtures of two overlapping targets with disjoint concepts at 0 dB (nothing else)."""
    n, out = int(SECONDS * SR), []
    rng = stream(seed, 99, target_set)
    while len(out) < count:
        a = pick_target(pool, rng)
        b = pick_target(pool, rng, exclude={a.query})
        if set(a.concepts) & set(b.concepts) or a.group == b.group:
            continue
        segments = [segment(load(r.path), n, rng) for r in (a, b)]
        if not overlapping(*segments):
            continue
        mix, parts = mix_at_0db(segments)
        out.append(Mixture(f"{target_set}-two-{len(out)}", "two", mix, parts, [a.query, b.query], [a.path, b.path]))
    return out


# -- queries and methods ---------------------------------------------------------
def paraphrase(concept: str, index: int) -> str:
    """The held-out wording of ``concept``: ``PARAPHRASES`` if listed, else an ``EVAL_TEMPLATES`` sentence."""
    from restora.models.training.lass_captions import EVAL_TEMPLATES, PARAPHRASES

    return PARAPHRASES.get(concept) or EVAL_TEMPLATES[index % len(EVAL_TEMPLATES)].format(c=concept)


SING = re.compile(r"\b(sing|vocal|choir|chorus|chorale)")
TALK = re.compile(r"\b(speech|speak|talk|voice|conversation|dialog|narrat)")
MUSIC = re.compile(r"\b(drum|bass|piano|guitar|music|instrument|percussion|cymbal|hi-?hat|snare|kick|toms?\b|"
                   r"tabla|cowbell|organ|violin|viola|fiddle|cello|string|flute|trumpet|brass|synth|sax|"
                   r"clarinet|harp|woodwind)")


def route(query: str) -> str:
    """The router's choice for ``query``: "vocals", "dfn3", "accompaniment" or "mixture"."""
    q = query.lower()
    if SING.search(q):
        return "vocals"
    if TALK.search(q):
        return "dfn3"
    return "accompaniment" if MUSIC.search(q) else "mixture"


def run_node(node, mix: np.ndarray, ports: tuple[str, ...], block: int = 4096) -> dict[str, np.ndarray]:
    """Drive ``node`` (start/process/finish) over mono ``mix`` [n]; returns each of ``ports`` as [n]."""
    node.start(SR, 1)
    outs = [node.process(mix[i:i + block, None]) for i in range(0, len(mix), block)]
    outs.append(node.finish())
    node.close()
    return {p: np.concatenate([o[p] for o in outs])[:, 0] for p in ports}


class Router:
    """Label-matching router over the ``separate`` (spleeter-2stems) and ``deepfilternet3`` nodes, cached."""

    def __init__(self) -> None:
        from restora.graph.nodes_dfn3 import Dfn3Node
        from restora.graph.nodes_separate import SeparateNode

        self.spleeter = SeparateNode(model="spleeter-2stems", threads=2)
        self.dfn3 = Dfn3Node(threads=2)
        self.cache: dict[tuple[str, str], np.ndarray] = {}

    def __call__(self, m: Mixture, query: str) -> np.ndarray:
        """The router's estimate [n] for ``query`` on mixture ``m``."""
        choice = route(query)
        if choice == "mixture":
            return m.mix
        if (m.key, choice) not in self.cache:
            if choice == "dfn3":
                self.cache[(m.key, choice)] = run_node(self.dfn3, m.mix, ("main",))["main"]
            else:
                stems = run_node(self.spleeter, m.mix, ("vocals", "accompaniment"))
                self.cache |= {(m.key, p): s for p, s in stems.items()}
        return self.cache[(m.key, choice)]


def ours(extractor, mix: np.ndarray, query: str) -> tuple[np.ndarray, float, float]:
    """(estimate [n], seconds of extraction, query confidence) of our extractor for ``query``."""
    info = extractor.understand(query)
    t0 = time.perf_counter()
    out = extractor.extract(mix[:, None], SR, info)[:, 0]
    return out, time.perf_counter() - t0, info.confidence


# -- metrics ---------------------------------------------------------------------
def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB of ``estimate`` against ``reference``."""
    ref, est = reference.astype(np.float64), estimate.astype(np.float64)
    target = ref * np.dot(est, ref) / (np.dot(ref, ref) + 1e-20)
    return float(10 * np.log10(np.sum(target ** 2) / (np.sum((est - target) ** 2) + 1e-20)))


def score(m: Mixture, queries: list[str], extractor, router: Router) -> dict:
    """One mixture under one query set: SI-SDRi (dB) of ours and the router, mixture SI-SDR, confidence, time."""
    from restora.models.lass import CONFIDENT

    rows = []
    for ref, query in zip(m.targets, queries):
        base = si_sdr(ref, m.mix)
        est, seconds, conf = ours(extractor, m.mix, query)
        rows.append({"ours": si_sdr(ref, est) - base, "router": si_sdr(ref, router(m, query)) - base,
                     "mixture": base, "confidence": conf, "seconds": seconds})
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["confident"] = float(np.mean([r["confidence"] >= CONFIDENT for r in rows]))
    return out | {"key": m.key, "queries": queries, "concepts": m.concepts, "routes": [route(q) for q in queries],
                  "recordings": m.names, "seconds": sum(r["seconds"] for r in rows)}


def summary(rows: list[dict]) -> dict:
    """Mean and median (dB) of each method, the mixture's SI-SDR, confidence stats, count."""
    out = {"n": len(rows)}
    for k in ("ours", "router", "mixture"):
        vals = [r[k] for r in rows]
        out[k] = {"mean": float(np.mean(vals)), "median": float(np.median(vals))}
    out["confidence"] = {"mean": float(np.mean([r["confidence"] for r in rows])),
                         "confident_share": float(np.mean([r["confident"] for r in rows]))}
    return out


def rtf(extractor, mixtures: list[Mixture]) -> dict:
    """Ours' real-time factor (seconds of processing / seconds of audio) on 12 mixtures joined (60 s)."""
    long = np.concatenate([m.mix for m in mixtures[:12]])
    _, seconds, _ = ours(extractor, long, "speech")
    return {"seconds_audio": len(long) / SR, "seconds": seconds, "rtf": seconds / (len(long) / SR)}


# -- report ----------------------------------------------------------------------
def table(results: dict[str, dict]) -> str:
    """Markdown table: condition rows; ours / router SI-SDRi and mixture SI-SDR as mean (median), dB."""
    lines = ["| condition | N | ours SI-SDRi | router SI-SDRi | mixture SI-SDR | query confidence (confident) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, s in results.items():
        cells = [f"{s[k]['mean']:+.2f} ({s[k]['median']:+.2f})" for k in ("ours", "router", "mixture")]
        conf = f"{s['confidence']['mean']:.2f} ({100 * s['confidence']['confident_share']:.0f} %)"
        lines.append(f"| {name} | {s['n']} | " + " | ".join(cells) + f" | {conf} |")
    return "\n".join(lines)


def evaluate(target_set: str, pool: dict[str, list[Rec]], bgs: dict[str, list[Rec]], args: argparse.Namespace,
             extractor, router: Router) -> tuple[dict[str, list[dict]], list[Mixture]]:
    """Per-mixture rows of every condition of ``target_set`` (named with its prefix) and its target-over-bg mixtures."""
    prefix = prefix_of(target_set)
    pairs = [m for k in KINDS for m in build_pairs(k, args.mixtures, pool, bgs, args.seed, target_set)]
    two = build_two(args.mixtures, pool, args.seed, target_set)
    rows: dict[str, list[dict]] = {}
    for i, m in enumerate(pairs):
        rows.setdefault(f"{prefix}seen / {m.kind}", []).append(score(m, m.concepts, extractor, router))
        rows.setdefault(f"{prefix}paraphrase / {m.kind}", []).append(
            score(m, [paraphrase(c, i % args.mixtures) for c in m.concepts], extractor, router))
    print(f"  {target_set}: target over background done", flush=True)
    rows[f"{prefix}two-query (A then B)"] = [score(m, m.concepts, extractor, router) for m in two]
    return rows, pairs


def prefix_of(target_set: str) -> str:
    """Condition-name prefix of ``target_set``: none for val (names as before), "outsource " for the other."""
    return "" if target_set == "val" else f"{target_set} "


def results_of(target_set: str, rows: dict[str, list[dict]]) -> dict[str, dict]:
    """Summaries of ``target_set``'s conditions in table order, with the per-query-set and overall pools."""
    p = prefix_of(target_set)
    results = {name: summary(r) for name, r in rows.items()}
    for qset in ("seen", "paraphrase"):
        results[f"{p}{qset} / all"] = summary([r for k in KINDS for r in rows[f"{p}{qset} / {k}"]])
    order = [f"{p}{q} / {k}" for q in ("seen", "paraphrase") for k in (*KINDS, "all")] + [f"{p}two-query (A then B)"]
    results = {k: results[k] for k in order}
    results[f"{p}overall"] = summary([r for rs in rows.values() for r in rs])
    return results


def main() -> int:
    """Build the mixtures, run every method on every query set of each target set, print the tables and the RTF."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mixtures", type=int, default=30, help="mixtures per condition")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", choices=(*TARGET_SETS, "both"), default="both")
    parser.add_argument("--json", type=Path, help="write the summary (and per-mixture rows) here")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from measure import machine

    from restora.models import lass

    extractor = lass.extractor()
    known = set(extractor.concepts)
    sets = TARGET_SETS if args.targets == "both" else (args.targets,)
    recs = {"val": val_targets, "outsource": outsource_targets}
    pools = {s: pool_of(recs[s](), known) for s in sets}
    bgs = backgrounds()
    print(f"{args.mixtures} mixtures per condition, {SECONDS:g} s mono at 44.1 kHz, 0 dB, seed {args.seed}; "
          f"{machine()}", flush=True)
    for s, pool in pools.items():
        print(f"{s}: {len(pool)} target concepts: {', '.join(pool)}", flush=True)
    ours(extractor, np.zeros(SR, np.float32), "speech")  # warm-up: sessions and encoder loaded
    router = Router()
    rows: dict[str, list[dict]] = {}
    results: dict[str, dict] = {}
    pairs: dict[str, list[Mixture]] = {}
    for s, pool in pools.items():
        set_rows, pairs[s] = evaluate(s, pool, bgs, args, extractor, router)
        set_results = results_of(s, set_rows)
        rows |= set_rows
        results |= set_results
        print(f"\n{s} targets\n" + table(set_results), flush=True)
    short = [r for rs in rows.values() for r in rs]
    speed = {"rtf_5s": float(np.sum([r["seconds"] for r in short]) /
                             np.sum([len(r["queries"]) * SECONDS for r in short])),
             "long": rtf(extractor, pairs[sets[0]])}
    print(f"ours, real-time factor on CPU ({extractor.provider}, threads: ONNX Runtime default): "
          f"{speed['rtf_5s']:.3f} on the 5 s mixtures, {speed['long']['rtf']:.3f} on a "
          f"{speed['long']['seconds_audio']:.0f} s mixture")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "seed": args.seed, "mixtures": args.mixtures,
                                         "concepts": {s: list(p) for s, p in pools.items()}, "results": results,
                                         "speed": speed, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
