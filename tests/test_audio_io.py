"""Audio file I/O: round trips, streaming, PyAV fallback, dither, clipping, atomic writes, errors."""

from __future__ import annotations

import errno
import logging
import os
import struct

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from restora.dsp.audio_info import AudioInfo
from restora.dsp.audio_io import (FLOAT, AudioWriter, Bext, default_output_spec, probe,
                                  read_all, read_blocks)
from restora.errors import AudioInputError, AudioOutputError

av = pytest.importorskip("av")


# -- fixtures and helpers ----------------------------------------------------------


def chirp(n: int, sr: int, channels: int = 2, amp: float = 0.5) -> np.ndarray:
    """float32 [n, channels]: a 200 Hz -> sr/8 sweep, slightly different per channel."""
    t = np.arange(n) / sr
    f1 = sr / 8
    phase = 2 * np.pi * (200 * t + (f1 - 200) * t ** 2 / (2 * t[-1] if n > 1 else 1))
    return np.stack([amp * np.sin(phase + c) for c in range(channels)], axis=1).astype(np.float32)


def on_grid(x: np.ndarray, bits: int) -> np.ndarray:
    """``x`` rounded to the ``bits``-bit grid, so writing it needs no requantisation."""
    scale = 2.0 ** (bits - 1)
    return (np.round(x * scale) / scale).astype(np.float32)


def write(path, x: np.ndarray, sr: int, **kw) -> None:
    with AudioWriter(path, sr, x.shape[1], **kw) as w:
        w.write(x)


