"""Adding, listing, removing and running the user's own ONNX models (issue 9): CLI, store, graph node."""

import json

import numpy as np
import pytest

import byo_models
from restora.cli.main import main as cli_main
from restora.errors import ModelError
from restora.graph.file_job import process_array
from restora.graph.preset import preset_from_dict
from restora.models import store as model_store
from restora.models.byo import user_store

REAL_STORE = model_store.model_root()  # before the fixture points RESTORA_MODELS at an empty folder


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    """Each test gets an empty model store of its own."""
    root = tmp_path / "store"
    monkeypatch.setenv("RESTORA_MODELS", str(root))
    return root


def _folders(store):
    user = store / "user"
    return sorted(p.name for p in user.iterdir()) if user.exists() else []


def test_add_list_run_remove(tmp_path, store, capsys):
    byo_models.write_waveform_gain(tmp_path / "quiet.onnx", gain=0.25, channels=1)
    assert cli_main(["models", "add", str(tmp_path / "quiet.onnx"), "--rate", "8000", "--id", "quiet"]) == 0
    assert "added 'quiet': waveform model" in capsys.readouterr().out
    [folder] = _folders(store)
    card = json.loads((store / "user" / folder / "card.json").read_text())
    assert card["format"] == 1 and card["contract"]["sample_rate"] == 8000 and card["files"] == ["quiet.onnx"]
    assert cli_main(["models", "list"]) == 0
    assert "quiet" in capsys.readouterr().out
    assert cli_main(["models", "add", str(tmp_path / "quiet.onnx"), "--rate", "8000", "--id", "again"]) == 5
    assert "already added as 'quiet'" in capsys.readouterr().err
    assert cli_main(["models", "remove", "quiet"]) == 0
    assert _folders(store) == []


def test_missing_sample_rate_is_asked_for_and_nothing_is_left(tmp_path, store, capsys):
    byo_models.write_waveform_gain(tmp_path / "m.onnx")
    assert cli_main(["models", "add", str(tmp_path / "m.onnx")]) == 5
    err = capsys.readouterr().err
    assert "rate" in err and "Traceback" not in err
    assert _folders(store) == []


def test_a_card_supplies_what_the_file_does_not_say(tmp_path, capsys):
    byo_models.write_waveform_gain(tmp_path / "m.onnx", channels=1)
    (tmp_path / "m.json").write_text(json.dumps({"format": 1, "name": "My gain", "licence": "MIT",
                                                 "contract": {"sample_rate": 16000, "task": "enhance"}}))
    assert cli_main(["models", "add", str(tmp_path / "m.onnx"), "--card", str(tmp_path / "m.json")]) == 0
    model = user_store.find("m")
    assert model.contract.sample_rate == 16000 and model.card["licence"] == "MIT" and model.card["name"] == "My gain"
    (tmp_path / "bad.json").write_text("{not json")
    assert cli_main(["models", "add", str(tmp_path / "m.onnx"), "--card", str(tmp_path / "bad.json")]) == 5
    assert "not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("content, words", [(b"", "ONNX"), (b"\x00garbage\xff" * 10, "ONNX")])
def test_a_file_that_is_not_onnx_is_refused(tmp_path, store, capsys, content, words):
    (tmp_path / "x.onnx").write_bytes(content)
    assert cli_main(["models", "add", str(tmp_path / "x.onnx"), "--rate", "8000"]) == 5
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert _folders(store) == []


def test_ids_are_checked(tmp_path, capsys):
    byo_models.write_waveform_gain(tmp_path / "m.onnx")
    assert cli_main(["models", "add", str(tmp_path / "m.onnx"), "--rate", "8000", "--id", "gtcrn"]) == 5
    assert "bundled model" in capsys.readouterr().err
    assert cli_main(["models", "add", str(tmp_path / "m.onnx"), "--rate", "8000", "--id", "../evil"]) == 5
    assert cli_main(["models", "remove", "gtcrn"]) == 2
    assert cli_main(["models", "list", "--rate", "8000"]) == 2  # add's options belong to add


