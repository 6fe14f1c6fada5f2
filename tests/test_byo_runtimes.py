"""Runtimes for users' ONNX models (models/byo/runtimes.py): known outputs, block-size invariance, channels, states.

The models are tiny graphs written by tests/byo_models.py; audio is noise or
sines at 8 or 16 kHz, a few thousand frames.
"""

from __future__ import annotations

import dataclasses
from itertools import cycle

import numpy as np
import pytest

import byo_models as bm
from restora.errors import ModelError
from restora.models.byo.runtimes import processor_for
from restora.models.session import make_session


def _processor(path, contract, channels):
    session, _ = make_session(path, threads=1, providers="cpu")
    return processor_for(session, contract, channels)


def _run(proc, audio: np.ndarray, block) -> dict[str, np.ndarray]:
    """Feed ``audio`` [n, C] in blocks (an int or sizes to cycle), then finish; outputs joined per name."""
    sizes = cycle([block] if isinstance(block, int) else block)
    parts, start = [], 0
    while start < len(audio):
        size = next(sizes)
        parts.append(proc.process(audio[start:start + size]))
        start += size
    parts.append(proc.finish())
    for part in parts:
        assert len({len(a) for a in part.values()}) == 1, "all outputs of one call have the same length"
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _noise(frames: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (frames, channels)).astype(np.float32)


def _assert_invariant(make, audio, tol=1e-6):
    """Blocks of 1, 997, 44100 and an irregular cycle give the same output as one block."""
    reference = _run(make(), audio, len(audio) or 1)
    for block in (1, 997, 44100, [5, 300, 1, 2048]):
        out = _run(make(), audio, block)
        for name, value in reference.items():
            np.testing.assert_allclose(out[name], value, atol=tol, err_msg=f"{name}, blocks {block}")


# --- waveform ---------------------------------------------------------------------------------------------------

def test_waveform_gain_stem_and_residual(tmp_path):
    contract = bm.write_waveform_gain(tmp_path / "g.onnx", gain=0.8)
    x = _noise(5000, 2)
    out = _run(_processor(tmp_path / "g.onnx", contract, 2), x, 1234)
    assert set(out) == {"main", "residual"}
    assert out["main"].shape == x.shape and out["main"].dtype == np.float32
    np.testing.assert_allclose(out["main"], 0.8 * x, atol=1e-5)
    np.testing.assert_allclose(out["residual"], 0.2 * x, atol=1e-5)


def test_waveform_two_stems_sum_with_residual_to_input(tmp_path):
    contract = bm.write_waveform_two_stem(tmp_path / "two.onnx", a=0.3, b=0.2)
    x = _noise(4500, 2)
    out = _run(_processor(tmp_path / "two.onnx", contract, 2), x, 700)
    assert set(out) == {"drums", "bass", "residual"}
    np.testing.assert_allclose(out["drums"], 0.3 * x, atol=1e-5)
    np.testing.assert_allclose(out["bass"], 0.2 * x, atol=1e-5)
    np.testing.assert_allclose(out["drums"] + out["bass"] + out["residual"], x, atol=1e-5)


def test_waveform_chunks_at_fixed_positions_are_block_size_invariant(tmp_path):
    contract = bm.write_waveform_chunk_mean(tmp_path / "mean.onnx", channels=1)
    x = _noise(6000, 1) + 0.3 * np.sin(np.arange(6000) / 700.0)[:, None].astype(np.float32)
    _assert_invariant(lambda: _processor(tmp_path / "mean.onnx", contract, 1), x)


def test_waveform_chunk_mean_model_sees_whole_chunks(tmp_path):
    """A constant input: every chunk's mean is the constant, so the stem is zero and the residual the input."""
    contract = bm.write_waveform_chunk_mean(tmp_path / "mean.onnx", channels=1)
    x = np.full((5000, 1), 0.25, np.float32)
    out = _run(_processor(tmp_path / "mean.onnx", contract, 1), x, 333)
    np.testing.assert_allclose(out["main"], 0.0, atol=1e-6)
    np.testing.assert_allclose(out["residual"], x, atol=1e-6)


