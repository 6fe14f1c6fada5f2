"""Tiny ONNX models with known behaviour for the bring-your-own runtimes' tests (built with onnx.helper).

Each ``write_*`` function writes one model to ``path`` and returns the
:class:`restora.models.byo.contract.Contract` that describes it. Rates are
low and chunks short so the tests run in well under a second each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from restora.models.byo.contract import Contract, from_dict

OPSET = 17
IR_VERSION = 8  # old enough for any onnxruntime >= 1.17
FLOAT = TensorProto.FLOAT


def _save(path: str | Path, nodes, inputs, outputs, initializers=()) -> None:
    graph = helper.make_graph(nodes, Path(path).stem, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _contract(**fields) -> Contract:
    return from_dict(fields)


def write_waveform_gain(path, gain: float | tuple = 0.5, channels: int = 2, sample_rate: int = 8000,
                        chunk_s: float = 0.25, overlap_s: float = 0.05, length: int | str = "T") -> Contract:
    """``output = gain * input``, ``[1, channels, length]`` (symbolic T unless ``length`` is a number).

    ``gain`` is one number, or one per channel (a stereo model that treats its channels differently).
    """
    shape = [1, channels, length]
    g = np.float32(gain) if np.ndim(gain) == 0 else np.asarray(gain, np.float32).reshape(1, channels, 1)
    _save(path, [helper.make_node("Mul", ["input", "g"], ["output"])],
          [helper.make_tensor_value_info("input", FLOAT, shape)],
          [helper.make_tensor_value_info("output", FLOAT, shape)],
          [_const("g", g)])
    return _contract(kind="waveform", task="enhance", sample_rate=sample_rate, channels=channels,
                     input="input", output="output", chunk_s=chunk_s, overlap_s=overlap_s)


def write_waveform_two_stem(path, a: float = 0.3, b: float = 0.2, channels: int = 2, sample_rate: int = 8000,
                            chunk_s: float = 0.25, overlap_s: float = 0.05) -> Contract:
    """Stems ``a * x`` ("drums") and ``b * x`` ("bass"): output ``[1, 2, channels, T]``."""
    nodes = [helper.make_node("Mul", ["input", "a"], ["xa"]), helper.make_node("Mul", ["input", "b"], ["xb"]),
             helper.make_node("Unsqueeze", ["xa", "axis"], ["ua"]),
             helper.make_node("Unsqueeze", ["xb", "axis"], ["ub"]),
             helper.make_node("Concat", ["ua", "ub"], ["output"], axis=1)]
    _save(path, nodes, [helper.make_tensor_value_info("input", FLOAT, [1, channels, "T"])],
          [helper.make_tensor_value_info("output", FLOAT, [1, 2, channels, "T"])],
          [_const("a", np.float32(a)), _const("b", np.float32(b)), _const("axis", np.array([1], np.int64))])
    return _contract(kind="waveform", task="separate", sample_rate=sample_rate, channels=channels,
                     stems=["drums", "bass"], input="input", output="output", chunk_s=chunk_s, overlap_s=overlap_s)


def write_waveform_chunk_mean(path, channels: int = 1, sample_rate: int = 8000, chunk_s: float = 0.25,
                              overlap_s: float = 0.05) -> Contract:
    """``output = input - mean over T of input``: depends on where chunks fall (for block-size invariance)."""
    nodes = [helper.make_node("ReduceMean", ["input"], ["mean"], axes=[2], keepdims=1),
             helper.make_node("Sub", ["input", "mean"], ["output"])]
    _save(path, nodes, [helper.make_tensor_value_info("input", FLOAT, [1, channels, "T"])],
          [helper.make_tensor_value_info("output", FLOAT, [1, channels, "T"])])
    return _contract(kind="waveform", task="enhance", sample_rate=sample_rate, channels=channels,
                     input="input", output="output", chunk_s=chunk_s, overlap_s=overlap_s)


def write_waveform_shorter(path, channels: int = 1, sample_rate: int = 8000) -> Contract:
    """A broken waveform model: drops the first sample, so its output is one sample shorter than its input."""
    nodes = [helper.make_node("Slice", ["input", "starts", "ends", "axes"], ["output"])]
    _save(path, nodes, [helper.make_tensor_value_info("input", FLOAT, [1, channels, "T"])],
          [helper.make_tensor_value_info("output", FLOAT, [1, channels, "T1"])],
          [_const("starts", np.array([1], np.int64)), _const("ends", np.array([2 ** 62], np.int64)),
           _const("axes", np.array([2], np.int64))])
    return _contract(kind="waveform", task="enhance", sample_rate=sample_rate, channels=channels,
                     input="input", output="output", chunk_s=0.25, overlap_s=0.05)


def write_mdx_half(path, n_fft: int = 256, hop: int = 64, dim_f: int = 64, dim_t: int = 32,
                   sample_rate: int = 8000, overlap_s: float = 0.0) -> Contract:
    """MDX-Net layout, ``output = 0.5 * input``, fixed shape ``[1, 4, dim_f, dim_t]``."""
    shape = [1, 4, dim_f, dim_t]
    _save(path, [helper.make_node("Mul", ["input", "h"], ["output"])],
          [helper.make_tensor_value_info("input", FLOAT, shape)],
          [helper.make_tensor_value_info("output", FLOAT, shape)],
          [_const("h", np.float32(0.5))])
    return _contract(kind="mdx", task="separate", sample_rate=sample_rate, channels=2, stems=["vocals"],
                     input="input", output="output", n_fft=n_fft, hop=hop, dim_f=dim_f, dim_t=dim_t,
                     overlap_s=overlap_s)


def write_stream_gain(path, gain: float = 0.5, n_fft: int = 64, hop: int = 16, window: str = "sqrt-hann",
                      sample_rate: int = 16000) -> Contract:
    """Frame model ``output = gain * frame`` with two state pairs fed back call to call.

    ``count`` [1] → ``count_out = count + 1`` (after the run it equals the number of
    calls); ``conv_cache`` [2, "batch", 3, 4] (symbolic dim, like GTCRN's caches)
    → ``conv_cache_out = conv_cache + 2``.
    """
    bins = n_fft // 2 + 1
    nodes = [helper.make_node("Mul", ["mix", "g"], ["enh"]),
             helper.make_node("Add", ["count", "one"], ["count_out"]),
             helper.make_node("Add", ["conv_cache", "two"], ["conv_cache_out"])]
    inputs = [helper.make_tensor_value_info("mix", FLOAT, [1, bins, 1, 2]),
              helper.make_tensor_value_info("count", FLOAT, [1]),
              helper.make_tensor_value_info("conv_cache", FLOAT, [2, "batch", 3, 4])]
    outputs = [helper.make_tensor_value_info("enh", FLOAT, [1, bins, 1, 2]),
               helper.make_tensor_value_info("count_out", FLOAT, [1]),
               helper.make_tensor_value_info("conv_cache_out", FLOAT, [2, "batch", 3, 4])]
    _save(path, nodes, inputs, outputs,
          [_const("g", np.float32(gain)), _const("one", np.float32(1)), _const("two", np.float32(2))])
    return _contract(kind="frame-stream", task="enhance", sample_rate=sample_rate, channels=1, input="mix",
                     output="enh", n_fft=n_fft, hop=hop, window=window,
                     states=[["count", "count_out"], ["conv_cache", "conv_cache_out"]])