def test_a_damaged_file_is_caught_on_load_and_listed(tmp_path, capsys):
    byo_models.write_waveform_gain(tmp_path / "m.onnx")
    assert cli_main(["models", "add", str(tmp_path / "m.onnx"), "--rate", "8000"]) == 0
    model = user_store.find("m")
    model.onnx.write_bytes(model.onnx.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    with pytest.raises(ModelError, match="sha256"):
        user_store.load("m")
    capsys.readouterr()
    assert cli_main(["models", "list"]) == 5
    assert "damaged" in capsys.readouterr().out


def registry_card_contract(model_id):
    from importlib import resources

    return json.loads((resources.files("restora.models") / "cards" / f"{model_id}.json").read_text())["contract"]


def _preset(model_id, ports=None):
    ports = {"drums": "m.drums", "bass": "m.bass", "rest": "m.rest", "res": "m.residual"} if ports is None else ports
    return preset_from_dict({"restora_preset": 1, "name": "mine", "nodes": [
        {"id": "m", "type": f"model:{model_id}", "input": "input", "params": {}}],
        "outputs": {"main": "m", **ports}}, "test")


def test_an_added_two_stem_model_runs_in_the_graph_at_another_rate(tmp_path):
    byo_models.write_waveform_two_stem(tmp_path / "two.onnx", a=0.3, b=0.2, channels=2)
    assert cli_main(["models", "add", str(tmp_path / "two.onnx"), "--rate", "8000", "--stems", "drums,bass"]) == 0
    rate = 22050
    t = np.arange(int(1.3 * rate)) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 1000 * t)], 1).astype(np.float32)
    runs = {b: process_array(_preset("two"), x, rate, block_frames=b) for b in (256, 4096)}
    outs = {b: run[0] for b, run in runs.items()}
    [rtf] = [m.value for m in runs[256][1]["m"] if m.name == "real_time_factor"]
    assert np.isfinite(rtf) and rtf > 0  # reported; how fast is for benchmarks/byo_models.py, not a unit test
    for out in outs.values():
        assert out["main"].shape == x.shape
        np.testing.assert_allclose(out["drums"] + out["bass"] + out["rest"], x, atol=1e-6)  # the residual rule
        np.testing.assert_array_equal(out["main"], out["drums"])
        np.testing.assert_allclose(out["res"], x - out["main"], atol=1e-6)  # the graph's residual: input - main
        inner = slice(2000, -2000)  # the resamplers' edges
        np.testing.assert_allclose(out["drums"][inner], 0.3 * x[inner], atol=3e-3)
        np.testing.assert_allclose(out["rest"][inner], 0.5 * x[inner], atol=3e-3)
    for name in outs[256]:
        np.testing.assert_allclose(outs[256][name], outs[4096][name], atol=1e-6)


def test_an_unknown_or_removed_model_in_a_preset_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no added model 'gone'"):
        _preset("gone")


def test_the_bundled_gtcrn_file_added_as_a_user_model_matches_the_bundled_node(tmp_path, monkeypatch):
    """Parity with a reference runtime: the generic frame-stream runtime against models/gtcrn.py."""
    bundled = REAL_STORE / "gtcrn" / "gtcrn_simple.onnx"
    if not bundled.is_file():
        pytest.skip("the bundled GTCRN model is not installed (restora models fetch gtcrn)")
    card = tmp_path / "gtcrn-card.json"  # the bundled card's contract block, as a user would pass it
    card.write_text(json.dumps({"format": 1, "contract": registry_card_contract("gtcrn")}))
    assert cli_main(["models", "add", str(bundled), "--card", str(card), "--id", "my-gtcrn"]) == 0
    rng = np.random.default_rng(0)
    t = np.arange(2 * 16000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
         + 0.05 * rng.standard_normal(len(t))).astype(np.float32)[:, None]
    ours = process_array(_preset("my-gtcrn", ports={}), x, 16000, block_frames=777)[0]["main"]
    monkeypatch.setenv("RESTORA_MODELS", str(REAL_STORE))
    ref = process_array(preset_from_dict({"restora_preset": 1, "name": "ref", "nodes": [
        {"id": "m", "type": "gtcrn", "input": "input", "params": {}}], "outputs": {"main": "m"}}, "test"), x, 16000)
    ref = ref[0]["main"]
    snr = 10 * np.log10(np.sum(ref ** 2) / np.sum((ours - ref) ** 2))
    assert snr > 100, snr  # the same frames, windows and states: equal to float rounding


