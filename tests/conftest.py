"""Test-wide settings: Qt runs offscreen, and settings/autosaves go to a throw-away folder."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# QSettings and QStandardPaths read these when first used: pointing them at a
# temporary folder keeps the user's own settings, recent files and autosaves untouched.
# Models stay where set-up fetched them.
from restora.models.store import model_root  # noqa: E402

os.environ.setdefault("RESTORA_MODELS", str(model_root()))
_HOME = tempfile.mkdtemp(prefix="restora-tests-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_var] = os.path.join(_HOME, _var.lower())
