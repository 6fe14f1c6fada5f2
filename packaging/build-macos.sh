#!/usr/bin/env bash
# Builds Restora.app and dist/restora-<version>-macos-<arch>.zip with PyInstaller (packaging/restora.spec).
# PREPARED, NOT TESTED: no macOS machine was available when this was written (see docs/packaging.md).
#
#   packaging/build-macos.sh
#
# Needs: a python.org or Homebrew Python 3.11+ (framework build), Xcode command line tools, network to PyPI.
# The app is not signed or notarised: Gatekeeper asks the user to open it with right-click > Open the first time;
# set CODESIGN_IDENTITY to sign it (notarisation is a separate `xcrun notarytool` step).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${RESTORA_BUILD_VENV:-build/venv}"
MODELS="${RESTORA_BUNDLE_MODELS:-build/models}"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# Pillow: PyInstaller turns resources/icons/restora.png into the .icns with it
"$VENV/bin/python" -m pip install -q ".[package]" pillow
VERSION="$("$VENV/bin/python" -I -c 'import restora; print(restora.__version__)')"

mkdir -p "$MODELS"
RESTORA_MODELS="$MODELS" "$VENV/bin/restora" models fetch -q --runtime-only
rm -rf "$MODELS/user"
RESTORA_MODELS="$MODELS" "$VENV/bin/restora" models check -q

rm -rf dist/restora dist/Restora.app
"$VENV/bin/pyinstaller" --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/restora.spec
# restora/frozen.py finds the models in Contents/Resources/models (data stays out of Contents/MacOS for codesign)
cp -R "$MODELS" dist/Restora.app/Contents/Resources/models
cp LICENSE dist/Restora.app/Contents/Resources/
if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --deep --force --options runtime --sign "$CODESIGN_IDENTITY" dist/Restora.app
fi
dist/Restora.app/Contents/MacOS/restora --version
dist/Restora.app/Contents/MacOS/restora models check -q
ARCH="$(uname -m)"
(cd dist && ditto -c -k --keepParent Restora.app "restora-$VERSION-macos-$ARCH.zip")
ls -l "dist/restora-$VERSION-macos-$ARCH.zip"
