"""DeepFilterNet3 speech enhancement at 48 kHz: numpy DSP + ONNX Runtime, streaming.

The three graphs come from :func:`restora.models.dfn3_graphs.build_streaming_graphs`
(GRU states and temporal-conv contexts are explicit inputs/outputs), so a
:class:`Dfn3Stream` can run any number of frames per call and carry every piece
of state itself. The output does not depend on how the input is cut into blocks
and equals the offline DeepFilterNet ``enhance()`` path: input padded with
``fft_size`` zeros, features shifted by ``conv_lookahead`` frames, output cropped
to ``[fft_size - hop : fft_size - hop + len]`` so sample ``i`` of the output is
aligned with sample ``i`` of the input.

Units: audio is float32 mono at 48 kHz, full scale 1.0. One frame is one hop of
480 samples (10 ms); spectra are ``complex64 [frames, 481]``.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import lfilter

from restora.errors import ModelError
from restora.models.session import make_session

SAMPLE_RATE = 48000
_ERB_STATE_DB = (-60.0, -90.0)  # initial ERB mean-norm state (dB), first..last band
_CPLX_STATE = (0.001, 0.0001)  # initial unit-norm state (linear magnitude), first..last bin


@dataclass(frozen=True)
class Dfn3Config:
    """The ``[df]`` / ``[deepfilternet]`` values of the model's config.ini that the DSP needs."""

    sr: int = 48000
    fft_size: int = 960
    hop_size: int = 480
    nb_erb: int = 32
    nb_df: int = 96
    norm_tau: float = 1.0
    min_nb_erb_freqs: int = 2
    df_order: int = 5
    df_lookahead: int = 2
    conv_lookahead: int = 2

    @classmethod
    def from_ini(cls, path: Path) -> "Dfn3Config":
        ini = configparser.ConfigParser()
        ini.read(path)
        df, net = ini["df"], ini["deepfilternet"]
        return cls(sr=df.getint("sr"), fft_size=df.getint("fft_size"), hop_size=df.getint("hop_size"),
                   nb_erb=df.getint("nb_erb"), nb_df=df.getint("nb_df"), norm_tau=df.getfloat("norm_tau"),
                   min_nb_erb_freqs=df.getint("min_nb_erb_freqs"), df_order=df.getint("df_order"),
                   df_lookahead=df.getint("df_lookahead"), conv_lookahead=net.getint("conv_lookahead"))

    @property
    def n_bins(self) -> int:
        return self.fft_size // 2 + 1


