#!/bin/sh
# Adds Restora to the desktop's application menu for this user (no root needed):
#   ./install-desktop-entry.sh            install (run from the unpacked bundle, wherever it lies)
#   ./install-desktop-entry.sh --remove   take it out again
# Writes ~/.local/share/applications/restora.desktop (Exec pointing at this folder's restora-gui) and the icon
# into ~/.local/share/icons/hicolor/256x256/apps/restora.png.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
entry="$data/applications/restora.desktop"
icon="$data/icons/hicolor/256x256/apps/restora.png"
if [ "${1:-}" = "--remove" ]; then
  rm -f "$entry" "$icon"
  echo "removed $entry and $icon"
  exit 0
fi
mkdir -p "$data/applications" "$(dirname "$icon")"
cp "$here/restora.png" "$icon"
sed -e "s|^Exec=restora-gui|Exec=\"$here/restora-gui\"|" -e "s|^TryExec=restora-gui|TryExec=$here/restora-gui|" \
  "$here/restora.desktop" > "$entry"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data/applications" || true
echo "installed $entry (runs $here/restora-gui)"