def test_waveform_mono_input_to_stereo_model_is_duplicated_and_averaged(tmp_path):
    contract = bm.write_waveform_gain(tmp_path / "lr.onnx", gain=(0.2, 0.6))
    x = _noise(3000, 1)
    out = _run(_processor(tmp_path / "lr.onnx", contract, 1), x, 500)
    assert out["main"].shape == (3000, 1)
    np.testing.assert_allclose(out["main"], 0.4 * x, atol=1e-5)
    np.testing.assert_allclose(out["residual"], 0.6 * x, atol=1e-5)


def test_waveform_stereo_input_to_mono_model_runs_each_channel(tmp_path):
    contract = bm.write_waveform_chunk_mean(tmp_path / "mean.onnx", channels=1)
    x = _noise(4000, 2)
    x[:, 1] += 0.5  # the channels' chunk means differ, so mixing them up would show
    out = _run(_processor(tmp_path / "mean.onnx", contract, 2), x, 900)
    assert out["main"].shape == (4000, 2)
    for c in range(2):
        alone = _run(_processor(tmp_path / "mean.onnx", contract, 1), x[:, c:c + 1], 900)
        np.testing.assert_allclose(out["main"][:, c:c + 1], alone["main"], atol=1e-6)
    np.testing.assert_allclose(out["main"] + out["residual"], x, atol=1e-5)


def test_waveform_short_and_empty_input(tmp_path):
    contract = bm.write_waveform_gain(tmp_path / "g.onnx", gain=0.5)
    x = _noise(100, 2)  # a chunk is 2000 frames
    out = _run(_processor(tmp_path / "g.onnx", contract, 2), x, 30)
    np.testing.assert_allclose(out["main"], 0.5 * x, atol=1e-6)
    proc = _processor(tmp_path / "g.onnx", contract, 2)
    first = proc.process(np.zeros((0, 2), np.float32))
    last = proc.finish()
    for part in (first, last):
        assert set(part) == {"main", "residual"}
        assert all(a.shape == (0, 2) for a in part.values())


def test_waveform_output_length_change_is_a_model_error(tmp_path):
    contract = bm.write_waveform_shorter(tmp_path / "short.onnx")
    with pytest.raises(ModelError, match="samples for a chunk"):
        _run(_processor(tmp_path / "short.onnx", contract, 1), _noise(3000, 1), 3000)


def test_onnxruntime_failure_becomes_model_error(tmp_path):
    """A model with a fixed T fed a short last chunk: onnxruntime's own message reaches the user."""
    contract = bm.write_waveform_gain(tmp_path / "fixed.onnx", length=2000)
    with pytest.raises(ModelError, match="(?i)failed while running.*dimension"):
        _run(_processor(tmp_path / "fixed.onnx", contract, 2), _noise(2500, 2), 2500)


# --- mdx --------------------------------------------------------------------------------------------------------

def test_mdx_full_band_half_model_halves_the_input(tmp_path):
    """dim_f covers every bin: the stem is exactly half the input, chunk joins and stream ends included."""
    contract = bm.write_mdx_half(tmp_path / "mdx.onnx", n_fft=256, hop=64, dim_f=129, dim_t=32)
    x = _noise(6000, 2)
    out = _run(_processor(tmp_path / "mdx.onnx", contract, 2), x, 1000)
    assert set(out) == {"vocals", "residual"} and out["vocals"].shape == x.shape
    np.testing.assert_allclose(out["vocals"], 0.5 * x, atol=1e-5)
    np.testing.assert_allclose(out["residual"], 0.5 * x, atol=1e-5)


def test_mdx_stem_is_half_the_band_below_dim_f(tmp_path):
    """dim_f = 64 of 129 bins at 8 kHz, n_fft 256: the model passes half of what lies below 2 kHz, nothing above."""
    contract = bm.write_mdx_half(tmp_path / "mdx.onnx", n_fft=256, hop=64, dim_f=64, dim_t=32)
    t = np.arange(8000) / 8000
    low = np.stack([0.3 * np.sin(2 * np.pi * 500 * t), 0.2 * np.sin(2 * np.pi * 750 * t)], axis=1)
    high = 0.3 * np.sin(2 * np.pi * 3000 * t)[:, None]
    x = (low + high).astype(np.float32)
    out = _run(_processor(tmp_path / "mdx.onnx", contract, 2), x, 4096)
    inner = slice(512, -512)  # the sines start and stop abruptly at the stream's ends
    # 2e-6 here; chunks without their STFT edge context cut away would be off by 1e-4 at the joins
    np.testing.assert_allclose(out["vocals"][inner], 0.5 * low[inner], atol=2e-5)
    np.testing.assert_allclose(out["vocals"] + out["residual"], x, atol=1e-5)