def aligned_correlation(ref: np.ndarray, out: np.ndarray, max_lag: int = 4096) -> float:
    """Pearson correlation of channel 0 after the best lag in [-max_lag, max_lag]."""
    a, b = ref[:, 0].astype(np.float64), out[:, 0].astype(np.float64)
    xc = scipy.signal.correlate(b, a, mode="full", method="fft")
    lags = np.arange(-len(a) + 1, len(b))
    keep = np.abs(lags) <= max_lag
    lag = int(lags[keep][np.argmax(xc[keep])])
    a, b = (a, b[lag:]) if lag >= 0 else (a[-lag:], b)
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def encode_with_pyav(path, x: np.ndarray, sr: int, video: bool = False) -> None:
    """Write ``x`` (float32 [frames, 1|2]) as AAC into an MP4/M4A, optionally with a tiny video."""
    layout = "stereo" if x.shape[1] == 2 else "mono"
    # The MP4 edit list states the length in movie timescale units (ms by
    # default); at the audio rate it is sample exact.
    with av.open(str(path), "w", options={"movie_timescale": str(sr)}) as container:
        if video:
            vstream = container.add_stream("mpeg4", rate=10)
            vstream.width, vstream.height, vstream.pix_fmt = 32, 32, "yuv420p"
        astream = container.add_stream("aac", rate=sr, layout=layout)
        for i in range(0, len(x), 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[i:i + 1024].T),
                                               format="fltp", layout=layout)
            frame.sample_rate, frame.pts = sr, i
            container.mux(astream.encode(frame))
            if video and i % (sr // 10) < 1024:
                image = np.full((32, 32, 3), i % 255, np.uint8)
                container.mux(vstream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(astream.encode(None))
        if video:
            container.mux(vstream.encode(None))


def video_only_mp4(path) -> None:
    with av.open(str(path), "w") as container:
        vstream = container.add_stream("mpeg4", rate=10)
        vstream.width, vstream.height, vstream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(5):
            image = np.zeros((32, 32, 3), np.uint8)
            container.mux(vstream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(vstream.encode(None))


# -- lossless round trips ------------------------------------------------------------


@pytest.mark.parametrize("ext,bit_depth,subtype", [
    ("wav", 16, "PCM_16"), ("wav", 24, "PCM_24"), ("wav", 32, "PCM_32"), ("wav", FLOAT, "FLOAT"),
    ("flac", 16, "PCM_16"), ("flac", 24, "PCM_24"), ("aiff", 16, "PCM_16"), ("aiff", 24, "PCM_24"),
])
def test_lossless_round_trip_is_exact(tmp_path, ext, bit_depth, subtype):
    sr, n = 48000, 12345
    x = chirp(n, sr)
    if bit_depth in (16, 24):
        x = on_grid(x, bit_depth)
    path = tmp_path / f"out.{ext}"
    write(path, x, sr, bit_depth=bit_depth)
    info = probe(path)
    assert (info.sample_rate, info.channels, info.frames, info.subtype) == (sr, 2, n, subtype)
    assert info.bit_depth == (32 if bit_depth == FLOAT else bit_depth)
    assert info.is_float == (bit_depth == FLOAT)
    y, rate = read_all(path)
    assert rate == sr and y.dtype == np.float32 and y.shape == (n, 2)
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-9 if bit_depth != 32 else 2.0 ** -31)


@pytest.mark.parametrize("sr", [8000, 44100, 96000, 192000])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_rates_and_channel_counts(tmp_path, sr, channels):
    x = on_grid(chirp(sr // 20, sr, channels), 24)
    path = tmp_path / "out.flac"
    write(path, x, sr, bit_depth=24)
    info = probe(path)
    assert (info.sample_rate, info.channels, info.frames) == (sr, channels, len(x))
    np.testing.assert_array_equal(read_all(path)[0], x)


def test_small_wav_is_plain_riff(tmp_path):
    path = tmp_path / "out.wav"
    write(path, chirp(1000, 44100), 44100, bit_depth=24)
    head = path.read_bytes()[:12]
    assert head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    assert probe(path).format == "WAV"


# -- reading what others wrote -------------------------------------------------------


@pytest.mark.parametrize("subtype,bits,tolerance", [
    ("PCM_U8", 8, 1 / 128), ("ULAW", 8, 0.02), ("ALAW", 8, 0.02), ("DOUBLE", 64, 1e-7),
])
def test_reads_8bit_companded_and_double_wav(tmp_path, subtype, bits, tolerance):
    x = chirp(8000, 8000, 1)
    path = tmp_path / "in.wav"
    sf.write(path, x, 8000, subtype=subtype)
    info = probe(path)
    assert (info.subtype, info.bit_depth) == (subtype, bits)
    np.testing.assert_allclose(read_all(path)[0], x, atol=tolerance)


def test_reads_rf64(tmp_path):
    x = on_grid(chirp(5000, 48000), 24)
    path = tmp_path / "in.wav"
    sf.write(path, x, 48000, subtype="PCM_24", format="RF64")
    assert path.read_bytes()[:4] == b"RF64"
    info = probe(path)
    assert (info.format, info.frames) == ("RF64", 5000)
    np.testing.assert_array_equal(read_all(path)[0], x)


# -- lossy formats --------------------------------------------------------------------


@pytest.mark.parametrize("ext,sr", [("ogg", 44100), ("mp3", 44100), ("opus", 48000)])
def test_lossy_round_trip_correlates(tmp_path, ext, sr):
    n = sr
    x = chirp(n, sr)
    path = tmp_path / f"out.{ext}"
    write(path, x, sr, quality=0.8)
    info = probe(path)
    assert info.bit_depth is None and info.lossy and info.channels == 2
    y, _ = read_all(path)
    assert len(y) == n == info.frames  # libsndfile trims encoder delay and padding
    assert aligned_correlation(x, y) > 0.95


@pytest.mark.parametrize("ext", ["ogg", "mp3"])
def test_lossy_quality_changes_size(tmp_path, ext):
    x = chirp(44100, 44100)
    write(tmp_path / f"low.{ext}", x, 44100, quality=0.0)  # the lowest quality is accepted, too
    write(tmp_path / f"high.{ext}", x, 44100, quality=1.0)
    assert (tmp_path / f"low.{ext}").stat().st_size < (tmp_path / f"high.{ext}").stat().st_size


@pytest.mark.parametrize("name,video,fmt", [("in.m4a", False, "M4A"), ("in.mp4", True, "MP4")])
def test_reads_aac_through_pyav(tmp_path, name, video, fmt):
    sr, n = 44100, 44100
    x = chirp(n, sr)
    path = tmp_path / name
    encode_with_pyav(path, x, sr, video=video)
    info = probe(path)
    assert (info.backend, info.format, info.subtype) == ("pyav", fmt, "AAC")
    assert (info.sample_rate, info.channels, info.frames, info.bit_depth) == (sr, 2, n, None)
    y, rate = read_all(path)
    assert rate == sr and y.shape == (n, 2) and y.dtype == np.float32
    assert aligned_correlation(x, y, max_lag=64) > 0.95


# -- streaming -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["in.wav", "in.m4a"])
def test_block_size_does_not_change_data(tmp_path, name):
    sr, n = 48000, 12345
    x = chirp(n, sr)
    path = tmp_path / name
    if name.endswith(".wav"):
        write(path, x, sr, bit_depth=FLOAT)
    else:
        encode_with_pyav(path, x, sr)
    whole = None
    for size in (1, 1000, 48000):
        blocks = list(read_blocks(path, size))
        assert all(len(b) == size for b in blocks[:-1]) and 0 < len(blocks[-1]) <= size
        assert all(b.shape[1] == 2 and b.dtype == np.float32 for b in blocks)
        data = np.concatenate(blocks)
        whole = data if whole is None else whole
        np.testing.assert_array_equal(data, whole)
    assert len(whole) == n


# -- dither and clipping --------------------------------------------------------------


def _quiet_sine_error(tmp_path, name: str, seed: int = 0) -> np.ndarray:
    """Error in 16-bit LSB of writing a 3-LSB float sine (bin-centred, 65536 frames) to 16 bits."""
    sr, n, k = 48000, 65536, 1001
    lsb = 2.0 ** -15
    x = (3 * lsb * np.sin(2 * np.pi * k * np.arange(n) / n)).astype(np.float32)[:, None]
    path = tmp_path / name
    write(path, x, sr, bit_depth=16, seed=seed)
    return (read_all(path)[0][:, 0].astype(np.float64) - x[:, 0]) / lsb


def test_16bit_output_is_tpdf_dithered_and_reproducible(tmp_path):
    err = _quiet_sine_error(tmp_path, "a.wav")
    # TPDF (LSB²/6) plus rounding (LSB²/12): LSB²/4. Plain rounding gives LSB²/12.
    assert 0.22 < np.var(err) < 0.28
    assert abs(np.mean(err)) < 0.02
    # Dithered error is white: no harmonics of the 1001-bin sine stand out.
    power = np.abs(np.fft.rfft(err)) ** 2
    harmonics = power[[1001 * h for h in range(1, 10)]]
    assert harmonics.max() < 20 * np.median(power)
    np.testing.assert_array_equal(err, _quiet_sine_error(tmp_path, "b.wav"))
    assert not np.array_equal(err, _quiet_sine_error(tmp_path, "c.wav", seed=1))


def test_clip_policy_clip_counts_and_warns(tmp_path, caplog):
    x = np.linspace(-1.5, 1.5, 3001, dtype=np.float32)[:, None]
    path = tmp_path / "out.wav"
    with caplog.at_level(logging.WARNING):
        with AudioWriter(path, 48000, 1, bit_depth=24) as w:
            w.write(x)
    assert w.clipped_samples == int(np.count_nonzero(np.abs(x) > 1.0))
    assert w.peak == pytest.approx(1.5)
    assert "clipped" in caplog.text
    y = read_all(path)[0]
    assert y.max() <= 1.0 and y.min() >= -1.0


def test_clip_policy_error_leaves_nothing(tmp_path):
    with pytest.raises(AudioOutputError, match="full scale"):
        write(tmp_path / "out.wav", np.full((100, 1), 1.2, np.float32), 48000,
              bit_depth=16, clip_policy="error")
    assert os.listdir(tmp_path) == []


def test_float_output_keeps_overs(tmp_path):
    x = np.full((100, 1), 1.5, np.float32)
    path = tmp_path / "out.wav"
    write(path, x, 48000, bit_depth=FLOAT)
    np.testing.assert_array_equal(read_all(path)[0], x)


# -- atomic writes and refusals --------------------------------------------------------


def test_exception_inside_with_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with AudioWriter(tmp_path / "out.wav", 48000, 2) as w:
            w.write(chirp(1000, 48000))
            names = os.listdir(tmp_path)
            assert len(names) == 1 and names[0].startswith(".out.wav.restora-part-")
            raise RuntimeError("cancelled")
    assert os.listdir(tmp_path) == []


def test_abort_leaves_no_file(tmp_path):
    w = AudioWriter(tmp_path / "out.flac", 48000, 2)
    w.write(chirp(1000, 48000))
    w.abort()
    assert os.listdir(tmp_path) == []


def test_existing_target_needs_overwrite(tmp_path):
    path = tmp_path / "out.wav"
    path.write_bytes(b"precious")
    with pytest.raises(AudioOutputError, match="already exists"):
        AudioWriter(path, 48000, 2)
    assert path.read_bytes() == b"precious" and os.listdir(tmp_path) == ["out.wav"]
    write(path, chirp(100, 48000), 48000, overwrite=True)
    assert probe(path).frames == 100


def test_refuses_to_overwrite_the_input(tmp_path):
    src = tmp_path / "in.wav"
    write(src, chirp(100, 48000), 48000)
    link = tmp_path / "link.wav"
    os.link(src, link)
    for target in (src, link):
        with pytest.raises(AudioOutputError, match="input file"):
            AudioWriter(target, 48000, 2, overwrite=True, forbid_same_as=src)
    assert probe(src).frames == 100


def test_disk_full_is_reported_and_cleaned_up(tmp_path, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    w = AudioWriter(tmp_path / "out.wav", 48000, 2)
    monkeypatch.setattr(sf.SoundFile, "write", full)
    with pytest.raises(AudioOutputError, match="disk full while writing .*out.wav"):
        w.write(chirp(100, 48000))
    assert os.listdir(tmp_path) == []


def test_refuses_nan_on_output(tmp_path):
    x = chirp(100, 48000)
    x[50, 1] = np.nan
    with pytest.raises(AudioOutputError, match="NaN"):
        write(tmp_path / "out.flac", x, 48000)
    assert os.listdir(tmp_path) == []


def test_unknown_output_format(tmp_path):
    with pytest.raises(AudioOutputError, match="unknown output format"):
        AudioWriter(tmp_path / "out.xyz", 48000, 2)
    with pytest.raises(AudioOutputError, match="FLAC takes"):
        AudioWriter(tmp_path / "out.flac", 48000, 2, bit_depth=FLOAT)


# -- bad inputs ------------------------------------------------------------------------


def _missing(tmp_path):
    return tmp_path / "missing.wav"


def _folder(tmp_path):
    (tmp_path / "folder.wav").mkdir()
    return tmp_path / "folder.wav"


def _empty(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    return tmp_path / "empty.wav"


def _text(tmp_path):
    (tmp_path / "notes.wav").write_text("these are not the samples you are looking for\n" * 50)
    return tmp_path / "notes.wav"


def _truncated_header(tmp_path):
    write(tmp_path / "full.wav", chirp(1000, 48000), 48000, bit_depth=16)
    (tmp_path / "cut.wav").write_bytes((tmp_path / "full.wav").read_bytes()[:30])
    return tmp_path / "cut.wav"


def _no_frames(tmp_path):
    sf.write(tmp_path / "silent.wav", np.zeros((0, 2), np.float32), 48000)
    return tmp_path / "silent.wav"


def _video_only(tmp_path):
    video_only_mp4(tmp_path / "video.mp4")
    return tmp_path / "video.mp4"


@pytest.mark.parametrize("make,message", [
    (_missing, "not found"), (_folder, "folder"), (_empty, "empty"),
    (_text, "not a readable audio file|no audio stream"),
    (_truncated_header, "not a readable audio file|no audio|damaged"),
    (_no_frames, "0 frames"), (_video_only, "no audio stream"),
])
def test_bad_input_names_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(AudioInputError, match=message) as caught:
        probe(path)
    assert str(path) in str(caught.value)
    with pytest.raises(AudioInputError):
        read_blocks(path, 1024)


def test_nan_samples_raise_while_streaming(tmp_path):
    x = chirp(48000, 48000)
    x[24000, 0] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, x, 48000, subtype="FLOAT")
    blocks = read_blocks(path, 4800)
    for _ in range(5):  # the blocks before the bad sample stream normally
        next(blocks)
    with pytest.raises(AudioInputError, match=r"nan\.wav.*NaN.* at 0\.500 s"):
        next(blocks)


def test_damaged_flac_raises_while_streaming(tmp_path):
    path = tmp_path / "damaged.flac"
    write(path, chirp(44100, 44100), 44100)
    data = bytearray(path.read_bytes())
    third = len(data) // 3
    data[third:third + 2000] = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(AudioInputError, match=r"damaged\.flac: damaged audio data"):
        read_all(path)


# -- metadata --------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "aiff"])
def test_tags_round_trip(tmp_path, ext):
    tags = {"title": "Take 3", "artist": "Restora", "album": "Tests", "date": "2024",
            "comment": "noise reduced", "ignored_key": "dropped"}
    path = tmp_path / f"out.{ext}"
    write(path, chirp(4800, 48000), 48000, tags=tags)
    got = probe(path).tags
    for key in ("title", "artist", "comment"):
        assert got[key] == tags[key]
    assert "ignored_key" not in got


def test_bext_round_trip_and_layout(tmp_path):
    sr = 48000
    bext = Bext(description="Scene 12 take 3", originator="Restora", originator_reference="REF42",
                origination_date="2024-05-06", origination_time="07:08:09",
                time_reference=sr * 3600 * 10 + 123, coding_history="A=PCM,F=48000,W=24,M=stereo\r\n")
    path = tmp_path / "out.wav"
    write(path, chirp(4800, sr), sr, bext=bext, tags={"title": "t"})
    info = probe(path)
    got = info.bext
    assert got is not None
    assert (got.description, got.originator, got.originator_reference) == (
        bext.description, bext.originator, bext.originator_reference)
    assert (got.origination_date, got.origination_time) == (bext.origination_date, bext.origination_time)
    assert got.time_reference == bext.time_reference
    assert info.time_reference_s == pytest.approx(36000 + 123 / sr)
    assert got.coding_history.startswith("A=PCM,F=48000,W=24,M=stereo")
    # Check the chunk as EBU Tech 3285 lays it out, independently of libsndfile.
    data = path.read_bytes()
    at = data.index(b"bext") + 8
    assert data[at:at + 15] == b"Scene 12 take 3"
    assert struct.unpack_from("<Q", data, at + 338)[0] == bext.time_reference


def test_metadata_carries_from_probe_to_writer(tmp_path):
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    write(src, chirp(4800, 48000), 48000, bext=Bext(time_reference=4242), tags={"title": "x"})
    info = probe(src)
    rate, channels, bit_depth = default_output_spec(info, out)
    write(out, read_all(src)[0], rate, bit_depth=bit_depth, tags=info.tags, bext=info.bext,
          forbid_same_as=src)
    got = probe(out)
    assert got.bext.time_reference == 4242 and got.tags["title"] == "x" and got.bit_depth == 24


# -- output defaults -------------------------------------------------------------------


def _info(sr=48000, channels=2, bit_depth=24, is_float=False, subtype="PCM_24"):
    return AudioInfo(path=None, sample_rate=sr, channels=channels, frames=1, duration_s=1.0,
                     format="WAV", subtype=subtype, bit_depth=bit_depth, is_float=is_float)


@pytest.mark.parametrize("info,out,expected", [
    (_info(), "o.wav", (48000, 2, 24)),
    (_info(bit_depth=16), "o.flac", (48000, 2, 16)),
    (_info(bit_depth=32, is_float=True), "o.wav", (48000, 2, FLOAT)),
    (_info(bit_depth=32, is_float=True), "o.flac", (48000, 2, 24)),
    (_info(bit_depth=32), "o.flac", (48000, 2, 24)),
    (_info(bit_depth=8, subtype="ULAW"), "o.wav", (48000, 2, 16)),
    (_info(bit_depth=None, subtype="AAC"), "o.wav", (48000, 2, 24)),
    (_info(sr=96000, channels=6), "o.mp3", (48000, 2, None)),
    (_info(sr=88200), "o.mp3", (44100, 2, None)),
    (_info(sr=44100), "o.opus", (48000, 2, None)),
    (_info(sr=96000, channels=6), "o.ogg", (96000, 6, None)),
])
def test_default_output_spec(info, out, expected):
    assert default_output_spec(info, out) == expected
