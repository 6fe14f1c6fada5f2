"""The open document of a main window: project save/open, autosave and crash restore.

A project captures the source file, the chain, the selection, the lane mix
and the view (see docs/project-format.md); its renders are cached in a folder
beside the project file so reopening it needs no new render.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from restora.app import autosave
from restora.app.autosave import Autosaver
from restora.app.project import MissingSourceError, Project, cache_folder, load_project, save_project
from restora.errors import RestoraError
from restora.graph.preset import preset_from_dict


class DocumentController:
    """Keeps a MainWindow's document state in step with its project file and autosave."""

    def __init__(self, window, autosave_folder: Path | None = None) -> None:
        self.window = window
        self.dirty = False
        self.autosaver = Autosaver(self.snapshot, folder=autosave_folder, parent=window)

    # -- state ------------------------------------------------------------------
    def snapshot(self) -> Project | None:
        """The window's document as a Project (None when nothing is open)."""
        w = self.window
        if w.source is None:
            return None
        lanes = {name: {"gain_db": s.gain_db, "mute": s.mute, "solo": s.solo}
                 for name, s in w.player.lane_settings().items()}
        return Project(
            source=Path(w.source.path), preset=w.chain.to_json(), selection_s=w.views.selection(),
            scope=w.scope_mode, lanes=lanes,
            view={"compare_mode": w.views.compare_mode(), "log_frequency": w.log_action.isChecked(),
                  "zoom": None},
            playback={"ab": w.player.ab(), "level_match": w.settings.level_match,
                      "loop": w.loop_action.isChecked(), "position_s": w.player.position_s()})

    def apply(self, project: Project) -> bool:
        """Load ``project`` into the window; errors go to a dialog."""
        w = self.window
        if project.source is None or not w.open_file(project.source):
            return False
        if project.preset:
            try:
                w.chain.load_preset(preset_from_dict(project.preset, "project"))
            except RestoraError as exc:
                w.show_error("Project chain", str(exc))
        w.chain.undo_stack.clear()
        w.views.set_selection(tuple(project.selection_s) if project.selection_s else None)
        w.set_scope(project.scope or "file")
        for name, lane in (project.lanes or {}).items():
            w.player.set_lane(name, gain_db=lane.get("gain_db"), mute=lane.get("mute"), solo=lane.get("solo"))
        view = project.view or {}
        w.views.set_compare_mode(view.get("compare_mode", "original"))
        w.log_action.setChecked(bool(view.get("log_frequency", False)))
        w.views.set_log_frequency(bool(view.get("log_frequency", False)))
        playback = project.playback or {}
        w.player.set_ab(playback.get("ab", "A"))
        w.loop_action.setChecked(bool(playback.get("loop", False)))
        w.seek(float(playback.get("position_s", 0.0)))
        self.dirty = False
        return True

    def mark_dirty(self) -> None:
        self.dirty = True
        self.autosaver.mark_dirty()
        self._title()

    def source_opened(self, path: Path) -> None:
        if self.window.project_path is not None and not self._loading:
            self.window.project_path = None
        self._title()

    _loading = False

    def _title(self) -> None:
        w = self.window
        name = w.project_path.name if w.project_path else (w.source.path.name if w.source else "")
        w.setWindowTitle(f"{name}{' *' if self.dirty else ''} — Restora" if name else "Restora")

    # -- files ----------------------------------------------------------------------
    def open_project(self, path: Path) -> bool:
        try:
            project = load_project(path)
        except MissingSourceError as exc:
            project = exc.project
            project.source = self._locate(exc.missing)
            if project.source is None:
                return False
        except RestoraError as exc:
            self.window.show_error("Cannot open project", str(exc))
            return False
        self._loading = True
        try:
            ok = self.apply(project)
        finally:
            self._loading = False
        if ok:
            self.window.project_path = Path(path)
            self.window.renderer.load_cache(cache_folder(path))
            self.window.settings.add_recent(str(path))
            self._title()
        return ok

    def _locate(self, missing: Path) -> Path | None:
        """Ask the user where a project's moved audio file is now."""
        w = self.window
        answer = QMessageBox.question(w, "Audio file not found",
                                      f"The project's audio file {missing} is missing. Locate it?")
        if answer != QMessageBox.Yes:
            return None
        path, _ = QFileDialog.getOpenFileName(w, f"Locate {missing.name}", str(missing.parent))
        return Path(path) if path else None

    def save(self) -> bool:
        if self.window.project_path is None:
            return self.save_as()
        return self.save_to(self.window.project_path)

    def save_as(self) -> bool:
        w = self.window
        if w.source is None:
            w.show_error("Save project", "Open a recording first.")
            return False
        start = str(w.source.path.with_suffix(".restora"))
        path, _ = QFileDialog.getSaveFileName(w, "Save project", start, "Restora projects (*.restora)")
        if not path:
            return False
        path = Path(path)
        return self.save_to(path if path.suffix == ".restora" else path.with_suffix(".restora"))

    def save_to(self, path: Path) -> bool:
        project = self.snapshot()
        if project is None:
            self.window.show_error("Save project", "Open a recording first.")
            return False
        try:
            save_project(project, path)
            self.window.renderer.save_cache(cache_folder(path))
        except RestoraError as exc:
            self.window.show_error("Cannot save project", str(exc))
            return False
        self.window.project_path = Path(path)
        self.dirty = False
        self.autosaver.mark_clean(Path(path))
        self._title()
        self.window.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    # -- lifecycle ---------------------------------------------------------------
    def offer_restore(self) -> bool:
        """After a crash: offer to restore the newest autosaved session. True if restored."""
        crashed = autosave.find_crashed(self.autosaver.folder)
        if not crashed:
            return False
        newest = crashed[0]
        answer = QMessageBox.question(
            self.window, "Restore session",
            f"Restora did not close normally. Restore the session on {newest.source_name or 'an unsaved file'}?")
        if answer != QMessageBox.Yes:
            for item in crashed:
                autosave.forget(item.path)
            return False
        try:
            project = autosave.restore(newest.path)
        except RestoraError as exc:
            self.window.show_error("Cannot restore session", str(exc))
            return False
        autosave.forget(newest.path)
        return self.apply(project)

    def confirm_close(self) -> bool:
        """Before closing with unsaved edits: save, discard or stay. True to close."""
        if not self.dirty or self.window.source is None:
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved changes", "Save the project before closing?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Cancel:
            return False
        return self.save() if answer == QMessageBox.Save else True

    def closed(self) -> None:
        self.autosaver.discard()