def test_mdx_block_size_invariance(tmp_path):
    contract = bm.write_mdx_half(tmp_path / "mdx.onnx", n_fft=256, hop=64, dim_f=40, dim_t=32)
    _assert_invariant(lambda: _processor(tmp_path / "mdx.onnx", contract, 2), _noise(6000, 2))


def test_mdx_mono_input_is_duplicated(tmp_path):
    contract = bm.write_mdx_half(tmp_path / "mdx.onnx", dim_f=129)
    x = _noise(3000, 1)
    out = _run(_processor(tmp_path / "mdx.onnx", contract, 1), x, 800)
    assert out["vocals"].shape == (3000, 1)
    np.testing.assert_allclose(out["vocals"], 0.5 * x, atol=1e-5)


def test_mdx_short_and_empty_input(tmp_path):
    contract = bm.write_mdx_half(tmp_path / "mdx.onnx", dim_f=129)
    x = _noise(10, 2)
    out = _run(_processor(tmp_path / "mdx.onnx", contract, 2), x, 3)
    np.testing.assert_allclose(out["vocals"], 0.5 * x, atol=1e-5)
    empty = _processor(tmp_path / "mdx.onnx", contract, 2).finish()
    assert all(a.shape == (0, 2) for a in empty.values())


def test_mdx_contract_that_does_not_fit_the_model_is_a_model_error(tmp_path):
    contract = bm.write_mdx_half(tmp_path / "mdx.onnx", dim_t=16)
    wrong = dataclasses.replace(contract, dim_t=32)
    with pytest.raises(ModelError, match="failed while running"):
        _run(_processor(tmp_path / "mdx.onnx", wrong, 2), _noise(3000, 2), 3000)


# --- frame-stream -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("window", ["sqrt-hann", "hann"])
def test_stream_gain_output_is_aligned_with_input(tmp_path, window):
    contract = bm.write_stream_gain(tmp_path / "s.onnx", gain=0.7, window=window)
    x = _noise(3000, 1)
    out = _run(_processor(tmp_path / "s.onnx", contract, 1), x, 250)
    assert out["main"].shape == x.shape
    np.testing.assert_allclose(out["main"], 0.7 * x, atol=1e-5)
    np.testing.assert_allclose(out["residual"], 0.3 * x, atol=1e-5)


