"""Live preview through a real-time-paced audio device: latency and underruns.

Plays 60 s of noisy speech through JACK's dummy backend (a virtual sound card
driven by a clock, so callbacks arrive at the real rate) twice, in one run:

* the peer: plain playback of the original (A), no processing;
* Restora live preview: B with the DeepFilterNet3 streaming node rendered
  while it plays, starting cold at the first callback, with the attenuation
  limit changed every 10 s (each change re-renders from the playhead).

Printed per run: PortAudio output underflows, frames that B had to play dry
because the render was not ready, the render's lead over the playhead, and
for each parameter change the time until the new setting reaches the output
(render catch-up plus the device's output latency).

Needs jackd (``apt-get install --no-install-recommends jackd2``)::

    .venv/bin/python benchmarks/live_preview.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SERVER = "restora-bench"
RATE = 48000
PERIOD = 512  # the app's default buffer size (Preferences)


def start_jack() -> subprocess.Popen:
    if not shutil.which("jackd"):
        sys.exit("live_preview: jackd is missing: apt-get install --no-install-recommends jackd2")
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
    proc = subprocess.Popen(["jackd", "-n", SERVER, "--no-realtime", "-d", "dummy", "-r", str(RATE),
                             "-p", str(PERIOD)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["jack_wait", "-w", "-t", "10"], env=dict(env, JACK_DEFAULT_SERVER=SERVER), check=True,
                   stdout=subprocess.DEVNULL)
    os.environ.update(JACK_DEFAULT_SERVER=SERVER, JACK_NO_START_SERVER="1")
    return proc


def noisy_speech(seconds: float) -> np.ndarray:
    """float32 [frames, 1] at 48 kHz: the shared corpus mix if present, else the demo repeated."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import corpus_mix

        if corpus_mix.available():
            return corpus_mix.noisy_speech(seconds, RATE)[0][:, None]
    except (ImportError, AttributeError):
        pass
    import soundfile as sf
    import soxr

    from restora.app.main import demo_path

    audio, rate = sf.read(demo_path(), dtype="float32", always_2d=True)
    audio = soxr.resample(audio, rate, RATE)
    reps = int(np.ceil(seconds * RATE / len(audio)))
    return np.tile(audio, (reps, 1))[:int(seconds * RATE)].astype(np.float32)


def dfn3_preset(atten_lim_db: float):
    from restora.graph.preset import preset_from_dict

    return preset_from_dict({"restora_preset": 1, "name": "live", "outputs": {"processed": "dfn"},
                       "nodes": [{"id": "dfn", "type": "deepfilternet3",
                                  "params": {"atten_lim_db": atten_lim_db}}]}, "benchmark")


def play(app, player, renderer, source, seconds: float, live: bool) -> dict:
    """Play ``seconds`` of ``source``; with ``live``, B through DFN3 with a change every 10 s."""
    rate = source.sample_rate
    player.seek(0.0)
    if live:
        renderer.set_preset(dfn3_preset(100.0))
        player.set_provider(renderer)
        player.set_ab("B")
    else:
        renderer.set_preset(None)
        player.set_provider(None)
        player.set_ab("A")
    mixer = player.mixer()
    mixer.not_ready_frames = 0
    player.play()
    started = time.monotonic()
    leads, changes, pending, stats = [], [], None, {}
    next_change, setting = 10.0, 12.0
    while (elapsed := time.monotonic() - started) < seconds:
        app.processEvents()
        pos = mixer.position
        renderer.set_focus(pos)
        stats = player.stream_stats() or stats
        if live:
            covered = renderer.covered()
            ahead = [stop - pos for start, stop in covered if start <= pos < stop]
            if elapsed > 2.0:
                leads.append(ahead[0] / rate if ahead else 0.0)
            if pending is not None and ahead and ahead[0] > 0:
                changes.append(time.monotonic() - pending + stats.get("latency_s", 0.0))
                pending = None
            if elapsed >= next_change:
                renderer.set_preset(dfn3_preset(setting))
                pending, next_change, setting = time.monotonic(), next_change + 10.0, 112.0 - setting
        time.sleep(0.002)
    player.stop()
    return {"underflows": stats.get("underflows"), "callbacks": stats.get("callbacks"),
            "underflow_at": stats.get("underflow_at", []),
            "latency_ms": 1000 * stats.get("latency_s", 0.0), "dry_frames": mixer.not_ready_frames,
            "lead_min_s": min(leads) if leads else None,
            "lead_median_s": statistics.median(leads) if leads else None,
            "change_ms": [round(1000 * c) for c in changes]}


