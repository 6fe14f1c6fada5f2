"""Waveform and spectrogram views of the recording and of the processed result.

:class:`SpectrumViews` draws an :class:`~restora.app.overview.Overview` while
the file is still decoding (``refresh`` only swaps item data), recomputes a
full-resolution detail of the visible range when the user zooms in, and shows
the processed main lane over, beside, or subtracted from the original. Heavy
numpy work runs on one worker thread; results come back as a queued signal.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from restora.app.overview import Overview, compare_overviews, range_detail
from restora.app.source import SourceAudio
from restora.app.spectrogram_item import SpectrogramLayer, detail_plan, peak_line, time_plot

MODES = ("original", "processed", "beside", "removed")
_MODE_TITLES = {"original": "Original", "processed": "Processed", "beside": "Original",
                "removed": "Removed (original − processed)"}
WAVE_PEN, OVERLAY_PEN = "#4fc3f7", "#ffb74d"
DETAIL_DELAY_MS, PROCESSED_DELAY_MS = 120, 250
log = logging.getLogger(__name__)


class SpectrumViews(QWidget):
    """Waveform, spectrogram (dB colour bar) and optional processed spectrogram on one time axis.

    Signals: ``selection_changed(object)`` None or (start_s, end_s);
    ``seek_requested(float)`` seconds, on a click without drag;
    ``log_frequency_changed(bool)`` and ``compare_mode_changed(str)`` when the
    built-in controls (or the setters) change them, so a window's own menu
    items can follow; ``processed_drawn()`` once a :meth:`set_processed`
    overview is computed and shown.
    """

    selection_changed = Signal(object)
    seek_requested = Signal(float)
    log_frequency_changed = Signal(bool)
    compare_mode_changed = Signal(str)
    processed_drawn = Signal()
    _computed = Signal(object)  # (kind, generation, payload) from the worker thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Waveform and spectrogram views")
        self.source: SourceAudio | None = None
        self.overview: Overview | None = None
        self._mode, self._selection, self._follow = "original", None, True
        self._processed = None  # (data, covered, rate, original at that rate)
        self._processed_view = None  # worker result: dbs and peaks of processed/removed
        self._processed_geometry = None  # (rate, hop, bucket) of _processed_view
        self._band_hz: float | None = None  # cut-off above which a band was generated (upscale)
        self._generation = {"detail": 0, "processed": 0}
        self._drawn_columns, self._syncing, self._playhead = 0, False, 0.0
        self._detail_wave = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="views")
        self._build_controls()
        self._build_plots()
        self._detail_timer = self._single_shot(DETAIL_DELAY_MS, self._start_detail)
        self._processed_timer = self._single_shot(PROCESSED_DELAY_MS, self._start_processed)
        self._computed.connect(self._on_computed)

    # ----- construction -------------------------------------------------------------------

    def _single_shot(self, ms: int, slot) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    def _build_controls(self) -> None:
        self.log_check = QCheckBox("Log frequency")
        self.log_check.setAccessibleName("Log frequency axis")
        self.log_check.toggled.connect(self.set_log_frequency)
        self.mode_combo = QComboBox()
        self.mode_combo.setAccessibleName("Compare original and processed")
        for mode, text in zip(MODES, ("Original", "Processed", "Beside", "Removed")):
            self.mode_combo.addItem(text, mode)
        self.mode_combo.currentIndexChanged.connect(lambda i: self.set_compare_mode(MODES[i]))
        compare = QLabel("Show:")
        compare.setBuddy(self.mode_combo)
        row = QHBoxLayout()
        row.addWidget(self.log_check)
        row.addWidget(compare)
        row.addWidget(self.mode_combo)
        row.addStretch(1)
        self.controls = QWidget()
        self.controls.setLayout(row)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setAccessibleName("Waveform and spectrogram plots")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.controls)
        layout.addWidget(self.graphics, 1)

    def _new_plot(self, frequency: bool) -> pg.PlotItem:
        plot = time_plot(frequency)
        plot.getViewBox().seek_requested.connect(self._on_click)
        plot.getViewBox().selection_dragged.connect(self._on_drag)
        plot.region.sigRegionChanged.connect(self._on_region_moved)
        plot.region.sigRegionChangeFinished.connect(self._on_region_finished)
        return plot

    def _build_plots(self) -> None:
        self.wave_plot = self._new_plot(frequency=False)
        self.spec_plot = self._new_plot(frequency=True)
        self.lower_plot = self._new_plot(frequency=True)
        self.wave_plot.setLabel("left", "Amplitude")
        self.wave_plot.setYRange(-1, 1)
        self.wave_plot.getViewBox().setLimits(yMin=-2, yMax=2)
        for plot in (self.spec_plot, self.lower_plot):
            plot.setXLink(self.wave_plot)
        self.lower_plot.setYLink(self.spec_plot)
        self.spec_plot.setTitle(_MODE_TITLES["original"])
        self.lower_plot.setTitle("Processed")
        self.graphics.addItem(self.wave_plot, row=0, col=0)
        self.graphics.addItem(self.spec_plot, row=1, col=0)
        self.colorbar = pg.ColorBarItem(values=(-100, 0), colorMap="inferno", label="dBFS",
                                        limits=(-160, 20), colorMapMenu=False)
        self.colorbar.sigLevelsChanged.connect(lambda bar: self.set_db_range(*bar.levels()))
        self.graphics.addItem(self.colorbar, row=1, col=1)
        grid = self.graphics.ci.layout
        grid.setRowStretchFactor(0, 1)
        grid.setRowStretchFactor(1, 2)
        grid.setRowStretchFactor(2, 2)
        self._plots = [self.wave_plot, self.spec_plot, self.lower_plot]
        self._set_time_label()
        cmap = pg.colormap.get("inferno")
        self.main_layer = SpectrogramLayer(self.spec_plot, cmap, (-100.0, 0.0))
        self.lower_layer = SpectrogramLayer(self.lower_plot, cmap, (-100.0, 0.0))
        self.wave_curve = self.wave_plot.plot(pen=WAVE_PEN, name="original")
        self.overlay_curve = self.wave_plot.plot(pen=OVERLAY_PEN, name="processed", connect="finite")
        self.wave_plot.getViewBox().sigXRangeChanged.connect(lambda *_: self._detail_timer.start())
        self.band_marks = {plot: self._band_items(plot) for plot in (self.spec_plot, self.lower_plot)}

    def _band_items(self, plot: pg.PlotItem) -> tuple:
        """A dashed line at the cut-off, a tint above it and a label: the band an upscale node generated."""
        line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen("#80deea", width=1.5, style=Qt.PenStyle.DashLine))
        tint = pg.LinearRegionItem(orientation="horizontal", movable=False, brush=pg.mkBrush(128, 222, 234, 28),
                                   pen=pg.mkPen(None))
        label = pg.TextItem(color="#80deea", anchor=(0, 1))
        for item in (tint, line, label):
            item.setZValue(20)
            item.setVisible(False)
            plot.addItem(item, ignoreBounds=True)
        return line, tint, label

    def _set_time_label(self) -> None:
        bottom = self.lower_plot if self._mode == "beside" else self.spec_plot
        for plot in self._plots:
            plot.setLabel("bottom", "Time", units="s" if plot is bottom else None)
            plot.getAxis("bottom").setStyle(showValues=plot is bottom or plot is self.wave_plot)

    # ----- source and progressive drawing -------------------------------------------------

    def set_source(self, source: SourceAudio, overview: Overview) -> None:
        """Show a new recording (possibly still decoding); clears processed data and selection."""
        self.source, self.overview = source, overview
        self._processed, self._processed_view, self._detail_wave = None, None, None
        self._processed_geometry, self._band_hz = None, None
        for key in self._generation:
            self._generation[key] += 1
        self._drawn_columns = 0
        self.main_layer.set_data(None, 0, 1, source.sample_rate)
        self.lower_layer.set_data(None, 0, 1, source.sample_rate)
        for layer in (self.main_layer, self.lower_layer):
            layer.set_detail(None)
        self.overlay_curve.setData([], [])
        self.set_selection(None)
        self.set_playhead(0.0)
        self._update_limits()
        self.wave_plot.setXRange(0, max(source.duration_s, 1e-3), padding=0)
        self.spec_plot.setYRange(*self._frequency_span(), padding=0)
        self.refresh()

    def refresh(self) -> None:
        """Draw what has been decoded so far (cheap: only new spectrogram tiles are rendered)."""
        if self.overview is None:
            return
        if self._detail_wave is None:
            self._draw_peaks(self.wave_curve, *self.overview.peaks())
        db, hop, _ = self.overview.spectrogram()
        if self._mode in ("original", "beside") and len(db) != self._drawn_columns:
            self.main_layer.set_data(db, 0.0, hop / self.source.sample_rate, self.source.sample_rate,
                                     changed_from=self._drawn_columns)
        self._drawn_columns = len(db)
        self._update_limits()

    def spectrogram_columns(self) -> int:
        """Columns of the overview spectrogram drawn so far (0 before the first paint)."""
        return self.main_layer.columns()

    def _draw_peaks(self, curve: pg.PlotDataItem, mins: np.ndarray, maxs: np.ndarray, bucket: int,
                    start_frame: int = 0) -> None:
        """Draw min/max peaks as one zig-zag line: each bucket becomes a vertical stroke."""
        curve.setData(*peak_line(mins, maxs, bucket, self.source.sample_rate, start_frame))

    def _update_limits(self) -> None:
        duration = max(self.source.frames, self.source.decoded) / self.source.sample_rate
        for plot in self._plots:
            plot.getViewBox().setLimits(xMin=0, xMax=max(duration, 1e-3))
        low, high = self._frequency_span()
        for plot in (self.spec_plot, self.lower_plot):
            plot.getViewBox().setLimits(yMin=low, yMax=high)

    def _view_rate(self) -> int:
        """The highest rate shown: the source's, or the processed lanes' when the chain raised it."""
        rate = self.source.sample_rate if self.source else 48000
        return max(rate, self._processed[2]) if self._processed is not None else rate

    def _frequency_span(self) -> tuple[float, float]:
        nyquist = self._view_rate() / 2
        if self.main_layer.log:
            return math.log10(20.0), math.log10(nyquist)
        return 0.0, nyquist

    # ----- display options ----------------------------------------------------------------

    def set_log_frequency(self, log_scale: bool) -> None:
        """Show frequency on a log axis (resampled rows; ticks still in Hz) or a linear one."""
        log_scale = bool(log_scale)
        if self.log_check.isChecked() != log_scale:
            self.log_check.setChecked(log_scale)  # re-enters through toggled
            return
        for layer in (self.main_layer, self.lower_layer):
            layer.set_log(log_scale)
        for plot in (self.spec_plot, self.lower_plot):
            plot.getAxis("left").log_scale = log_scale
            plot.getAxis("left").picture = None
        if self.source is not None:
            self._update_limits()
            self.spec_plot.setYRange(*self._frequency_span(), padding=0)
        self._show_band()
        self.log_frequency_changed.emit(log_scale)

    def set_controls_visible(self, visible: bool) -> None:
        """Hide the built-in log-frequency and compare controls (a window may offer its own)."""
        self.controls.setVisible(visible)

    def log_frequency(self) -> bool:
        return self.main_layer.log

    def set_db_range(self, low: float, high: float) -> None:
        """Colour scale limits in dBFS (default −100 .. 0)."""
        if tuple(self.colorbar.levels()) != (low, high):
            self.colorbar.setLevels((low, high))
        for layer in (self.main_layer, self.lower_layer):
            layer.set_levels(low, high)

    def db_range(self) -> tuple[float, float]:
        return self.main_layer.levels

    def zoom_to(self, start_s: float, end_s: float) -> None:
        self.wave_plot.setXRange(float(start_s), float(end_s), padding=0)

    def zoom_full(self) -> None:
        if self.source is not None:
            self.wave_plot.setXRange(0, self.source.duration_s, padding=0)
            self.spec_plot.setYRange(*self._frequency_span(), padding=0)

    def visible_range(self) -> tuple[float, float]:
        return tuple(self.wave_plot.getViewBox().viewRange()[0])

    # ----- selection and playhead ---------------------------------------------------------

    def selection(self) -> tuple[float, float] | None:
        return self._selection

    def set_selection(self, selection: tuple[float, float] | None) -> None:
        """Select a time range in seconds (None clears it); emits selection_changed when it changes."""
        if selection is not None:
            start, end = sorted(float(v) for v in selection)
            selection = None if end <= start else (start, end)
        self._show_regions(selection)
        self._commit_selection(selection)

    def _show_regions(self, selection) -> None:
        self._syncing = True
        for plot in self._plots:
            plot.region.setVisible(selection is not None)
            if selection is not None:
                plot.region.setRegion(selection)
        self._syncing = False

    def _commit_selection(self, selection) -> None:
        if selection != self._selection:
            self._selection = selection
            self.selection_changed.emit(selection)

    def _on_region_moved(self, region) -> None:
        if not self._syncing:
            self._show_regions(tuple(region.getRegion()))

    def _on_region_finished(self, region) -> None:
        if not self._syncing:
            self.set_selection(tuple(region.getRegion()))

    def _on_drag(self, start: float, end: float, finished: bool) -> None:
        self._show_regions((start, end))
        if finished:
            self.set_selection((start, end))

    def _on_click(self, seconds: float) -> None:
        duration = self.source.duration_s if self.source else 0.0
        self.seek_requested.emit(min(max(0.0, seconds), duration))

    def set_playhead(self, seconds: float) -> None:
        """Move the playhead; while following, page the view along when playback leaves it."""
        seconds = float(seconds)
        x0, x1 = self.visible_range()
        if self._follow and x0 <= self._playhead <= x1 and not x0 <= seconds <= x1:
            width = x1 - x0
            self.wave_plot.setXRange(seconds - 0.05 * width, seconds + 0.95 * width, padding=0)
        self._playhead = seconds
        for plot in self._plots:
            plot.playhead.setPos(seconds)

    def set_follow_playhead(self, follow: bool) -> None:
        self._follow = bool(follow)

    # ----- processed result and compare modes ---------------------------------------------

    def set_processed(self, data: np.ndarray | None, covered: list[tuple[int, int]],
                      sample_rate: int | None = None, original=None) -> None:
        """The processed main lane: float32 [frames, channels] at ``sample_rate``, valid in ``covered``.

        ``sample_rate`` (None: the source's) is the chain's working rate; when it
        is higher than the source's (an ``upscale`` node), ``original`` is the
        source resampled to it (a SourceAudio, for the "removed" view) and the
        frequency axis reaches the higher Nyquist. Call again as more is
        rendered; the overview is recomputed in the background.
        """
        rate = int(sample_rate or (self.source.sample_rate if self.source else 48000))
        old_rate = self._view_rate()
        self._processed = None if data is None else (data, list(covered), rate, original)
        self._generation["processed"] += 1
        if data is None:
            self._processed_view = self._processed_geometry = None
            self._show_mode()
        else:
            self._processed_timer.start()
        if self.source is not None and self._view_rate() != old_rate:
            self._update_limits()
            self.spec_plot.setYRange(*self._frequency_span(), padding=0)
        self._show_band()

    def set_generated_band(self, cutoff_hz: float | None) -> None:
        """Mark the band above ``cutoff_hz`` as generated (upscale) in processed views; None hides it."""
        self._band_hz = None if cutoff_hz is None else float(cutoff_hz)
        self._show_band()

    def generated_band(self) -> float | None:
        """The cut-off (Hz) marked as the edge of a generated band, or None."""
        return self._band_hz

    def band_marker_visible(self) -> bool:
        """True while a processed view shows the generated-band marker."""
        return any(items[0].isVisible() for items in self.band_marks.values())

    def _show_band(self) -> None:
        """Place the generated-band marks on the plot that shows the processed lane."""
        cutoff, shown = self._band_hz, None
        if cutoff is not None and self._processed is not None:
            shown = {"processed": self.spec_plot, "beside": self.lower_plot}.get(self._mode)
        top = self._processed[2] / 2 if self._processed is not None else 0.0
        log_scale = self.main_layer.log
        for plot, (line, tint, label) in self.band_marks.items():
            visible = plot is shown and cutoff < top
            for item in (line, tint, label):
                item.setVisible(visible)
            if not visible:
                continue
            low, high = (math.log10(max(cutoff, 1.0)), math.log10(top)) if log_scale else (cutoff, top)
            line.setValue(low)
            tint.setRegion((low, high))
            label.setText(f"generated above {cutoff / 1000:.1f} kHz")
            label.setPos(self.visible_range()[0], high)

    def compare_mode(self) -> str:
        return self._mode

    def set_compare_mode(self, mode: str) -> None:
        """Show "original", "processed", "beside" (original above processed) or "removed"."""
        if mode not in MODES:
            raise ValueError(f"unknown compare mode {mode!r}; expected one of {', '.join(MODES)}")
        if self.mode_combo.currentIndex() != MODES.index(mode):
            self.mode_combo.setCurrentIndex(MODES.index(mode))  # re-enters through the combo
            return
        self._mode = mode
        self._show_mode()
        self._show_band()
        self.compare_mode_changed.emit(mode)

    def _show_mode(self) -> None:
        """Put the right data in the main/lower layers and the waveform overlay for the mode."""
        mode, rate = self._mode, self.source.sample_rate if self.source else 48000
        beside = mode == "beside"
        if beside and self.lower_plot.scene() is None:
            self.graphics.addItem(self.lower_plot, row=2, col=0)
        elif not beside and self.lower_plot.scene() is not None:
            self.graphics.removeItem(self.lower_plot)
        self.spec_plot.setTitle(_MODE_TITLES[mode])
        self._set_time_label()
        shown = self._processed_view or {}
        if self.overview is not None:
            db, hop, _ = self.overview.spectrogram()
            p_rate, p_hop, _ = self._processed_geometry or (rate, hop, 0)
            if mode in ("processed", "removed"):
                self.main_layer.set_data(shown.get(mode, (None,))[0], 0.0, p_hop / p_rate, p_rate)
            else:
                self.main_layer.set_data(db, 0.0, hop / rate, rate)
            self.lower_layer.set_data(shown.get("processed", (None,))[0] if beside else None, 0.0, p_hop / p_rate,
                                      p_rate)
        self._clear_detail()
        self._detail_timer.start()

    def _overlay_name(self) -> str | None:
        """Which result the waveform overlay shows in this mode (None: no overlay)."""
        return {"original": None, "removed": "removed"}.get(self._mode, "processed")

    def _clear_detail(self) -> None:
        """Back to the overview resolution (zoomed out, or the data changed)."""
        for layer in (self.main_layer, self.lower_layer):
            layer.set_detail(None)
        self._detail_wave = None
        if self.overview is not None:
            self._draw_peaks(self.wave_curve, *self.overview.peaks())
        overlay = (self._processed_view or {}).get(self._overlay_name())
        if overlay is None or self.overview is None:
            self.overlay_curve.setData([], [])
        else:
            rate, _, bucket = self._processed_geometry or (self.source.sample_rate, 0, self.overview.bucket_frames)
            self.overlay_curve.setData(*peak_line(overlay[1], overlay[2], bucket, rate, 0))

    # ----- background work ----------------------------------------------------------------

    def _submit(self, kind: str, work, *args) -> None:
        generation = self._generation[kind]

        def run():
            try:
                payload = work(*args)
            except Exception:  # noqa: BLE001 — a failed redraw must not take the window down
                log.exception("background %s computation failed", kind)
                return
            if self._closing:
                return
            try:
                self._computed.emit((kind, generation, payload))
            except RuntimeError:
                pass  # the widget was deleted meanwhile
        if not self._closing:
            self._pool.submit(run)

    _closing = False

    def shutdown(self) -> None:
        """Finish background drawing work before the widget is destroyed."""
        self._closing = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _on_computed(self, result) -> None:
        kind, generation, payload = result
        if generation != self._generation[kind] or self.source is None:
            return  # stale: the source, the processed data or the view changed since
        if kind == "processed":
            self._processed_view, self._processed_geometry = payload
            self._show_mode()
            self.processed_drawn.emit()
        else:
            self._apply_detail(payload)

    def _start_processed(self) -> None:
        if self._processed is None or self.source is None:
            return
        data, covered, rate, timeline = self._processed
        like = self.overview
        if rate != self.source.sample_rate and timeline is not None:
            # The chain runs faster than the file (upscale): draw the lanes at their own rate.
            original = timeline.data[:timeline.decoded]
            like = Overview(rate, 1, round(like.expected_frames * rate / self.source.sample_rate))
        else:
            original = self.source.data[:self.source.decoded]

        def work():
            return compare_overviews(original, data, covered, like), (like.sample_rate, like.hop, like.bucket_frames)
        self._submit("processed", work)

    def _start_detail(self) -> None:
        """Recompute the visible range at full resolution when the overview is too coarse for it."""
        self._generation["detail"] += 1
        if self.source is None or self.overview is None:
            return
        rate = self.source.sample_rate
        plan = detail_plan(self.visible_range(), rate, self.wave_plot.getViewBox().width(), self.overview,
                           self.source.decoded)
        if plan is None:
            if self._detail_wave is not None or self.main_layer.detail.isVisible():
                self._clear_detail()
            return
        start, stop, hop, bucket = plan
        n_fft = self.overview.n_fft
        names = sorted({"original", self._overlay_name() or "original"})
        processed, covered, p_rate, _ = self._processed or (None, [], rate, None)
        if p_rate != rate:
            processed = None  # lanes at the working rate: the overview resolution is shown for them
        original = self.source.data[:self.source.decoded]

        def work() -> dict:
            signals = range_detail(original, processed, covered, start, stop, names, rate, n_fft, hop, bucket)
            return {"start": start, "hop": hop, "bucket": bucket, "signals": signals}
        self._submit("detail", work)

    def _apply_detail(self, payload: dict) -> None:
        """Draw a finished detail computation (see :func:`range_detail`)."""
        start, hop, bucket, rate = payload["start"], payload["hop"], payload["bucket"], self.source.sample_rate
        signals = payload["signals"]
        main = signals.get("original" if self._mode in ("original", "beside") else self._mode)
        if main is not None:
            self.main_layer.set_detail(main[0], start / rate, hop / rate)
        if self._mode == "beside" and "processed" in signals:
            self.lower_layer.set_detail(signals["processed"][0], start / rate, hop / rate)
        self._detail_wave = signals["original"]
        self._draw_peaks(self.wave_curve, *self._detail_wave[1:], bucket, start_frame=start)
        overlay = signals.get(self._overlay_name())
        if overlay is not None:
            self._draw_peaks(self.overlay_curve, overlay[1], overlay[2], bucket, start_frame=start)
