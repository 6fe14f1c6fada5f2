#!/usr/bin/env bash
# Builds the self-contained Linux app: dist/restora/ (PyInstaller one-folder bundle with the executables
# `restora` and `restora-gui`, the models, a .desktop file and the icon) packed as
# dist/restora-<version>-linux-x86_64.tar.gz. See docs/packaging.md.
#
#   packaging/build-linux.sh                 build venv in build/venv, models fetched into build/models
#   packaging/build-linux.sh --no-tar        stop after dist/restora/ (no tarball)
#
# Environment:
#   PYTHON=python3.11                        interpreter for the build venv (needs its shared libpython)
#   RESTORA_BUILD_VENV=build/venv            where the build venv lives (kept between builds)
#   RESTORA_BUNDLE_MODELS=build/models       model store the bundle gets (filled with `restora models fetch`,
#                                            which skips models already there and intact)
#   RESTORA_MODELS_FROM=~/.local/share/restora/models
#                                            copy the models from an existing store instead of fetching
#                                            (each is checked with `restora models check` all the same)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
TAR=1
[ "${1:-}" = "--no-tar" ] && TAR=0

PYTHON="${PYTHON:-python3}"
VENV="${RESTORA_BUILD_VENV:-build/venv}"
MODELS="${RESTORA_BUNDLE_MODELS:-build/models}"
DIST="$ROOT/dist"
APP="$DIST/restora"
step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "build venv $VENV"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" - <<'EOF'
import sys, sysconfig
if not sysconfig.get_config_var("Py_ENABLE_SHARED") and sys.platform.startswith("linux"):
    sys.exit("build-linux.sh: this Python has no shared libpython, which PyInstaller needs; "
             "build one with --enable-shared (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared) or use Debian's python3")
EOF
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
# the project (not editable: PyInstaller reads the installed package) with its runtime dependencies and the
# pinned PyInstaller; the train/export/cluster extras are not installed, so they cannot slip into the bundle
"$VENV/bin/python" -m pip install -q --disable-pip-version-check ".[package]"
VERSION="$("$VENV/bin/python" -I -c 'import restora; print(restora.__version__)')"

step "models into $MODELS"
mkdir -p "$MODELS"
if [ -n "${RESTORA_MODELS_FROM:-}" ]; then
  for card in $("$VENV/bin/python" -I -c 'from restora.models import registry; print(*registry.ids())'); do
    if [ ! -f "$MODELS/$card/manifest.json" ]; then
      rm -rf "$MODELS/$card"
      cp -r "$RESTORA_MODELS_FROM/$card" "$MODELS/$card"
    fi
  done
fi
RESTORA_MODELS="$MODELS" "$VENV/bin/restora" models fetch -q --runtime-only
# only the bundled models go in: never a user's own models or a half-finished fetch
rm -rf "$MODELS/user" "$MODELS"/*.part-* "$MODELS"/*.old-*
RESTORA_MODELS="$MODELS" "$VENV/bin/restora" models check -q

step "pyinstaller"
rm -rf "$APP"
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath "$DIST" --workpath build/pyinstaller \
  packaging/restora.spec

step "models, desktop entry, icon"
cp -r "$MODELS" "$APP/models"
cp packaging/restora.desktop packaging/install-desktop-entry.sh "$APP/"
cp resources/icons/restora.png resources/icons/restora.svg LICENSE "$APP/"
cat > "$APP/README.txt" <<EOF
Restora $VERSION for Linux x86_64 (self-contained: no Python needed)

  ./restora-gui                  the workstation (opens the demo recording on first launch)
  ./restora-gui --demo           open the demo recording
  ./restora --help               the command line
  ./restora models check         check every model file's sha256
  ./install-desktop-entry.sh     add Restora to the application menu

The models are in models/ beside the executables; set RESTORA_MODELS to use another model store.
Models you add (restora models add) go to ~/.local/share/restora/models/user.
EOF

step "check the bundle"
env -u RESTORA_MODELS "$APP/restora" --version
env -u RESTORA_MODELS "$APP/restora" models check -q
du -sh "$APP"

if [ "$TAR" = 1 ]; then
  step "tarball"
  TARBALL="$DIST/restora-$VERSION-linux-x86_64.tar.gz"
  rm -f "$TARBALL"
  tar -C "$DIST" -cf - restora | gzip -6 > "$TARBALL"
  ls -l "$TARBALL"
fi
step "done"