def block_latency(audio: np.ndarray, block_frames: int) -> dict:
    """Input block -> output block through the DFN3 node, as the renderer feeds it.

    Per block: the compute time of ``process`` and the audio the node still
    holds back afterwards (its look-ahead); their sum is the time from an
    input block entering to its samples leaving (ms).
    """
    from restora.graph.registry import node_class

    node = node_class("deepfilternet3")()
    node.start(RATE, audio.shape[1])
    pushed = emitted = 0
    compute, held = [], []
    for start in range(0, len(audio) - block_frames, block_frames):
        block = audio[start:start + block_frames]
        t0 = time.perf_counter()
        out = node.process(block)["main"]
        compute.append(1000 * (time.perf_counter() - t0))
        pushed, emitted = pushed + len(block), emitted + len(out)
        held.append(1000 * (pushed - emitted) / RATE)
    node.close()
    total = [c + h for c, h in zip(compute[5:], held[5:])]  # after the session warms up
    return {"block_ms": 1000 * block_frames / RATE, "compute_ms": statistics.median(compute[5:]),
            "held_ms": statistics.median(held[5:]), "median_ms": statistics.median(total), "max_ms": max(total)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    jack = start_jack()
    try:
        from PySide6.QtWidgets import QApplication

        from restora.app import audio_output
        from restora.app.player import Player, prepare_for_realtime
        from restora.app.render import RenderController
        from restora.app.source import SourceAudio

        audio_output.rescan()
        app = QApplication.instance() or QApplication([])
        source = SourceAudio.from_array(noisy_speech(args.seconds + 1), RATE, "live-bench")
        renderer = RenderController()
        renderer.set_source(source)
        player = Player()
        player.set_source(source)
        player.configure(device=None, blocksize=PERIOD, samplerate=None)
        player.set_level_match(True)
        prepare_for_realtime()  # as the main window does once it is built
        peer = play(app, player, renderer, source, args.seconds, live=False)
        ours = play(app, player, renderer, source, args.seconds, live=True)
        renderer.shutdown()
        player.close()
        latencies = [block_latency(source.data[:20 * RATE], frames) for frames in (480, 4096)]
        gc.unfreeze()
    finally:
        try:  # PortAudio must let go of the JACK server before it stops
            import sounddevice

            sounddevice._terminate()
        except (ImportError, OSError):
            pass
        jack.terminate()
        jack.wait(5)
    print(f"device: JACK dummy {RATE} Hz, period {PERIOD} frames; {args.seconds:.0f} s of paced playback each")
    print(f"{'run':42s} {'underflows':>10s} {'callbacks':>9s} {'dry frames':>10s} {'out lat ms':>10s}"
          f" {'lead min s':>10s} {'lead med s':>10s}")
    for name, r in (("plain playback of the original (peer)", peer), ("B: DFN3 live, changed every 10 s", ours)):
        lead_min = "-" if r["lead_min_s"] is None else f"{r['lead_min_s']:.2f}"
        lead_med = "-" if r["lead_median_s"] is None else f"{r['lead_median_s']:.2f}"
        print(f"{name:42s} {r['underflows']!s:>10s} {r['callbacks']!s:>9s} {r['dry_frames']:>10d}"
              f" {r['latency_ms']:>10.1f} {lead_min:>10s} {lead_med:>10s}")
    for name, r in (("peer", peer), ("ours", ours)):
        at = [f"{n * PERIOD / RATE:.2f} s" for n in r["underflow_at"]]
        print(f"underflows of {name} at: {', '.join(at) or 'none'}")
    if ours["change_ms"]:
        print(f"parameter change -> heard (ms): {ours['change_ms']} "
              f"(median {statistics.median(ours['change_ms']):.0f})")
    print("input block -> output block through the DFN3 node (ms): "
          "block, compute (median), held back (look-ahead), total median / max")
    for r in latencies:
        print(f"  {r['block_ms']:6.1f} {r['compute_ms']:8.1f} {r['held_ms']:8.1f} {r['median_ms']:8.1f} / {r['max_ms']:.1f}")
    if peer["underflows"] is not None and ours["underflows"] is not None:
        print(f"underflows ours/peer: {ours['underflows']} / {peer['underflows']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
