#!/usr/bin/env bash
# Takes docs/screenshot.png: the main window on the bundled demo, photographed
# from a virtual X server (Xvfb) with ImageMagick's `import`.
#   scripts/screenshot.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-docs/screenshot.png}"

NEED=""
command -v xvfb-run >/dev/null || NEED="$NEED xvfb xauth"
[ -x /usr/bin/import ] || NEED="$NEED imagemagick"
for lib in libxcb-icccm4 libxcb-keysyms1; do
  dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "install ok installed" || NEED="$NEED $lib"
done
if [ -n "$NEED" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $NEED
  else
    echo "screenshot: run as root first: apt-get install --no-install-recommends$NEED" >&2
    exit 1
  fi
fi
[ -x .venv/bin/python ] || scripts/setup.sh

# A throw-away settings/audio environment so the shot never touches the user's own.
TMP="$(mktemp -d)"
RESTORA_MODELS="${RESTORA_MODELS:-$(.venv/bin/python -c 'from restora.models.store import model_root; print(model_root())')}"
export RESTORA_MODELS
trap 'rm -rf "$TMP"' EXIT
export XDG_CONFIG_HOME="$TMP/config" XDG_DATA_HOME="$TMP/data"
xvfb-run -a -s "-screen 0 1440x900x24" env QT_QPA_PLATFORM=xcb \
  .venv/bin/python scripts/screenshot.py "$OUT" --size 1440x900
echo "wrote $OUT"
