"""Opening a recording progressively and drawing it: overview, loader, views (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPoint, QPointF, Qt

from restora.app.loader import SourceLoader
from restora.app.overview import Overview, detail_spectrogram
from restora.app.source import SourceAudio
from restora.app.views import SpectrumViews
from restora.dsp import audio_io
from restora.errors import RestoraError

SR = 16000


def tone(freq: float, seconds: float, sr: int = SR, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noisy_stereo(seconds: float, sr: int = SR, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    audio = 0.1 * rng.standard_normal((int(seconds * sr), 2)).astype(np.float32)
    audio[:, 0] += tone(440, seconds, sr, 0.3)
    return audio


# ----- overview ---------------------------------------------------------------------------

def overview_of(audio: np.ndarray, cuts: list[int], sr: int = SR, expected: int | None = None) -> Overview:
    view = Overview(sr, audio.shape[1], expected or len(audio))
    for start, stop in zip([0] + cuts, cuts + [len(audio)]):
        view.push(audio[start:stop])
    view.finish()
    return view


@pytest.mark.parametrize("expected_s", [3.0, 2000.0])  # short file: overlapping frames; long: averaged frames
def test_overview_does_not_depend_on_how_blocks_are_cut(expected_s):
    audio = noisy_stereo(3.0)
    whole = overview_of(audio, [], expected=int(expected_s * SR))
    cut = overview_of(audio, [1, 700, 701, 20000, 33333], expected=int(expected_s * SR))
    db_a, hop_a, _ = whole.spectrogram()
    db_b, hop_b, _ = cut.spectrogram()
    assert hop_a == hop_b and db_a.shape == db_b.shape and len(db_a) > 0
    np.testing.assert_allclose(db_a.astype(float), db_b.astype(float), atol=0.05)
    for a, b in zip(whole.peaks()[:2], cut.peaks()[:2]):
        np.testing.assert_array_equal(a, b)
    assert whole.frames_done == cut.frames_done == len(audio)


def test_overview_covers_the_whole_file_at_bounded_resolution():
    sr, seconds = 48000, 600  # a 10-minute file's resolution, from the expected length alone
    view = Overview(sr, 2, seconds * sr)
    assert view.n_fft == 2048
    assert seconds * sr / view.hop <= 12001 and seconds * sr / view.bucket_frames <= 20001
    audio = noisy_stereo(2.0, sr)
    view.push(audio)
    view.finish()
    db, hop, _ = view.spectrogram()
    assert len(db) == -(-len(audio) // hop)  # every frame is in some column
    mins, maxs, bucket = view.peaks()
    assert len(mins) == -(-len(audio) // bucket)
    assert np.all(mins <= maxs) and maxs.max() > 0.3


def test_full_scale_tone_lands_in_its_bin_near_0_dbfs():
    view = overview_of(tone(1000, 2.0)[:, None], [5000])
    db, _, n_fft = view.spectrogram()
    assert n_fft == 1024  # below 32 kHz
    middle = db[len(db) // 2].astype(float)
    assert int(np.argmax(middle)) == round(1000 * n_fft / SR)
    assert -1.5 < middle.max() < 0.5
    quiet = overview_of(tone(1000, 2.0, amplitude=0.01)[:, None], [])
    assert abs(quiet.spectrogram()[0][len(db) // 2].max() - (middle.max() - 40)) < 0.5


def test_detail_spectrogram_matches_the_overview_scale():
    db = detail_spectrogram(tone(2000, 0.5), SR, 1024, 64)
    assert db.shape == (-(-SR // 2 // 64), 513)
    peak = db[len(db) // 2]
    assert int(np.argmax(peak)) == 128 and -1.5 < peak.max() < 0.5


# ----- loader -----------------------------------------------------------------------------

def write(tmp_path, audio, name="rec.wav", sr=SR, **kw):
    path = tmp_path / name
    sf.write(path, audio, sr, **kw)
    return path


def test_loader_decodes_the_whole_file_and_reports_progress(qtbot, tmp_path):
    audio = noisy_stereo(4.0)
    path = write(tmp_path, audio, subtype="FLOAT")
    loader = SourceLoader(path)
    progress = []
    loader.progressed.connect(progress.append)
    with qtbot.waitSignal(loader.finished, timeout=10000):
        loader.start()
    source = loader.source
    assert source.complete and source.finished.is_set() and not source.error
    assert source.frames == source.decoded == len(audio)
    np.testing.assert_array_equal(source.data[:source.frames], audio)
    assert progress and progress[-1] == len(audio)
    assert loader.overview.frames_done == len(audio)


def test_loader_handles_a_file_longer_than_its_header_said(qtbot, tmp_path, monkeypatch):
    audio = noisy_stereo(3.0)
    path = write(tmp_path, audio)
    real_probe = audio_io.probe

    def short_header(p):
        from dataclasses import replace
        return replace(real_probe(p), frames=SR // 2)
    monkeypatch.setattr(audio_io, "probe", short_header)
    loader = SourceLoader(path)
    with qtbot.waitSignal(loader.finished, timeout=10000):
        loader.start()
    assert loader.source.frames == len(audio)
    np.testing.assert_allclose(loader.source.data[:len(audio)], audio, atol=1 / 32768)


def test_corrupt_file_is_refused_by_start(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    loader = SourceLoader(bad)
    with pytest.raises(RestoraError, match="bad.wav"):
        loader.start()
    assert loader.source is None


def test_damaged_data_fails_with_a_plain_message(qtbot, tmp_path, capfd):
    audio = noisy_stereo(3.0)
    audio[2 * SR, 1] = np.nan  # readable header, unusable data two seconds in
    path = write(tmp_path, audio, subtype="FLOAT")
    loader = SourceLoader(path)
    finished = []
    loader.finished.connect(lambda: finished.append(True))
    with qtbot.waitSignal(loader.failed, timeout=10000) as blocker:
        loader.start()
    message = blocker.args[0]
    assert "invalid samples" in message and "2.000 s" in message
    assert loader.source.error == message and loader.source.finished.is_set()
    assert not loader.source.complete and not finished
    assert "Traceback" not in capfd.readouterr().err


def test_truncated_file_opens_with_what_is_there(qtbot, tmp_path):
    path = write(tmp_path, noisy_stereo(3.0), subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])  # header still claims 3 s
    loader = SourceLoader(path)
    with qtbot.waitSignal(loader.finished, timeout=10000):
        loader.start()
    assert loader.source.complete
    assert SR < loader.source.frames < 2 * SR  # the true length, not the header's


def test_cancel_stops_decoding_without_signals(qtbot, tmp_path):
    path = write(tmp_path, noisy_stereo(20.0), subtype="FLOAT")
    loader = SourceLoader(path)
    done = []
    loader.finished.connect(lambda: done.append("finished"))
    loader.failed.connect(done.append)
    loader.start()
    loader.cancel()
    qtbot.wait(50)
    assert not loader.is_running() and loader.source.finished.is_set()
    assert not done or done == ["finished"]  # a tiny file may finish before cancel arrives


# ----- views ------------------------------------------------------------------------------

@pytest.fixture
def views(qtbot):
    widget = SpectrumViews()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def open_array(views, audio, sr=SR, expected=None):
    source = SourceAudio.from_array(audio, sr)
    overview = overview_of(source.data, [], sr, expected)
    views.set_source(source, overview)
    return source, overview


def test_progressive_source_is_drawn_as_it_decodes(views):
    audio = noisy_stereo(6.0)
    source = SourceAudio(SourceAudio.from_array(audio, SR).path, SR, 2, len(audio), np.zeros_like(audio))
    overview = Overview(SR, 2, len(audio))
    views.set_source(source, overview)
    assert views.spectrogram_columns() == 0
    source.data[:SR] = audio[:SR]
    source.decoded = SR
    overview.push(audio[:SR])
    views.refresh()
    first = views.spectrogram_columns()
    assert first > 0 and len(views.wave_curve.getData()[0]) > 0
    overview.push(audio[SR:])
    overview.finish()
    views.refresh()
    assert views.spectrogram_columns() == len(overview.spectrogram()[0]) > first
    tiles = views.main_layer.tiles
    assert tiles and all(t.image is not None for t in tiles)
    x_max = max(t.mapRectToParent(t.boundingRect()).right() for t in tiles)
    assert x_max == pytest.approx(6.0, abs=0.1)


def test_selection_is_shown_on_every_plot_and_reported(views, qtbot):
    open_array(views, noisy_stereo(5.0))
    with qtbot.waitSignal(views.selection_changed) as blocker:
        views.set_selection((3.5, 1.0))
    assert blocker.args == [(1.0, 3.5)] and views.selection() == (1.0, 3.5)
    regions = [views.wave_plot.region, views.spec_plot.region]
    assert all(r.isVisible() and r.getRegion() == pytest.approx((1.0, 3.5)) for r in regions)
    with qtbot.waitSignal(views.selection_changed) as blocker:
        views.spec_plot.region.setRegion((2.0, 4.0))  # as a user drag would
        views.spec_plot.region.sigRegionChangeFinished.emit(views.spec_plot.region)
    assert blocker.args == [(2.0, 4.0)]
    assert views.wave_plot.region.getRegion() == pytest.approx((2.0, 4.0))
    with qtbot.waitSignal(views.selection_changed) as blocker:
        views.set_selection(None)
    assert blocker.args == [None] and not views.wave_plot.region.isVisible()


def test_log_frequency_keeps_the_image_and_labels_in_hz(views):
    open_array(views, tone(1000, 3.0)[:, None] * np.ones((1, 2), np.float32))
    linear = views.main_layer.tiles[0].image.copy()
    views.set_log_frequency(True)
    image = views.main_layer.tiles[0].image
    assert views.log_frequency() and views.log_check.isChecked()
    assert image is not None and image.shape[0] == linear.shape[0] and image.shape[1] != linear.shape[1]
    # the tone's row sits at log10(1000 Hz) on the y axis
    tile = views.main_layer.tiles[0]
    row = int(np.argmax(image[len(image) // 2]))
    y = tile.mapToParent(QPointF(0, row + 0.5)).y()
    assert y == pytest.approx(3.0, abs=0.02)
    axis = views.spec_plot.getAxis("left")
    assert axis.tickStrings([3.0], 1, 1) == ["1k"]
    views.set_log_frequency(False)
    assert views.main_layer.tiles[0].image.shape == linear.shape


def click_at(qtbot, views, seconds: float, plot) -> None:
    view = plot.getViewBox()
    y = np.mean(view.viewRange()[1])
    scene_pos = view.mapViewToScene(QPointF(seconds, y))
    pos = views.graphics.mapFromScene(scene_pos)
    qtbot.mouseClick(views.graphics.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))


def test_click_on_a_plot_requests_a_seek_to_that_time(views, qtbot):
    open_array(views, noisy_stereo(10.0))
    views.zoom_to(0.0, 10.0)
    qtbot.wait(20)
    with qtbot.waitSignal(views.seek_requested, timeout=2000) as blocker:
        click_at(qtbot, views, 4.0, views.spec_plot)
    assert blocker.args[0] == pytest.approx(4.0, abs=0.1)
    with qtbot.waitSignal(views.seek_requested, timeout=2000) as blocker:
        click_at(qtbot, views, 7.5, views.wave_plot)
    assert blocker.args[0] == pytest.approx(7.5, abs=0.1)


def test_shift_drag_selects_a_time_range(views, qtbot):
    open_array(views, noisy_stereo(10.0))
    views.zoom_to(0.0, 10.0)
    view = views.spec_plot.getViewBox()
    with qtbot.waitSignal(views.selection_changed) as blocker:
        view.selection_dragged.emit(2.0, 5.0, False)
        assert views.wave_plot.region.getRegion() == pytest.approx((2.0, 5.0))
        view.selection_dragged.emit(2.0, 6.0, True)
    assert blocker.args == [(2.0, 6.0)]


def test_playhead_moves_on_every_plot_and_pages_the_view(views):
    open_array(views, noisy_stereo(10.0))
    views.zoom_to(0.0, 2.0)
    views.set_playhead(1.5)
    assert views.spec_plot.playhead.value() == views.wave_plot.playhead.value() == 1.5
    views.set_playhead(2.3)  # playback runs off the right edge
    start, end = views.visible_range()
    assert start < 2.3 < end and end - start == pytest.approx(2.0)


def set_processed_and_wait(views, qtbot, data, covered):
    with qtbot.waitSignal(views.processed_drawn, timeout=10000):
        views.set_processed(data, covered)


def test_compare_modes_show_processed_and_removed(views, qtbot):
    sr = SR
    original = tone(1000, 4.0) * 0.5 + tone(3000, 4.0) * 0.5
    source, overview = open_array(views, np.stack([original, original], axis=1))
    processed = np.stack([tone(1000, 4.0) * 0.5] * 2, axis=1)  # the 3 kHz "noise" removed
    set_processed_and_wait(views, qtbot, processed, [(0, 2 * sr)])  # only the first half rendered
    bins = {f: round(f * overview.n_fft / sr) for f in (1000, 3000)}

    def column(mode, seconds, plot_layer="main"):
        views.set_compare_mode(mode)
        layer = views.main_layer if plot_layer == "main" else views.lower_layer
        shown = layer.tiles[0].image  # linear axis: rows are FFT bins
        return shown[int(seconds * sr / overview.hop)].astype(float)

    orig = column("original", 1.0)
    assert orig[bins[3000]] > -10 and orig[bins[1000]] > -10
    proc = column("processed", 1.0)
    assert proc[bins[1000]] > -10 and proc[bins[3000]] < -60
    assert np.isnan(column("processed", 3.0)).all()  # not rendered yet: transparent
    removed = column("removed", 1.0)
    assert removed[bins[3000]] > -10 and removed[bins[1000]] < -60
    views.set_compare_mode("beside")
    assert views.lower_plot.scene() is not None and views.compare_mode() == "beside"
    assert column("beside", 1.0, "lower")[bins[3000]] < -60
    assert len(views.overlay_curve.getData()[0]) > 0
    views.set_compare_mode("original")
    assert views.lower_plot.scene() is None
    assert views.overlay_curve.getData()[0] is None
    with pytest.raises(ValueError):
        views.set_compare_mode("sideways")


def test_zooming_in_computes_a_detail_spectrogram(views, qtbot):
    sr = 4000  # a 10-minute file kept small by its low rate
    source, overview = open_array(views, np.stack([tone(500, 600.0, sr)] * 2, axis=1), sr)
    coarse_columns_per_s = sr / overview.hop
    views.zoom_to(300.0, 300.5)
    detail = views.main_layer.detail
    qtbot.waitUntil(lambda: detail.isVisible(), timeout=5000)
    rect = detail.mapRectToParent(detail.boundingRect())
    assert rect.left() <= 300.0 and rect.right() >= 300.5
    assert len(detail.image) / rect.width() > 4 * coarse_columns_per_s  # finer than the overview
    x, _ = views.wave_curve.getData()
    assert x.min() <= 300.0 and x.max() >= 300.5 and len(x) / (x.max() - x.min()) > 4 * sr / overview.bucket_frames
    views.zoom_full()
    qtbot.waitUntil(lambda: not views.main_layer.detail.isVisible(), timeout=5000)
    assert views.wave_curve.getData()[0].max() > 599  # back to the whole-file peaks


def test_db_range_and_controls_are_accessible(views):
    views.set_db_range(-80, -10)
    open_array(views, noisy_stereo(2.0))
    assert views.db_range() == (-80.0, -10.0)
    assert views.main_layer.tiles[0].getLevels() == pytest.approx((-80, -10))
    for control in (views.log_check, views.mode_combo, views.graphics):
        assert control.accessibleName()

