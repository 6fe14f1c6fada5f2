"""Every model file against its sha256: the bundled models and the user's own (``restora models check``, and the
GUI's check on first launch)."""

from __future__ import annotations

from typing import NamedTuple

OK, MISSING, DAMAGED, OUTDATED = "ok", "missing", "damaged", "outdated"


class ModelState(NamedTuple):
    """One model's check: its id, one of OK / MISSING / DAMAGED / OUTDATED, and the folder or what is wrong."""

    model_id: str
    state: str
    detail: str


def check_models(ids: list[str] | tuple[str, ...] = ()) -> list[ModelState]:
    """The state of each model in ``ids`` (default: every bundled and added model, and any unreadable added
    folder). Reads every file (hundreds of MB): run it off the GUI thread. Unknown ids raise UsageError first."""
    from restora.models import registry
    from restora.models.byo import user_store

    added = {m.id: m for m in user_store.list_models()}
    for model_id in ids:
        if model_id not in added:
            registry.card(model_id)  # unknown ids fail before any work
    rows = [_added_state(added[i]) if i in added else _bundled_state(i)
            for i in (ids or [*registry.ids(), *sorted(added)])]
    if not ids:
        rows += [ModelState("?", DAMAGED, f"unreadable card in {folder}: delete the folder")
                 for folder in user_store.broken_folders()]
    return rows


def _added_state(model) -> ModelState:
    from restora.models import store

    damage = store.manifest_damage(model.folder)
    return ModelState(model.id, DAMAGED if damage else OK, damage or str(model.folder))


def _bundled_state(model_id: str) -> ModelState:
    from restora.models import fetch, store

    folder = store.model_dir(model_id)
    state = fetch.status(model_id)
    if state == fetch.INSTALLED:
        return ModelState(model_id, OK, str(folder))
    if state == fetch.MISSING:
        return ModelState(model_id, MISSING, f"not in {folder.parent}; run: restora models fetch")
    if state == fetch.OUTDATED:
        return ModelState(model_id, OUTDATED, "files from another release; run: restora models fetch --force")
    what = store.manifest_damage(folder) or "files the model card lists are not in its manifest"
    return ModelState(model_id, DAMAGED, f"{what}; run: restora models fetch --force")


def summary(rows: list[ModelState]) -> str:
    """One line: ``9 model(s) checked: 8 ok, 1 missing, 0 damaged or outdated``."""
    bad = [r for r in rows if r.state != OK]
    missing = sum(r.state == MISSING for r in bad)
    return (f"{len(rows)} model(s) checked: {len(rows) - len(bad)} ok, {missing} missing, "
            f"{len(bad) - missing} damaged or outdated")