def vorbis_window(size: int) -> np.ndarray:
    """Vorbis power-complementary window, float32 [size] (w[n]² + w[n+size/2]² = 1)."""
    inner = np.sin(0.5 * np.pi * (np.arange(size) + 0.5) / (size // 2))
    return np.sin(0.5 * np.pi * inner ** 2).astype(np.float32)


def erb_widths(sr: int, fft_size: int, nb_bands: int, min_nb_freqs: int) -> np.ndarray:
    """Number of rfft bins in each ERB band, int64 [nb_bands], summing to fft_size/2+1.

    Band edges are spaced evenly on the ERB scale and rounded to bins; a band
    narrower than ``min_nb_freqs`` is widened and the borrowed bins are taken
    from the next band (as libDF's ``erb_fb`` does).
    """
    def freq2erb(f):
        return 9.265 * np.log1p(f / (24.7 * 9.265))

    def erb2freq(e):
        return 24.7 * 9.265 * np.expm1(e / 9.265)

    step = (freq2erb(sr / 2) - freq2erb(0.0)) / nb_bands
    widths = np.zeros(nb_bands, np.int64)
    prev, over = 0, 0
    for i in range(1, nb_bands + 1):
        edge = int(np.round(erb2freq(i * step) / (sr / fft_size)))
        n = edge - prev - over
        over = max(min_nb_freqs - n, 0)
        widths[i - 1] = max(n, min_nb_freqs)
        prev = edge
    widths[-1] += 1  # the Nyquist bin
    widths[-1] -= max(int(widths.sum()) - (fft_size // 2 + 1), 0)
    return widths


def norm_alpha(hop: int, sr: int, tau: float) -> float:
    """Smoothing factor of the feature normalisations, rounded like libDF (0.99 for DFN3)."""
    a = float(np.exp(-hop / sr / tau))
    digits = 3
    while round(a, digits) >= 1.0:
        digits += 1
    return round(a, digits)


class _Graph:
    """One stateful ORT graph: feeds plus a state dict in, outputs out, state updated in place."""

    def __init__(self, path: Path, threads: int, providers: str, outputs: tuple[str, ...]) -> None:
        # No spinning: idle ORT workers would steal the cores the numpy DSP
        # between runs needs.
        self.session, self.provider = make_session(path, threads, providers, spinning=False)
        ins = self.session.get_inputs()
        self.state_shapes = {i.name: tuple(i.shape) for i in ins if i.name.endswith("_in")}
        self.outputs = outputs
        self.state_outputs = tuple(n[:-3] + "_out" for n in self.state_shapes)

    def zero_state(self) -> dict[str, np.ndarray]:
        return {name: np.zeros(shape, np.float32) for name, shape in self.state_shapes.items()}

    def run(self, feeds: dict[str, np.ndarray], state: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run on ``S`` frames; returns ``outputs`` in order and advances ``state``."""
        result = self.session.run(self.outputs + self.state_outputs, {**feeds, **state})
        n = len(self.outputs)
        for name, value in zip(self.state_shapes, result[n:]):
            state[name] = value
        return result[:n]


ENC_OUTPUTS = ("e0", "e1", "e2", "e3", "emb", "c0", "lsnr")


class Dfn3Session:
    """The three edited DFN3 graphs loaded in ONNX Runtime; shareable by many streams.

    ``model_dir`` holds ``enc.onnx``, ``erb_dec.onnx``, ``df_dec.onnx`` (the
    stateful versions) and ``config.ini``. ``threads`` is ORT's intra-op thread
    count per graph (1 keeps several channels or nodes from oversubscribing);
    ``providers`` as in :func:`restora.models.session.make_session` (the provider
    actually used is logged and kept in ``provider``).
    """

    def __init__(self, model_dir: Path, threads: int = 1, providers: str = "auto") -> None:
        model_dir = Path(model_dir)
        for name in ("enc.onnx", "erb_dec.onnx", "df_dec.onnx", "config.ini"):
            if not (model_dir / name).is_file():
                raise ModelError(f"DeepFilterNet3 model folder {model_dir} lacks {name}")
        self.config = Dfn3Config.from_ini(model_dir / "config.ini")
        if self.config.sr != SAMPLE_RATE:
            raise ModelError(f"{model_dir}: expected a 48 kHz model, config says {self.config.sr} Hz")
        threads = max(int(threads), 1)
        self.enc = _Graph(model_dir / "enc.onnx", threads, providers, ENC_OUTPUTS)
        self.erb_dec = _Graph(model_dir / "erb_dec.onnx", threads, providers, ("m",))
        self.df_dec = _Graph(model_dir / "df_dec.onnx", threads, providers, ("coefs",))
        self.provider = self.enc.provider


class _Stft:
    """Streaming libDF-style STFT: analysis with ``wnorm``, unnormalised synthesis, hop = N/2.

    ``analyse`` turns any number of new samples into the complete frames they
    finish; ``synthesise`` overlap-adds frames into ``hop`` samples each.
    """

    def __init__(self, fft_size: int, hop: int) -> None:
        if fft_size != 2 * hop:
            raise ModelError("the DFN3 STFT needs fft_size == 2 * hop_size")
        self.n, self.hop = fft_size, hop
        self.window = vorbis_window(fft_size)
        self.wnorm = np.float32(2 * hop / fft_size ** 2)
        self.pending = np.zeros(fft_size - hop, np.float32)  # history + samples of an unfinished hop
        self.overlap = np.zeros(fft_size - hop, np.float32)

    def analyse(self, x: np.ndarray) -> np.ndarray:
        """float32 samples [n] -> complex64 spectra [frames, N/2+1] of the frames completed."""
        buf = np.concatenate([self.pending, x.astype(np.float32, copy=False)])
        frames = (len(buf) - (self.n - self.hop)) // self.hop
        used = (self.n - self.hop) + frames * self.hop
        self.pending = buf[frames * self.hop:]
        if frames == 0:
            return np.zeros((0, self.n // 2 + 1), np.complex64)
        windows = sliding_window_view(buf[:used], self.n)[::self.hop]
        # scipy.fft keeps float32 in complex64 out (numpy.fft would compute in float64)
        return scipy.fft.rfft(windows * self.window, axis=1) * self.wnorm

    def synthesise(self, spec: np.ndarray) -> np.ndarray:
        """complex spectra [frames, N/2+1] -> float32 samples [frames * hop]."""
        if len(spec) == 0:
            return np.zeros(0, np.float32)
        # libDF's inverse FFT is unscaled; norm="forward" makes scipy's inverse unscaled too
        frames = scipy.fft.irfft(spec.astype(np.complex64, copy=False), n=self.n, axis=1, norm="forward")
        frames *= self.window
        out = frames[:, :self.hop].copy()
        out[0] += self.overlap
        out[1:] += frames[:-1, self.hop:]
        self.overlap = frames[-1, self.hop:].copy()
        return out.reshape(-1)


class _Features:
    """ERB log-power and unit-normalised complex features with exponential-norm state."""

    def __init__(self, cfg: Dfn3Config) -> None:
        self.widths = erb_widths(cfg.sr, cfg.fft_size, cfg.nb_erb, cfg.min_nb_erb_freqs)
        self.band_starts = np.concatenate([[0], np.cumsum(self.widths)[:-1]])
        self.inv_widths = (1.0 / self.widths).astype(np.float32)
        self.nb_df = cfg.nb_df
        a = norm_alpha(cfg.hop_size, cfg.sr, cfg.norm_tau)
        self.b, self.a = [1.0 - a], [1.0, -a]
        # lfilter's zi for y[t] = (1-a) x[t] + a y[t-1] is a * y[t-1]
        self.erb_zi = a * np.linspace(*_ERB_STATE_DB, cfg.nb_erb)[None, :]
        self.cplx_zi = a * np.linspace(*_CPLX_STATE, cfg.nb_df)[None, :]

    def __call__(self, spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """complex64 [T, 481] -> (feat_erb float32 [T, 32], feat_spec complex64 [T, 96])."""
        power = spec.real ** 2 + spec.imag ** 2
        # reduceat, not a matmul: BLAS worker threads would spin and slow the ORT calls that follow
        band_power = np.add.reduceat(power, self.band_starts, axis=1) * self.inv_widths
        erb_db = 10.0 * np.log10(band_power + 1e-10)
        mean, self.erb_zi = lfilter(self.b, self.a, erb_db, axis=0, zi=self.erb_zi)
        feat_erb = ((erb_db - mean) / 40.0).astype(np.float32)
        low = spec[:, :self.nb_df]
        scale, self.cplx_zi = lfilter(self.b, self.a, np.abs(low), axis=0, zi=self.cplx_zi)
        feat_spec = (low / np.sqrt(scale)).astype(np.complex64)
        return feat_erb, feat_spec


def _enc_feeds(feat_erb: np.ndarray, feat_spec: np.ndarray) -> dict[str, np.ndarray]:
    """[T, 32] and complex [T, 96] -> the encoder's [1,1,T,32] and [1,2,T,96] inputs."""
    spec = np.stack([feat_spec.real, feat_spec.imag])[None]
    return {"feat_erb": np.ascontiguousarray(feat_erb[None, None]),
            "feat_spec": np.ascontiguousarray(spec, dtype=np.float32)}


def post_filter(noisy: np.ndarray, enhanced: np.ndarray, beta: float) -> np.ndarray:
    """libDF's spectral post-filter: extra attenuation where the gain |Y|/|X| is already low.

    Both arrays complex [T, F]; returns the filtered ``enhanced``.
    """
    eps = 1e-12
    g = np.clip(np.abs(enhanced) / (np.abs(noisy) + eps), eps, 1.0)
    g_sin = g * np.sin(0.5 * np.pi * g)
    pf = (1.0 + beta) / (1.0 + beta * (g / g_sin) ** 2)
    return enhanced * pf.astype(np.float32)


class Dfn3Stream:
    """One mono channel of DFN3 enhancement with all streaming state held explicitly.

    ``push(x)`` takes float32 samples [n] at 48 kHz and returns the output
    samples that are ready; ``finish()`` returns the rest. Over a stream the
    output is exactly as long as the input and output sample ``i`` is aligned
    with input sample ``i``; the latency inside ``push`` is 1440..1919 samples
    (STFT overlap 480 + look-ahead 2 × 480 + the unfinished hop).

    Parameters:
        atten_lim_db: maximum attenuation in dB (100 = unlimited).
        post_filter_beta: libDF post-filter strength (0 = off, ~0.02 typical).
        lsnr_gating: ``None`` for the offline behaviour (both decoders on every
            frame), or ``(min_db, max_erb_db, max_df_db)`` like the real-time
            runtime: frames with LSNR below ``min_db`` are muted, above
            ``max_erb_db`` passed through, above ``max_df_db`` get the ERB stage
            only. Skipped decoder frames do not advance that decoder's state.
    """

    MAX_FRAMES_PER_CALL = 128  # 1.28 s

    def __init__(self, session: Dfn3Session, atten_lim_db: float = 100.0, post_filter_beta: float = 0.0,
                 lsnr_gating: tuple[float, float, float] | None = None) -> None:
        if not 0.0 <= atten_lim_db <= 100.0:
            raise ValueError(f"atten_lim_db={atten_lim_db} is outside [0, 100] dB")
        if post_filter_beta < 0.0:
            raise ValueError(f"post_filter_beta={post_filter_beta} must be >= 0")
        self.session = session
        cfg = self.cfg = session.config
        self.atten_lim = None if atten_lim_db >= 100.0 else np.float32(10.0 ** (-atten_lim_db / 20.0))
        self.post_filter_beta = float(post_filter_beta)
        self.lsnr_gating = None if lsnr_gating is None else tuple(float(v) for v in lsnr_gating)
        self._stft = _Stft(cfg.fft_size, cfg.hop_size)
        self._features = _Features(cfg)
        self._widths = self._features.widths
        self._states = {g: getattr(session, g).zero_state() for g in ("enc", "erb_dec", "df_dec")}
        self._past = cfg.df_order - 1 - cfg.df_lookahead  # DF frames before the current one
        self._ahead = max(cfg.df_lookahead, cfg.conv_lookahead)
        # noisy spectra from frame (next to enhance - past) on; zeros stand for frames < 0
        self._spec = np.zeros((self._past, cfg.n_bins), np.complex64)
        self._skip_feats = cfg.conv_lookahead  # the offline path never feeds the first features
        self._to_drop = cfg.fft_size - cfg.hop_size  # STFT delay cropped from the front
        self._n_in = 0
        self._n_out = 0
        self._finished = False
        self.lsnr: list[np.ndarray] = []  # per-frame LSNR (dB) of enhanced frames, in order

    # -- public stream interface -------------------------------------------
    def push(self, samples: np.ndarray) -> np.ndarray:
        """Consume float32 [n] at 48 kHz; return the aligned output samples now ready."""
        if self._finished:
            raise RuntimeError("push() after finish()")
        x = np.asarray(samples, np.float32).reshape(-1)
        self._n_in += len(x)
        return self._emit(self._step(x))

    def finish(self) -> np.ndarray:
        """End of stream: flush look-ahead and overlap; return the remaining output samples."""
        if self._finished:
            return np.zeros(0, np.float32)
        self._finished = True
        # the offline path appends fft_size zeros so the last samples reach a synthesis frame
        tail = self._step(np.zeros(self.cfg.fft_size, np.float32))
        waiting = len(self._spec) - self._past
        flush_feats = (np.zeros((waiting, self.cfg.nb_erb), np.float32),
                       np.zeros((waiting, self.cfg.nb_df), np.complex64))
        self._spec = np.concatenate([self._spec, np.zeros((self._ahead, self.cfg.n_bins), np.complex64)])
        last = self._run_chunked(*flush_feats)
        out = self._emit(np.concatenate([tail, last]))
        return out[:max(self._n_in - self._n_out + len(out), 0)]

    def pop_lsnr(self) -> np.ndarray:
        """Per-frame LSNR in dB (float32 [frames]) of the frames enhanced since the last call."""
        values = np.concatenate(self.lsnr) if self.lsnr else np.zeros(0, np.float32)
        self.lsnr = []
        return values

    # -- internals ----------------------------------------------------------
    def _step(self, x: np.ndarray) -> np.ndarray:
        """Analyse new samples, enhance every frame whose look-ahead is complete, synthesise."""
        spec = self._stft.analyse(x)
        if len(spec) == 0:
            return np.zeros(0, np.float32)
        feat_erb, feat_spec = self._features(spec)
        self._spec = np.concatenate([self._spec, spec])
        skip = min(self._skip_feats, len(spec))
        self._skip_feats -= skip
        return self._run_chunked(feat_erb[skip:], feat_spec[skip:])

    def _run_chunked(self, feat_erb: np.ndarray, feat_spec: np.ndarray) -> np.ndarray:
        """``_run_frames`` on at most ``MAX_FRAMES_PER_CALL`` frames at a time.

        Long GRU sequences in one ORT call are slower per frame (large
        intermediates), and the result is the same because all state is carried.
        """
        step = self.MAX_FRAMES_PER_CALL
        parts = [self._run_frames(feat_erb[i:i + step], feat_spec[i:i + step])
                 for i in range(0, len(feat_erb), step)]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def _run_frames(self, feat_erb: np.ndarray, feat_spec: np.ndarray) -> np.ndarray:
        """Encode K feature frames (look-ahead frames), enhance the K spectra they belong to."""
        k = len(feat_erb)
        if k == 0:
            return np.zeros(0, np.float32)
        enc = dict(zip(ENC_OUTPUTS, self.session.enc.run(_enc_feeds(feat_erb, feat_spec), self._states["enc"])))
        window = self._spec[:k + self._past + self.cfg.df_lookahead]
        enhanced = self._enhance(enc, window, k)
        self._spec = self._spec[k:]
        return self._stft.synthesise(enhanced)

    def _emit(self, synth: np.ndarray) -> np.ndarray:
        """Drop the STFT delay from the front of the synthesised stream."""
        drop = min(self._to_drop, len(synth))
        self._to_drop -= drop
        out = synth[drop:]
        self._n_out += len(out)
        return out

    def _enhance(self, enc: dict[str, np.ndarray], window: np.ndarray, k: int) -> np.ndarray:
        """Apply ERB mask and deep filter to K frames; ``window`` = spectra [K + 4, 481] around them."""
        lsnr = enc["lsnr"][0, :, 0]
        self.lsnr.append(lsnr.astype(np.float32))
        noisy = window[self._past:self._past + k]
        erb_rows, df_rows, mute_rows = self._stages(lsnr)
        out = noisy.copy()
        if erb_rows is None or erb_rows.any():
            gains = self._decode_erb(enc, erb_rows)
            sel = slice(None) if erb_rows is None else erb_rows
            out[sel] = noisy[sel] * np.repeat(gains, self._widths, axis=1)
        if mute_rows is not None:
            out[mute_rows] = 0.0
        if df_rows is None or df_rows.any():
            sel = slice(None) if df_rows is None else df_rows
            out[sel, :self.cfg.nb_df] = self._deep_filter(enc, window, df_rows, sel)
        if self.post_filter_beta > 0.0:
            out = post_filter(noisy, out, self.post_filter_beta)
        if self.atten_lim is not None:
            out = noisy * self.atten_lim + out * (1.0 - self.atten_lim)
        return out

    def _stages(self, lsnr: np.ndarray):
        """Boolean frame masks (erb, df, mute) for LSNR gating; ``None`` means every frame / no frame."""
        if self.lsnr_gating is None:
            return None, None, None
        lo, max_erb, max_df = self.lsnr_gating
        mute = lsnr < lo
        erb = ~mute & (lsnr <= max_erb)
        return erb, erb & (lsnr <= max_df), mute

    def _decode_erb(self, enc: dict[str, np.ndarray], rows: np.ndarray | None) -> np.ndarray:
        """ERB gains float32 [K', 32] for the selected frames (all when ``rows`` is None)."""
        feeds = {name: _take_frames(enc[name], rows, axis=2) for name in ("e0", "e1", "e2", "e3")}
        feeds["emb"] = _take_frames(enc["emb"], rows, axis=1)
        (m,) = self.session.erb_dec.run(feeds, self._states["erb_dec"])
        return m[0, 0]

    def _deep_filter(self, enc: dict[str, np.ndarray], window: np.ndarray, rows, sel) -> np.ndarray:
        """Deep-filtered low bins complex64 [K', 96]: Σ_n X[t-2+n, f] · C[t, f, n] on the noisy spectra."""
        feeds = {"emb": _take_frames(enc["emb"], rows, axis=1), "c0": _take_frames(enc["c0"], rows, axis=2)}
        (coefs,) = self.session.df_dec.run(feeds, self._states["df_dec"])
        order, nb_df = self.cfg.df_order, self.cfg.nb_df
        c = coefs[0].reshape(-1, nb_df, order, 2)
        taps = sliding_window_view(window[:, :nb_df], order, axis=0)[sel]  # [K', 96, order]
        return (taps.real * c[..., 0] - taps.imag * c[..., 1]).sum(-1) + 1j * (
            taps.real * c[..., 1] + taps.imag * c[..., 0]).sum(-1)


def _take_frames(x: np.ndarray, rows: np.ndarray | None, axis: int) -> np.ndarray:
    """Select frames along ``axis`` (all frames when ``rows`` is None)."""
    return x if rows is None else np.compress(rows, x, axis=axis)


def enhance(session: Dfn3Session, audio: np.ndarray, **params) -> np.ndarray:
    """Whole-signal convenience: float32 [n] at 48 kHz -> enhanced float32 [n], aligned."""
    stream = Dfn3Stream(session, **params)
    return np.concatenate([stream.push(audio), stream.finish()])
