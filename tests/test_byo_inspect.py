"""Bring-your-own ONNX models: inspection (describe), safety checks (check_safe), contract detection (detect) and
the out-of-process trial load (probe), on tiny models built here with onnx.helper."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from restora.models.byo import probe as probe_mod
from restora.models.byo.contract import from_dict
from restora.models.byo.detect import detect
from restora.models.byo.inspect_onnx import TensorSpec, check_safe, describe
from restora.models.byo.probe import probe

from restora.errors import ModelError

FLOAT = TensorProto.FLOAT


def _io(name: str, shape, dtype=FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _save(path, nodes, inputs, outputs, initializers=(), opsets=(("", 17),)) -> str:
    """Writes a model built from the given parts to ``path``; returns the path as a string."""
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def _gain(name: str, value: float, shape=()):
    return numpy_helper.from_array(np.full(shape, value, np.float32), name)


def waveform_model(path, channels=2) -> str:
    """[batch, channels, T] -> [batch, channels, T]: x * 0.5."""
    return _save(path, [helper.make_node("Mul", ["audio", "g"], ["clean"])],
                 [_io("audio", ["batch", channels, "T"])], [_io("clean", ["batch", channels, "T"])], [_gain("g", 0.5)])


def stems_model(path, stems=3) -> str:
    """[1, 2, T] -> [1, stems, 2, T]: the input repeated, each stem scaled by its own weight."""
    nodes = [helper.make_node("Unsqueeze", ["mix", "axis"], ["one"]),
             helper.make_node("Mul", ["one", "w"], ["sources"])]
    inits = [numpy_helper.from_array(np.array([1], np.int64), "axis"),
             numpy_helper.from_array(np.linspace(0.2, 0.8, stems, dtype=np.float32).reshape(1, stems, 1, 1), "w")]
    return _save(path, nodes, [_io("mix", [1, 2, "T"])], [_io("sources", [1, stems, 2, "T"])], inits)


def mdx_model(path, dim_f=64, dim_t=8) -> str:
    """[1, 4, dim_f, dim_t] -> same shape (a per-bin mask)."""
    mask = numpy_helper.from_array(np.random.default_rng(0).random((1, 1, dim_f, 1)).astype(np.float32), "mask")
    return _save(path, [helper.make_node("Mul", ["input", "mask"], ["output"])],
                 [_io("input", ["batch", 4, dim_f, dim_t])], [_io("output", ["batch", 4, dim_f, dim_t])], [mask])


def frame_model(path, bins=257) -> str:
    """GTCRN-like: mix [1, bins, 1, 2] and two states -> enh plus the states' next values (names not in order)."""
    nodes = [helper.make_node("Mul", ["mix", "g"], ["enh"]),
             helper.make_node("Add", ["conv_cache", "g"], ["conv_cache_out"]),
             helper.make_node("Add", ["tra_cache", "g"], ["tra_cache_out"])]
    inputs = [_io("mix", [1, bins, 1, 2]), _io("conv_cache", [2, 1, 16, 16, 33]), _io("tra_cache", [2, 3, 1, 1, 16])]
    outputs = [_io("enh", [1, bins, 1, 2]), _io("tra_cache_out", [2, 3, 1, 1, 16]),
               _io("conv_cache_out", [2, 1, 16, 16, 33])]
    return _save(path, nodes, inputs, outputs, [_gain("g", 0.5)])


def wrong_shape_model(path) -> str:
    """Declares [1, 2, T] -> [1, 2, T2] and returns [1, 2, 2T] (the input twice along time)."""
    return _save(path, [helper.make_node("Concat", ["audio", "audio"], ["clean"], axis=2)],
                 [_io("audio", [1, 2, "T"])], [_io("clean", [1, 2, "T2"])])


def nan_model(path) -> str:
    """[1, 2, T] -> x / x: NaN for the zeros a probe feeds."""
    return _save(path, [helper.make_node("Div", ["audio", "audio"], ["clean"])],
                 [_io("audio", [1, 2, "T"])], [_io("clean", [1, 2, "T"])])


