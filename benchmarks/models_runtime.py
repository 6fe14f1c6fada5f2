"""Speed and quality figures of the small models, for their model cards.

Run: ``.venv/bin/python benchmarks/models_runtime.py`` (fetches the models if missing).
Signals are the synthetic voice of the tests plus white noise, so quality numbers
compare settings with each other; they are not benchmark scores on real speech.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from test_models_runtime import run_node, snr_db, synthetic_voice  # noqa: E402

from restora.graph.nodes_models import GtcrnNode, VadNode  # noqa: E402
from restora.models import dnsmos  # noqa: E402


def main() -> None:
    sr = 16000
    rng = np.random.default_rng(0)
    clean = synthetic_voice(20, sr)
    noisy = clean + 0.1 * rng.standard_normal(len(clean)).astype(np.float32)
    figures: dict[str, dict] = {"cpu_count": {"value": os.cpu_count()}}

    model = dnsmos.DnsmosModel()
    t = time.perf_counter()
    r_noisy = dnsmos.score_array(noisy, sr, model)
    per_window = (time.perf_counter() - t) / len(r_noisy.windows)
    r_clean = dnsmos.score_array(clean, sr, model)
    figures["dnsmos"] = {"seconds_per_window": round(per_window, 3),
                         "clean": {k: round(v, 2) for k, v in r_clean.file.as_dict().items()},
                         "noisy": {k: round(v, 2) for k, v in r_noisy.file.as_dict().items()}}

    x = noisy[:, None]
    t = time.perf_counter()
    out, _ = run_node(GtcrnNode(), x, sr, sr)
    figures["gtcrn"] = {"rtf_16k_mono": round((time.perf_counter() - t) / 20, 3),
                        "snr_in_db": round(snr_db(clean, noisy), 2),
                        "snr_out_db": round(snr_db(clean, out[:, 0]), 2)}

    t = time.perf_counter()
    run_node(VadNode(), x, sr, sr)
    figures["silero-vad"] = {"rtf_16k": round((time.perf_counter() - t) / 20, 4)}
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