def _frames_for(n: int, n_fft: int = 64, hop: int = 16) -> int:
    """STFT frames touching ``n`` samples with the streaming framing (frame k starts at k*hop - (n_fft - hop))."""
    return -(-(n + n_fft - hop) // hop)


def test_stream_states_are_fed_back_from_call_to_call(tmp_path):
    contract = bm.write_stream_gain(tmp_path / "s.onnx")
    for block in (1, 997):
        proc = _processor(tmp_path / "s.onnx", contract, 1)
        _run(proc, _noise(3000, 1), block)
        assert proc.calls == _frames_for(3000)
        np.testing.assert_array_equal(proc.states["count"], [proc.calls])
        assert proc.states["conv_cache"].shape == (2, 1, 3, 4)  # the symbolic batch dim read as 1
        np.testing.assert_array_equal(proc.states["conv_cache"], 2.0 * proc.calls)


def test_stream_reset_clears_states_and_buffers(tmp_path):
    contract = bm.write_stream_gain(tmp_path / "s.onnx")
    proc = _processor(tmp_path / "s.onnx", contract, 1)
    x = _noise(1000, 1)
    first = _run(proc, x, 100)
    proc.process(_noise(77, 1, seed=3))
    proc.reset()
    assert proc.calls == 0 and not proc.states["count"].any() and not proc.states["conv_cache"].any()
    again = _run(proc, x, 100)
    np.testing.assert_array_equal(again["main"], first["main"])


def test_stream_block_size_invariance(tmp_path):
    contract = bm.write_stream_gain(tmp_path / "s.onnx")
    _assert_invariant(lambda: _processor(tmp_path / "s.onnx", contract, 1), _noise(3000, 1))


def test_stream_stereo_input_runs_each_channel_with_its_own_states(tmp_path):
    contract = bm.write_stream_gain(tmp_path / "s.onnx", gain=0.5)
    proc = _processor(tmp_path / "s.onnx", contract, 2)
    x = _noise(2000, 2)
    out = _run(proc, x, 300)
    np.testing.assert_allclose(out["main"], 0.5 * x, atol=1e-5)
    for _, inner in proc.groups:
        assert inner.calls == _frames_for(2000)
        np.testing.assert_array_equal(inner.states["count"], [inner.calls])


def test_stream_short_and_empty_input(tmp_path):
    contract = bm.write_stream_gain(tmp_path / "s.onnx", gain=0.5)
    x = _noise(5, 1)  # shorter than one hop
    out = _run(_processor(tmp_path / "s.onnx", contract, 1), x, 2)
    np.testing.assert_allclose(out["main"], 0.5 * x, atol=1e-6)
    proc = _processor(tmp_path / "s.onnx", contract, 1)
    assert all(a.shape == (0, 1) for a in proc.process(np.zeros((0, 1), np.float32)).values())
    assert all(a.shape == (0, 1) for a in proc.finish().values())
    assert proc.calls == 0


def test_stream_state_missing_from_model_is_a_model_error(tmp_path):
    contract = bm.write_stream_gain(tmp_path / "s.onnx")
    wrong = dataclasses.replace(contract, states=(("hidden", "hidden_out"),))
    with pytest.raises(ModelError, match="hidden"):
        _processor(tmp_path / "s.onnx", wrong, 1)


def test_stream_frame_size_the_model_refuses_is_a_model_error(tmp_path):
    contract = bm.write_stream_gain(tmp_path / "s.onnx", n_fft=64)
    wrong = dataclasses.replace(contract, n_fft=128, hop=32)
    with pytest.raises(ModelError, match="failed while running"):
        _run(_processor(tmp_path / "s.onnx", wrong, 1), _noise(1000, 1), 1000)


@pytest.mark.parametrize("frames", [1, 2, 31, 33, 5000])
def test_centred_framing_reconstructs_exactly_and_is_block_size_invariant(tmp_path, frames):
    """``center`` (hop = n_fft / 2): reflection in at the start and end, its output dropped, every sample kept."""
    contract = bm.write_stream_gain(tmp_path / "s.onnx", gain=0.5, n_fft=64, hop=32)
    assert contract.center
    x = _noise(frames, 1, seed=3)
    make = lambda: _processor(tmp_path / "s.onnx", contract, 1)  # noqa: E731
    out = _run(make(), x, 7)
    np.testing.assert_allclose(out["main"], 0.5 * x, atol=1e-6)
    _assert_invariant(make, x)
    proc = make()
    _run(proc, x, 7)
    # the model never saw a frame before the start's reflection: as many calls as centred frames, plus the flush
    assert proc.calls <= frames // 32 + 3


def test_five_channels_through_a_stereo_model_go_in_pairs(tmp_path):
    """Channels 0+1 and 2+3 as stereo pairs, the fifth duplicated as mono; a per-channel gain model shows which
    model channel each one went through."""
    contract = bm.write_waveform_gain(tmp_path / "g.onnx", gain=(0.5, 0.25), channels=2)
    x = _noise(3000, 5, seed=4)
    out = _run(_processor(tmp_path / "g.onnx", contract, 5), x, 700)
    np.testing.assert_allclose(out["main"][:, [0, 2]], 0.5 * x[:, [0, 2]], atol=1e-6)
    np.testing.assert_allclose(out["main"][:, [1, 3]], 0.25 * x[:, [1, 3]], atol=1e-6)
    np.testing.assert_allclose(out["main"][:, 4], 0.375 * x[:, 4], atol=1e-6)  # both model channels, averaged
    np.testing.assert_allclose(out["main"] + out["residual"], x, atol=1e-6)