def external_model(path, location: str) -> str:
    """A waveform model whose gain is stored externally at ``location`` (the file is not written)."""
    gain = _gain("g", 0.5, (1,))
    gain.ClearField("raw_data")
    gain.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "4")):
        entry = gain.external_data.add()
        entry.key, entry.value = key, value
    return _save(path, [helper.make_node("Mul", ["audio", "g"], ["clean"])],
                 [_io("audio", [1, 2, "T"])], [_io("clean", [1, 2, "T"])], [gain])


# --- describe ---------------------------------------------------------------------------------------------


def test_describe_waveform(tmp_path):
    facts = describe(waveform_model(tmp_path / "w.onnx"))
    assert facts.inputs == (TensorSpec("audio", "float32", ("batch", 2, "T")),)
    assert facts.outputs == (TensorSpec("clean", "float32", ("batch", 2, "T")),)
    assert facts.opsets == (("", 17),)
    assert facts.domains == frozenset({""})
    assert facts.external_data == ()
    assert facts.initializer_bytes == 4
    assert facts.file_bytes == os.path.getsize(tmp_path / "w.onnx")
    assert facts.name == "w.onnx"


def test_describe_subgraph_domains_external_and_unknown_dims(tmp_path):
    """Domains are collected inside If branches; externally stored tensors are listed, not read."""
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], domain="my.ops")], "then", [], [_io("y", None)])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["y2"])], "else", [], [_io("y2", None)])
    cond = numpy_helper.from_array(np.array(True), "cond")
    path = _save(tmp_path / "if.onnx", [helper.make_node("If", ["cond"], ["out"], then_branch=then, else_branch=other)],
                 [_io("x", [1, None, "T"])], [_io("out", None)], [cond], opsets=(("", 17), ("my.ops", 1)))
    facts = describe(path)
    assert facts.domains == frozenset({"", "my.ops"})
    assert facts.inputs[0].shape == (1, "?", "T")
    assert facts.outputs[0].shape is None
    assert facts.initializer_bytes == 1
    with pytest.raises(ModelError, match="if.onnx: uses operators from custom domain.*my.ops"):
        check_safe(path, facts)
    ext = describe(external_model(tmp_path / "e.onnx", "weights.bin"))
    assert ext.external_data == ("weights.bin",)
    assert ext.initializer_bytes == 4


# --- check_safe -------------------------------------------------------------------------------------------


def test_check_safe_accepts_every_kind(tmp_path):
    for build in (waveform_model, stems_model, mdx_model, frame_model):
        path = build(tmp_path / f"{build.__name__}.onnx")
        assert check_safe(path).inputs


def test_check_safe_accepts_external_data_next_to_the_model(tmp_path):
    (tmp_path / "weights.bin").write_bytes(np.float32(0.5).tobytes())
    assert check_safe(external_model(tmp_path / "e.onnx", "weights.bin")).external_data == ("weights.bin",)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"\x00\xffthis is not protobuf\xff\xfe" * 40, "not a valid ONNX model"),
    (b"just some text that happens to parse\n", "not a valid ONNX model"),
])
def test_check_safe_rejects_non_onnx(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message) as err:
        check_safe(path)
    assert "bad.onnx" in str(err.value)


