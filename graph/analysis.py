"""``restora analyze``: one streaming pass of measurements over a file."""

from __future__ import annotations

from pathlib import Path

from restora.dsp import audio_io
from restora.dsp.bandwidth import BandwidthEstimator
from restora.graph.taps import MeterTap


def analyze_file(path: Path, dnsmos: bool = True, dnsmos_hop_s: int = 9,
                 block_frames: int = 1 << 16) -> dict:
    """Facts and measurements of ``path`` with the keys of ``restora analyze --json``.

    Keys: duration_s, sample_rate, channels, lufs, true_peak_db, bandwidth_hz,
    dnsmos {sig, bak, ovrl, p808}; values that do not exist are None.
    """
    info = audio_io.probe(path)
    meter = MeterTap(None, info.sample_rate, info.channels, dnsmos=dnsmos, dnsmos_hop_s=dnsmos_hop_s)
    bandwidth = BandwidthEstimator(info.sample_rate)
    frames = 0
    for block in audio_io.read_blocks(path, block_frames, info=info):
        meter.write(block)
        bandwidth.process(block)
        frames += len(block)
    measured = meter.results()
    band = bandwidth.finish()
    return {
        "duration_s": round(frames / info.sample_rate, 6),
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "lufs": measured["lufs"],
        "true_peak_db": measured["true_peak_db"],
        "bandwidth_hz": None if band is None else round(band, 1),
        "dnsmos": measured["dnsmos"],
    }