def test_restora_separate_runs_an_added_model(tmp_path, capsys):
    import soundfile as sf

    byo_models.write_waveform_two_stem(tmp_path / "two.onnx", a=0.3, b=0.2, channels=2)
    assert cli_main(["models", "add", str(tmp_path / "two.onnx"), "--rate", "8000", "--stems", "drums,bass"]) == 0
    rate = 8000
    t = np.arange(rate) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2, 1).astype(np.float32)
    sf.write(tmp_path / "in.wav", x, rate, subtype="FLOAT")
    assert cli_main(["separate", str(tmp_path / "in.wav"), "-o", str(tmp_path / "stems"), "--model", "two"]) == 0
    stems = {name: sf.read(tmp_path / "stems" / f"{name}.wav", dtype="float32")[0] for name in ("drums", "bass", "rest")}
    np.testing.assert_allclose(stems["drums"], 0.3 * x, atol=1e-5)
    np.testing.assert_allclose(sum(stems.values()), x, atol=1e-5)
    capsys.readouterr()
    assert cli_main(["separate", str(tmp_path / "in.wav"), "-o", str(tmp_path / "s2"), "--model", "nope"]) == 2
    assert "not one of spleeter-2stems, dialogue, two" in capsys.readouterr().err


def test_a_deepfilternet_export_added_as_a_user_model_matches_the_bundled_node(tmp_path, monkeypatch, capsys):
    """The export tarball is made stateful on the way in and run by the bundled runtime: the same output."""
    tarball = REAL_STORE / "deepfilternet3" / "DeepFilterNet3_onnx.tar.gz"
    if not tarball.is_file():
        pytest.skip("the bundled DeepFilterNet3 model is not installed (restora models fetch deepfilternet3)")
    assert cli_main(["models", "add", str(tarball), "--id", "my-dfn"]) == 0
    assert "dfn3 model" in capsys.readouterr().out
    rng = np.random.default_rng(1)
    t = np.arange(48000) / 48000
    x = (0.2 * np.sin(2 * np.pi * 300 * t)[:, None] + 0.03 * rng.standard_normal((48000, 2))).astype(np.float32)
    ours = process_array(_preset("my-dfn", ports={"rest": "m.rest"}), x, 48000, block_frames=1000)[0]
    monkeypatch.setenv("RESTORA_MODELS", str(REAL_STORE))
    ref = process_array(preset_from_dict({"restora_preset": 1, "name": "ref", "nodes": [
        {"id": "m", "type": "deepfilternet3", "input": "input", "params": {}}], "outputs": {"main": "m"}}, "test"),
        x, 48000)[0]["main"]
    np.testing.assert_allclose(ours["main"], ref, atol=1e-5)
    np.testing.assert_allclose(ours["main"] + ours["rest"], x, atol=1e-6)


def _tarball(path, members):
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"export/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("members, words", [
    ({"enc.onnx": b"x", "erb_dec.onnx": b"x", "df_dec.onnx": b"x"}, "lacks config.ini"),
    ({"enc.onnx": b"garbage", "erb_dec.onnx": b"x", "df_dec.onnx": b"x", "config.ini": b"[df]\n"}, "enc.onnx"),
    (None, "not a readable .tar.gz"),
])
def test_a_broken_deepfilternet_export_is_refused(tmp_path, store, capsys, members, words):
    path = tmp_path / "export.tar.gz"
    if members is None:
        path.write_bytes(b"\x1f\x8b not really gzip")
    else:
        _tarball(path, members)
    assert cli_main(["models", "add", str(path)]) == 5
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert _folders(store) == []


def test_external_data_travels_with_the_model(tmp_path, store):
    import onnx

    src = tmp_path / "src"
    src.mkdir()
    byo_models.write_waveform_gain(src / "ext.onnx", gain=(0.5, 0.25), channels=2)
    model = onnx.load(src / "ext.onnx")
    onnx.save(model, src / "ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.bin", size_threshold=0)
    assert (src / "ext.bin").is_file()
    assert cli_main(["models", "add", str(src / "ext.onnx"), "--rate", "8000"]) == 0
    added = user_store.load("ext")
    assert (added.folder / "ext.bin").is_file() and "ext.bin" in added.card["files"]
    (added.folder / "ext.bin").write_bytes(b"\x00" * 8)  # the weights changed behind our back
    with pytest.raises(ModelError, match="sha256"):
        user_store.load("ext")


def test_bundled_cards_share_the_format_and_their_contracts_validate():
    from importlib import resources

    from restora.models.byo.contract import from_dict

    cards = [json.loads(p.read_text()) for p in (resources.files("restora.models") / "cards").iterdir()
             if p.name.endswith(".json")]
    assert cards and all(card["format"] == 1 for card in cards)
    contracts = {card["id"]: from_dict(card["contract"]) for card in cards if "contract" in card}
    assert contracts["gtcrn"].kind == "frame-stream" and contracts["gtcrn"].center
