"""The workstation window: views, chain editor, transport, lanes, meters and panels.

This module only wires parts together; each part lives in its own module:
loading and views (loader, views), the chain (chain, graph_editor), rendering
(render), playback (player, transport, lanes_panel, meters), documents
(project, autosave), export and batch (export_dialog, batch_dialog).
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QVBoxLayout, QWidget)

from restora.app import documents
from restora.app.analysis_panel import AnalysisPanel
from restora.app.chain import ChainModel
from restora.app.graph_editor import GraphEditor
from restora.app.jobs import Job
from restora.app.lanes_panel import LanesPanel
from restora.app.loader import SourceLoader
from restora.app.meters import MetersPanel
from restora.app.node_info import generated_band_nodes
from restora.app.player import Player, prepare_for_realtime
from restora.app.render import RenderController
from restora.app.settings import Settings
from restora.app.transport import TransportBar
from restora.app.views import SpectrumViews
from restora.errors import RestoraError

log = logging.getLogger("restora")

AUDIO_FILTER = ("Audio files (*.wav *.flac *.mp3 *.ogg *.opus *.aif *.aiff *.m4a *.aac *.mp4 *.w64 *.rf64 *.caf)"
                ";;All files (*)")
PROJECT_FILTER = "Restora projects (*.restora)"
UI_HZ = 30


class MainWindow(QMainWindow):
    """The main window. ``settings`` defaults to the user's QSettings."""

    source_loaded = Signal()

    def __init__(self, settings: Settings | None = None, *, open_demo_on_first_launch: bool = True,
                 autosave_folder: Path | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.loader: SourceLoader | None = None
        self.source = None
        self.project_path: Path | None = None
        self.scope_mode = "file"
        self.setWindowTitle("Restora")
        self.setAcceptDrops(True)
        self._build_parts()
        self._build_layout()
        self._build_menus()
        self._connect()
        self.docs = documents.DocumentController(self, autosave_folder)
        self._ui_timer = QTimer(self, interval=1000 // UI_HZ, timeout=self._tick)
        self._ui_timer.start()
        self._apply_preferences()
        self._restore_geometry()
        prepare_for_realtime()
        self.model_check: Job | None = None
        if open_demo_on_first_launch and not self.settings.first_launch_done:
            self.settings.first_launch_done = True
            QTimer.singleShot(0, lambda: self.open_file(self.demo_path()))
            self.check_models()

    def check_models(self) -> None:
        """Check every model file's sha256 on a worker thread (first launch); the status bar names any model
        that is missing or damaged, until the next message."""
        from restora.models.check import check_models

        self.model_check = Job(lambda cancel, progress: check_models(), self, name="restora-model-check")
        self.model_check.finished.connect(self._models_checked)
        self.model_check.failed.connect(lambda message: self.statusBar().showMessage(
            f"The model check failed: {message}"))
        self.model_check.start()

    def _models_checked(self, rows) -> None:
        from restora.models.check import OK

        bad = [f"{r.model_id} ({r.state})" for r in rows if r.state != OK]
        if bad:
            self.statusBar().showMessage(f"Model check: {', '.join(bad)}. Nodes that need them will not run; "
                                         "see Process ▸ Models… or run: restora models check")

    # -- construction -----------------------------------------------------
    def _build_parts(self) -> None:
        self.chain = ChainModel(parent=self)
        self.editor = GraphEditor(self.chain, settings=self.settings)
        self.views = SpectrumViews()
        self.renderer = RenderController(self)
        self.player = Player(self)
        self.player.set_provider(self.renderer)
        self.transport = TransportBar(self.player)
        self.lanes_panel = LanesPanel(self.player)
        self.meters = MetersPanel(self.player)
        self.analysis = AnalysisPanel()
        self.info_label = QLabel("Open a recording: File ▸ Open, or drop a file here.")
        self.info_label.setAccessibleName("File information")
        self.render_progress = QProgressBar(maximumWidth=220, textVisible=True)
        self.render_progress.setAccessibleName("Render progress")
        self.render_progress.setFormat("render %p%")
        self.render_progress.hide()

    def _build_layout(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.info_label)
        layout.addWidget(self.views, 1)
        layout.addWidget(self.transport)
        self.setCentralWidget(central)
        chain_dock = self._dock("Processing chain", self.editor, Qt.BottomDockWidgetArea)
        lanes_dock = self._dock("Lanes", self.lanes_panel, Qt.BottomDockWidgetArea)
        analysis_dock = self._dock("Analysis", self.analysis, Qt.BottomDockWidgetArea)
        self.splitDockWidget(chain_dock, lanes_dock, Qt.Horizontal)
        self.tabifyDockWidget(lanes_dock, analysis_dock)
        lanes_dock.raise_()
        self._dock("Meters", self.meters, Qt.RightDockWidgetArea)
        self.resizeDocks([chain_dock, lanes_dock], [3, 1], Qt.Horizontal)
        self.resizeDocks([chain_dock], [340], Qt.Vertical)
        self.statusBar().addPermanentWidget(self.render_progress)
        self.resize(1400, 900)

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, menu, text: str, slot, shortcut=None, checkable=False) -> QAction:
        action = QAction(text, self, checkable=checkable)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        f = bar.addMenu("&File")
        self._action(f, "&Open audio…", self.open_dialog, QKeySequence.Open)
        self.recent_menu = f.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._action(f, "Open &demo recording", lambda: self.open_file(self.demo_path()))
        f.addSeparator()
        self._action(f, "Open &project…", self.open_project_dialog, "Ctrl+Shift+O")
        self._action(f, "&Save project", self.save_project, QKeySequence.Save)
        self._action(f, "Save project &as…", self.save_project_as, "Ctrl+Shift+S")
        f.addSeparator()
        self._action(f, "&Export…", self.export_dialog, "Ctrl+E")
        self._action(f, "&Batch process folder…", self.batch_dialog, "Ctrl+Shift+B")
        f.addSeparator()
        self._action(f, "&Preferences…", self.preferences_dialog, QKeySequence.Preferences)
        self._action(f, "&Quit", self.close, QKeySequence.Quit)
        e = bar.addMenu("&Edit")
        undo = self.chain.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence("Ctrl+Z"))
        redo = self.chain.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        e.addActions([undo, redo])
        self.undo_action, self.redo_action = undo, redo
        e.addSeparator()
        self._action(e, "Clear &selection", lambda: self.views.set_selection(None), "Esc")
        p = bar.addMenu("&Process")
        self.scope_file_action = self._action(p, "Process the whole &file", lambda: self.set_scope("file"),
                                              checkable=True)
        self.scope_sel_action = self._action(p, "Process the &selection only", lambda: self.set_scope("selection"),
                                             checkable=True)
        self.scope_file_action.setChecked(True)
        p.addSeparator()
        self._action(p, "&Match EQ to reference…", self.eq_match_dialog)
        self._action(p, "M&odels…", self.model_manager_dialog)
        t = bar.addMenu("&Playback")
        self._action(t, "Play / pause", self.player.toggle_play, "Space")
        self._action(t, "Stop", self.player.stop, "Ctrl+.")
        self._action(t, "A/B: original ↔ processed", self.player.toggle_ab, "B")
        self.loop_action = self._action(t, "Loop the selection", self._loop_toggled, "L", checkable=True)
        v = bar.addMenu("&View")
        for mode, label in (("original", "&Original"), ("processed", "&Processed"),
                            ("beside", "Original and processed &beside"), ("removed", "What was &removed")):
            self._action(v, label, lambda _=False, m=mode: self.views.set_compare_mode(m))
        self.log_action = self._action(v, "&Log frequency scale", self._log_toggled, checkable=True)
        self._action(v, "Zoom to &fit", self.views.zoom_full, "Ctrl+0")
        h = bar.addMenu("&Help")
        self._action(h, "&About Restora", self._about)

    def _connect(self) -> None:
        self.chain.changed.connect(self._chain_changed)
        self.views.seek_requested.connect(self.seek)
        self.views.selection_changed.connect(self._selection_changed)
        self.editor.selection_provider = self.views.selection
        self.renderer.rendered.connect(self._rendered)
        self.renderer.progress.connect(self._render_progress)
        self.renderer.lanes_changed.connect(self._lanes_changed)
        self.renderer.node_stats.connect(self.editor.set_stats)
        self.renderer.node_stats.connect(self._node_measurements)
        self.renderer.failed.connect(self._render_failed)
        self.views.log_frequency_changed.connect(self._views_log_changed)
        self.views.compare_mode_changed.connect(lambda _mode: self.docs.mark_dirty())
        self.player.playback_failed.connect(self._playback_failed)
        self.player.loop_changed.connect(self._sync_loop_action)
        self.analysis.analyse_requested.connect(self.run_analysis)

    # -- files --------------------------------------------------------------
    @staticmethod
    def demo_path() -> Path:
        from restora.app.main import demo_path
        return demo_path()

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open audio", self.settings.last_open_folder or "", AUDIO_FILTER)
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path) -> bool:
        """Open an audio file (or a project file); errors go to a dialog. True when it opened."""
        path = Path(path)
        if path.suffix == ".restora":
            return self.docs.open_project(path)
        loader = SourceLoader(path, parent=self)
        try:
            loader.start()
        except RestoraError as exc:
            self.show_error("Cannot open file", str(exc))
            return False
        if self.loader is not None:
            self.loader.cancel()
        self.player.stop()
        self.loader, self.source = loader, loader.source
        self._opened_frames = loader.source.frames
        loader.progressed.connect(self._decode_progress)
        loader.finished.connect(self._decode_finished)
        loader.failed.connect(lambda msg: self.show_error("Cannot read the whole file", msg))
        self.views.set_source(loader.source, loader.overview)
        self.player.set_source(loader.source)
        self.renderer.set_source(loader.source)
        self._update_render()
        self.settings.add_recent(str(path))
        self.settings.last_open_folder = str(path.parent)
        self._show_info()
        self.docs.source_opened(path)
        return True

    def is_loaded(self) -> bool:
        return self.source is not None and self.source.complete

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for item in self.settings.recent_files:
            self.recent_menu.addAction(Path(item).name, lambda p=item: self.open_file(Path(p))).setToolTip(item)
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _decode_progress(self, frames: int) -> None:
        self.views.refresh()

    def _decode_finished(self) -> None:
        if self.source.frames != self._opened_frames:
            # The header under-stated the length: render the true length.
            self.renderer.set_source(self.source)
            self._update_render()
        self.views.refresh()
        self._show_info()
        self.source_loaded.emit()

    def _show_info(self) -> None:
        s = self.source
        if s is None:
            return
        state = "" if s.complete else f" — reading {100 * s.decoded / max(1, s.frames):.0f} %"
        self.info_label.setText(f"{s.path.name} — {s.frames / s.sample_rate:.2f} s, {s.sample_rate} Hz, "
                                f"{s.channels} channel(s){state}")

    # drag and drop
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_file(Path(urls[0]))
            event.acceptProposedAction()

    # -- processing ---------------------------------------------------------
    def _chain_changed(self) -> None:
        self._update_render()
        self.docs.mark_dirty()

    def set_scope(self, mode: str) -> None:
        """Process the whole file ("file") or only the selection ("selection")."""
        if mode == "selection" and self.views.selection() is None:
            self.statusBar().showMessage("Select a time range first (shift-drag on the spectrogram).", 5000)
            mode = "file"
        self.scope_mode = mode
        self.scope_file_action.setChecked(mode == "file")
        self.scope_sel_action.setChecked(mode == "selection")
        self._update_render()
        self.docs.mark_dirty()

    def scope_frames(self) -> tuple[int, int] | None:
        sel = self.views.selection()
        if self.scope_mode != "selection" or sel is None or self.source is None:
            return None
        rate = self.source.sample_rate
        return int(round(sel[0] * rate)), int(round(sel[1] * rate))

    def _update_render(self) -> None:
        preset = self.chain.to_preset()
        self.renderer.set_preset(preset, self.scope_frames())
        self.views.set_processed(None, [])
        if not generated_band_nodes(preset):
            self.views.set_generated_band(None)
        self.render_progress.setVisible(preset is not None and self.source is not None)

    def _rendered(self) -> None:
        names = self.renderer.lane_names()
        if names:
            self.views.set_processed(self.renderer.lane_data(names[0]), self.renderer.covered(),
                                     self.renderer.sample_rate, self.renderer.timeline())

    def _node_measurements(self, stats: dict) -> None:
        """Mark the band an upscale node generated (its measured cut-off) on the processed spectrogram."""
        nodes = generated_band_nodes(self.chain.to_preset())
        if not nodes:
            return
        cutoffs = []
        for node_id in nodes:
            measured = (stats.get(node_id) or {}).get("measurements")
            if measured is None:
                return  # not measured yet in this render: keep what is shown
            if measured.get("extended") and measured.get("cutoff_hz"):
                cutoffs.append(float(measured["cutoff_hz"]))
        self.views.set_generated_band(min(cutoffs) if cutoffs else None)

    def _render_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Processing failed: {message}", 15000)
        if message != self._last_render_error:  # one dialog per problem, not one per edit
            self._last_render_error = message
            self.show_error("Processing failed", message)

    _last_render_error = ""

    def _views_log_changed(self, on: bool) -> None:
        self.log_action.setChecked(on)
        self.settings.log_frequency = on

    def _render_progress(self, fraction: float) -> None:
        self.render_progress.setValue(int(round(100 * fraction)))

    # -- transport ------------------------------------------------------------
    def seek(self, seconds: float) -> None:
        self.player.seek(seconds)
        self.transport.refresh()
        if self.source is not None:
            self.renderer.set_focus(int(seconds * self.source.sample_rate), seek=True)

    def _lanes_changed(self, names: list) -> None:
        # The mixer caches the lane list when its provider is set; the lanes panel
        # follows the player's lanes_changed.
        self.player.set_provider(self.renderer)

    def _selection_changed(self, selection) -> None:
        self.player.set_loop(selection)
        if self.scope_mode == "selection":
            if selection is None:
                self.set_scope("file")
            else:
                self._update_render()
        self.docs.mark_dirty()

    def _loop_toggled(self, on: bool) -> None:
        self.player.set_loop(self.views.selection())
        self.player.set_loop_enabled(on)

    def _sync_loop_action(self, on: bool) -> None:
        self.loop_action.blockSignals(True)
        self.loop_action.setChecked(on)
        self.loop_action.blockSignals(False)

    def _log_toggled(self, on: bool) -> None:
        self.views.set_log_frequency(on)
        self.docs.mark_dirty()
        self.settings.log_frequency = on

    def _tick(self) -> None:
        if self.source is None:
            return
        pos = self.player.position_s()
        self.views.set_playhead(pos)
        if self.player.state() == "playing":
            self.renderer.set_focus(int(pos * self.source.sample_rate))
        if not self.source.complete:
            self._show_info()

    def _playback_failed(self, reason: str) -> None:
        self.statusBar().showMessage(f"Playback stopped: {reason}", 10000)
        self.show_error("Playback", reason)

    # -- dialogs --------------------------------------------------------------
    def show_error(self, title: str, text: str) -> None:
        """A clear, non-fatal error message (tests replace this)."""
        log.warning("%s: %s", title, text)
        QMessageBox.warning(self, title, text)

    def export_dialog(self) -> None:
        from restora.app.export_dialog import ExportDialog

        preset = self.chain.to_preset()
        if self.source is None or preset is None:
            self.show_error("Export", "Open a recording and add at least one processing node first.")
            return
        dialog = ExportDialog(self.source.path, preset, self.renderer.lane_names() or ["processed"],
                              self.source.sample_rate, self.scope_frames(), parent=self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.show()
        self.export_window = dialog

    def batch_dialog(self) -> None:
        from restora.app.batch_dialog import BatchDialog

        if getattr(self, "batch_window", None) is None:
            self.batch_window = BatchDialog(self.chain.to_preset, parent=self)
        self.batch_window.show()
        self.batch_window.raise_()

    def model_manager_dialog(self) -> None:
        from restora.app.model_manager import ModelManagerDialog

        if getattr(self, "model_window", None) is None:
            self.model_window = ModelManagerDialog(parent=self)
            self.model_window.models_changed.connect(self.editor.palette.refresh)
        self.model_window.show()
        self.model_window.raise_()

    def eq_match_dialog(self) -> None:
        from restora.app.eq_match_panel import EqMatchPanel, document_audio

        if getattr(self, "eq_match_window", None) is None:
            self.eq_match_window = EqMatchPanel(self.chain, lambda: document_audio(self), parent=self)
        self.eq_match_window.show()
        self.eq_match_window.raise_()

    def preferences_dialog(self) -> None:
        from restora.app.audio_output import AudioUnavailable, list_output_devices
        from restora.app.preferences import PreferencesDialog

        try:
            devices, reason = list_output_devices(), ""
        except AudioUnavailable as exc:
            devices, reason = [], str(exc)
        dialog = PreferencesDialog(self.settings, devices, reason, parent=self)
        dialog.applied.connect(self._apply_preferences)
        dialog.exec()

    def _apply_preferences(self) -> None:
        s = self.settings
        self.player.configure(device=s.audio_device, blocksize=s.buffer_size, samplerate=s.sample_rate)
        self.player.set_level_match(s.level_match)
        self.log_action.setChecked(s.log_frequency)
        self.views.set_log_frequency(s.log_frequency)
        if not self.player.available():
            self.statusBar().showMessage(self.player.unavailable_reason())

    def run_analysis(self) -> None:
        if self.source is None or not self.source.complete:
            self.show_error("Analysis", "Open a recording and wait until it has been read.")
            return
        names = self.renderer.lane_names()
        processed = None
        if names and self.renderer.fraction() >= 1.0:
            processed = self.renderer.lane_data(names[0])
        elif names:
            self.statusBar().showMessage("Processed figures appear when the render has finished.", 5000)
        original, rate = self.source.data[:self.source.frames], self.source.sample_rate
        timeline = self.renderer.timeline()
        if processed is not None and timeline is not None and timeline is not self.source:
            original, rate = timeline.data[:timeline.frames], timeline.sample_rate  # lanes at the working rate
        self.analysis.analyse(original, processed, rate)

    # -- projects ---------------------------------------------------------------
    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", self.settings.last_open_folder or "",
                                              PROJECT_FILTER)
        if path:
            self.docs.open_project(Path(path))

    def save_project(self) -> bool:
        return self.docs.save()

    def save_project_as(self) -> bool:
        return self.docs.save_as()

    def _about(self) -> None:
        from restora import __version__
        QMessageBox.about(self, "About Restora",
                          f"Restora {__version__}\nAudio repair and separation workstation.\nGPL-3.0-or-later.")

    def _confirm_stop_batch(self) -> bool:
        batch = getattr(self, "batch_window", None)
        if batch is None or not batch.running:
            return True
        answer = QMessageBox.question(self, "Batch running", "A batch is still running. Cancel it and quit?")
        return answer == QMessageBox.Yes

    def _restore_geometry(self) -> None:
        geometry, state = self.settings.window_geometry, self.settings.window_state
        if geometry is not None and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        if state is not None and not state.isEmpty():
            self.restoreState(state)

    def closeEvent(self, event) -> None:  # noqa: N802
        if not self.docs.confirm_close() or not self._confirm_stop_batch():
            event.ignore()
            return
        self.settings.window_geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self._ui_timer.stop()
        self.player.close()
        self.renderer.shutdown()
        if self.loader is not None:
            self.loader.cancel()
        self.views.shutdown()
        self.analysis.shutdown()
        if self.model_check is not None:
            self.model_check.wait(30)  # it only reads files; its end must not reach a deleted window
        for dialog in (getattr(self, "export_window", None), getattr(self, "batch_window", None),
                       getattr(self, "eq_match_window", None)):
            try:
                if dialog is not None:
                    dialog.shutdown()
                    dialog.close()
            except RuntimeError:
                pass  # already deleted with WA_DeleteOnClose
        self.docs.closed()
        gc.unfreeze()  # let interpreter shut-down collect them (native modules report leaks otherwise)
        super().closeEvent(event)