def test_check_safe_rejects_missing_and_truncated(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        check_safe(tmp_path / "absent.onnx")
    data = Path(mdx_model(tmp_path / "m.onnx")).read_bytes()
    for cut in (len(data) // 2, len(data) - 7, 20):
        (tmp_path / "cut.onnx").write_bytes(data[:cut])
        with pytest.raises(ModelError, match="cut.onnx: not a valid ONNX model"):
            check_safe(tmp_path / "cut.onnx")


def test_check_safe_rejects_files_over_2_gib(tmp_path):
    path = tmp_path / "huge.onnx"
    with open(path, "wb") as f:
        f.truncate(2 * 1024**3 + 1)  # sparse: no disk used
    with pytest.raises(ModelError, match="at most 2 GiB"):
        check_safe(path)


def test_check_safe_rejects_custom_domain(tmp_path):
    path = _save(tmp_path / "custom.onnx", [helper.make_node("Evil", ["audio"], ["clean"], domain="com.evil")],
                 [_io("audio", [1, 2, "T"])], [_io("clean", [1, 2, "T"])], opsets=(("", 17), ("com.evil", 1)))
    with pytest.raises(ModelError, match="custom.onnx: uses operators from custom domain.*com.evil"):
        check_safe(path)


def test_check_safe_allows_microsoft_domain(tmp_path):
    path = _save(tmp_path / "ms.onnx", [helper.make_node("Gelu", ["audio"], ["clean"], domain="com.microsoft")],
                 [_io("audio", [1, 2, "T"])], [_io("clean", [1, 2, "T"])], opsets=(("", 17), ("com.microsoft", 1)))
    assert check_safe(path).domains == frozenset({"com.microsoft"})


@pytest.mark.parametrize("location, message", [
    ("../outside.bin", "contains '..'"),
    ("/etc/passwd", "is an absolute path"),
    ("missing.bin", "does not exist"),
    ("link.bin", "resolves outside the model's folder"),
])
def test_check_safe_rejects_external_data(tmp_path, location, message):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"\0" * 4)
    os.symlink(tmp_path / "outside.bin", folder / "link.bin")
    path = external_model(folder / "ext.onnx", location)
    with pytest.raises(ModelError, match=f"ext.onnx: external data.*{message}"):
        check_safe(path)


def test_check_safe_rejects_huge_declared_dims(tmp_path):
    path = _save(tmp_path / "big.onnx", [helper.make_node("Identity", ["audio"], ["clean"])],
                 [_io("audio", [1, 2, 10**9])], [_io("clean", [1, 2, 10**9])])
    with pytest.raises(ModelError, match=r"big.onnx: tensor 'audio' declares a dimension of 1000000000"):
        check_safe(path)
    path = _save(tmp_path / "many.onnx", [helper.make_node("Identity", ["audio"], ["clean"])],
                 [_io("audio", [4096, 4096, 32])], [_io("clean", [4096, 4096, 32])])
    with pytest.raises(ModelError, match=r"input 'audio' declares 536870912 elements"):
        check_safe(path)


def test_check_safe_rejects_negative_dims_even_beside_larger_ones(tmp_path):
    path = _save(tmp_path / "neg.onnx", [helper.make_node("Identity", ["audio"], ["clean"])],
                 [_io("audio", [1, 2, "T"])], [_io("clean", [1, 2, "T"])], [_gain("w", 0.0, (64,))])
    model = onnx.load(path)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -3  # helper refuses to write it
    onnx.save(model, path)
    with pytest.raises(ModelError, match="neg.onnx: tensor 'audio' declares a negative dimension -3"):
        check_safe(path)


def test_check_safe_rejects_no_inputs_and_non_float_audio(tmp_path):
    const = helper.make_node("Constant", [], ["clean"], value=numpy_helper.from_array(np.zeros(3, np.float32)))
    path = _save(tmp_path / "noin.onnx", [const], [], [_io("clean", [3])])
    with pytest.raises(ModelError, match="noin.onnx: the model has no inputs"):
        check_safe(path)
    path = _save(tmp_path / "int.onnx", [helper.make_node("Identity", ["audio"], ["clean"])],
                 [_io("audio", [1, 2, "T"], TensorProto.INT16)], [_io("clean", [1, 2, "T"], TensorProto.INT16)])
    with pytest.raises(ModelError, match="first input 'audio' .* is int16; it must be float32"):
        check_safe(path)


# --- detect -----------------------------------------------------------------------------------------------


def test_detect_waveform(tmp_path):
    facts = describe(waveform_model(tmp_path / "w.onnx"))
    with pytest.raises(ModelError, match="w.onnx: looks like a waveform model.*--rate"):
        detect(facts)
    contract = from_dict(detect(facts, {"sample_rate": 48000, "chunk_s": 4.0, "n_fft": None}))
    assert (contract.kind, contract.task, contract.channels, contract.sample_rate) == ("waveform", "enhance", 2, 48000)
    assert (contract.input, contract.output, contract.stems, contract.chunk_s) == ("audio", "clean", ("main",), 4.0)
    with pytest.raises(ModelError, match=r"takes 2 channel\(s\), not the 1 given"):
        detect(facts, {"sample_rate": 48000, "channels": 1})


def test_detect_waveform_stems(tmp_path):
    facts = describe(stems_model(tmp_path / "s.onnx", stems=3))
    contract = from_dict(detect(facts, {"sample_rate": 44100}))
    assert (contract.kind, contract.task, contract.stems) == ("waveform", "separate", ("stem1", "stem2", "stem3"))
    named = from_dict(detect(facts, {"sample_rate": 44100, "stems": "drums, bass, other"}))
    assert named.stems == ("drums", "bass", "other")
    with pytest.raises(ModelError, match="holds 3 stems, but 2 stem names were given"):
        detect(facts, {"sample_rate": 44100, "stems": ["vocals", "rest"]})


def test_detect_waveform_rank2_is_refused(tmp_path):
    path = _save(tmp_path / "mono.onnx", [helper.make_node("Identity", ["x"], ["y"])],
                 [_io("x", ["batch", "T"])], [_io("y", ["batch", "T"])])
    with pytest.raises(ModelError, match=r"mono.onnx: input x \[batch, T\].*\[1, channels, T\]"):
        detect(describe(path), {"sample_rate": 16000})


def test_detect_mdx_asks_for_n_fft(tmp_path):
    facts = describe(mdx_model(tmp_path / "m.onnx", dim_f=64, dim_t=8))
    with pytest.raises(ModelError, match=r"UVR MDX-Net model \(dim_f 64, dim_t 8\).*--n-fft.*6144.*7680"):
        detect(facts)
    contract = from_dict(detect(facts, {"n_fft": 2048}))
    assert (contract.kind, contract.task, contract.channels, contract.sample_rate) == ("mdx", "separate", 2, 44100)
    assert (contract.n_fft, contract.hop, contract.dim_f, contract.dim_t) == (2048, 1024, 64, 8)
    assert (contract.input, contract.output) == ("input", "output")


def test_detect_mdx_hop_hint(tmp_path):
    facts = describe(mdx_model(tmp_path / "m.onnx", dim_f=64, dim_t=8))
    contract = from_dict(detect(facts, {"n_fft": 512, "hop": 128, "stems": ["vocals"]}))
    assert (contract.n_fft, contract.hop, contract.stems) == (512, 128, ("vocals",))


def test_detect_frame_stream(tmp_path):
    facts = describe(frame_model(tmp_path / "f.onnx"))
    with pytest.raises(ModelError, match="f.onnx: looks like a frame-stream model.*2 state pair.*--rate"):
        detect(facts)
    contract = from_dict(detect(facts, {"sample_rate": 16000}))
    assert (contract.kind, contract.task, contract.channels) == ("frame-stream", "enhance", 1)
    assert (contract.n_fft, contract.hop, contract.window) == (512, 256, "sqrt-hann")
    assert (contract.input, contract.output) == ("mix", "enh")
    assert contract.states == (("conv_cache", "conv_cache_out"), ("tra_cache", "tra_cache_out"))
    with pytest.raises(ModelError, match="--n-fft 1024 does not fit the model's frame of 257 bins"):
        detect(facts, {"sample_rate": 16000, "n_fft": 1024})


def test_detect_pairs_same_shaped_states_by_name(tmp_path):
    """Two states of one shape: the names decide which output feeds which input."""
    nodes = [helper.make_node("Identity", ["frame"], ["out"]), helper.make_node("Identity", ["h_state"], ["h_next"]),
             helper.make_node("Identity", ["c_state"], ["c_next"])]
    inputs = [_io("frame", [1, 129, 1, 2]), _io("h_state", [1, 1, 64]), _io("c_state", [1, 1, 64])]
    outputs = [_io("out", [1, 129, 1, 2]), _io("c_next", [1, 1, 64]), _io("h_next", [1, 1, 64])]
    facts = describe(_save(tmp_path / "lstm.onnx", nodes, inputs, outputs))
    assert detect(facts, {"sample_rate": 8000})["states"] == [["h_state", "h_next"], ["c_state", "c_next"]]


def test_detect_follows_the_card_kind_and_names(tmp_path):
    facts = describe(mdx_model(tmp_path / "m.onnx"))
    with pytest.raises(ModelError, match="m.onnx: no known contract fits.*missing: waveform needs exactly one input"):
        detect(facts, {"kind": "waveform", "sample_rate": 44100})
    with pytest.raises(ModelError, match="contract kind 'spectral' is not one Restora can run"):
        detect(facts, {"kind": "spectral"})
    data = detect(facts, {"kind": "mdx", "n_fft": 6144, "output": "renamed", "hints_we_ignore": 1})
    assert data["output"] == "renamed" and "hints_we_ignore" not in data


def test_detect_unknown_signature(tmp_path):
    path = _save(tmp_path / "odd.onnx", [helper.make_node("ReduceMean", ["spec"], ["score"], keepdims=0)],
                 [_io("spec", [1, 80, 100])], [_io("score", [])])
    with pytest.raises(ModelError) as err:
        detect(describe(path), {"sample_rate": 16000})
    message = str(err.value)
    assert message.startswith("odd.onnx: no known contract fits its signature")
    assert "spec [1, 80, 100] float32" in message and "score [] float32" in message
    assert all(kind in message for kind in ("waveform (", "mdx (", "frame-stream ("))
    assert "length is fixed at 100 samples" in message and "\n" not in message


def test_detect_deepfilternet_export(tmp_path):
    nodes = [helper.make_node("Identity", ["feat_erb"], ["e0"]), helper.make_node("Identity", ["feat_spec"], ["emb"])]
    path = _save(tmp_path / "enc.onnx", nodes, [_io("feat_erb", [1, 1, "S", 32]), _io("feat_spec", [1, 2, "S", 96])],
                 [_io("e0", [1, 1, "S", 32]), _io("emb", [1, 2, "S", 96])])
    with pytest.raises(ModelError, match=r"enc.onnx: looks like one of DeepFilterNet's three ONNX files.*feat_erb"):
        detect(describe(path), {"sample_rate": 48000})


# --- probe ------------------------------------------------------------------------------------------------


def test_probe_waveform_and_stems(tmp_path):
    contract = from_dict(detect(describe(waveform_model(tmp_path / "w.onnx")), {"sample_rate": 48000}))
    result = probe(tmp_path / "w.onnx", contract, timeout_s=60)
    assert result["ok"] is True and result["outputs"] == {"clean": [1, 2, 4096]}
    assert 0 < result["seconds"] < 60
    contract = from_dict(detect(describe(stems_model(tmp_path / "s.onnx")), {"sample_rate": 44100}))
    assert probe(tmp_path / "s.onnx", contract)["outputs"] == {"sources": [1, 3, 2, 4096]}


def test_probe_mdx_and_frame_stream(tmp_path):
    contract = from_dict(detect(describe(mdx_model(tmp_path / "m.onnx")), {"n_fft": 256, "hop": 64}))
    assert probe(tmp_path / "m.onnx", contract)["outputs"] == {"output": [1, 4, 64, 8]}
    contract = from_dict(detect(describe(frame_model(tmp_path / "f.onnx")), {"sample_rate": 16000}))
    outputs = probe(tmp_path / "f.onnx", contract)["outputs"]
    assert outputs == {"enh": [1, 257, 1, 2], "conv_cache_out": [2, 1, 16, 16, 33], "tra_cache_out": [2, 3, 1, 1, 16]}


def test_probe_feeds_symbolic_state_dims_as_one(tmp_path):
    nodes = [helper.make_node("Identity", ["frame"], ["out"]), helper.make_node("Neg", ["h"], ["h_out"])]
    inputs = [_io("frame", [1, 65, 1, 2]), _io("h", ["layers", 1, 32])]
    path = _save(tmp_path / "sym.onnx", nodes, inputs, [_io("out", [1, 65, 1, 2]), _io("h_out", ["layers", 1, 32])])
    contract = from_dict(detect(describe(path), {"sample_rate": 16000}))
    assert contract.states == (("h", "h_out"),)
    assert probe(path, contract)["outputs"] == {"out": [1, 65, 1, 2], "h_out": [1, 1, 32]}


def test_probe_rejects_wrong_output_shape(tmp_path):
    contract = from_dict(detect(describe(wrong_shape_model(tmp_path / "wrong.onnx")), {"sample_rate": 44100}))
    with pytest.raises(ModelError, match=r"wrong.onnx: output 'clean' has shape \[1, 2, 8192\].*\[1, 2, 4096\]"):
        probe(tmp_path / "wrong.onnx", contract)


def test_probe_rejects_non_finite_output(tmp_path):
    contract = from_dict(detect(describe(nan_model(tmp_path / "nan.onnx")), {"sample_rate": 44100}))
    with pytest.raises(ModelError, match="nan.onnx: output 'clean' is not finite"):
        probe(tmp_path / "nan.onnx", contract)


def test_probe_rejects_names_the_model_lacks(tmp_path):
    data = detect(describe(waveform_model(tmp_path / "w.onnx")), {"sample_rate": 44100})
    with pytest.raises(ModelError, match="w.onnx: the contract names output 'enhanced'.*clean"):
        probe(tmp_path / "w.onnx", from_dict(dict(data, output="enhanced")))


def test_probe_runs_the_safety_checks_in_the_child(tmp_path):
    contract = from_dict({"kind": "waveform", "task": "enhance", "sample_rate": 44100, "channels": 2,
                          "input": "audio", "output": "clean"})
    (tmp_path / "junk.onnx").write_bytes(b"\x08" + b"\xff" * 64)
    with pytest.raises(ModelError, match="junk.onnx: not a valid ONNX model"):
        probe(tmp_path / "junk.onnx", contract)


def test_probe_timeout(tmp_path):
    contract = from_dict(detect(describe(waveform_model(tmp_path / "w.onnx")), {"sample_rate": 48000}))
    with pytest.raises(ModelError, match="w.onnx: took longer than 0.01 s to load"):
        probe(tmp_path / "w.onnx", contract, timeout_s=0.01)


def test_probe_reports_a_crash_and_garbled_output(tmp_path, monkeypatch):
    contract = from_dict(detect(describe(waveform_model(tmp_path / "w.onnx")), {"sample_rate": 48000}))
    answers = iter([subprocess.CompletedProcess([], -11, "", ""),
                    subprocess.CompletedProcess([], 1, "not json\n", "Traceback\nboom: it broke\n")])
    monkeypatch.setattr(probe_mod.subprocess, "run", lambda *a, **k: next(answers))
    with pytest.raises(ModelError, match=r"w.onnx: onnxruntime crashed while loading it \(signal 11, SIGSEGV\)"):
        probe(tmp_path / "w.onnx", contract)
    with pytest.raises(ModelError, match=r"w.onnx: the model check ended without a result \(exit 1: boom: it broke\)"):
        probe(tmp_path / "w.onnx", contract)


def test_probe_child_runs_where_there_is_no_resource_module(monkeypatch):
    """Windows has no ``resource``: the child skips the memory cap instead of failing every add."""
    import sys

    monkeypatch.setitem(sys.modules, "resource", None)  # import resource -> ImportError
    probe_mod._limit_memory(64)


def test_probe_memory_limit_is_enforced(tmp_path):
    """A limit far below what onnxruntime needs makes the load fail cleanly, not the parent."""
    contract = from_dict(detect(describe(waveform_model(tmp_path / "w.onnx")), {"sample_rate": 48000}))
    with pytest.raises(ModelError, match="w.onnx: ran out of its 64 MB memory limit"):
        probe(tmp_path / "w.onnx", contract, memory_mb=64)
