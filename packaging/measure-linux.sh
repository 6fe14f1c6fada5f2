#!/usr/bin/env bash
# Size and start-up time of a built Linux bundle (docs/benchmarks.md, "App bundle"), with no Python on PATH:
#
#   packaging/measure-linux.sh [APP_DIR [TARBALL]]     default: dist/restora and dist/restora-*-linux-x86_64.tar.gz
#
# Prints: unpacked size (all, and without models), tarball size; median wall time of `restora --help` (5 runs),
# of `restora process` on the demo with the dialogue-clean preset (3 runs); of the GUI from start to its first
# window mapped on Xvfb (5 runs; needs Xvfb and xwininfo, Debian: xvfb x11-utils).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
APP="$(cd "${1:-dist/restora}" && pwd)"
TARBALL="${2:-$(ls dist/restora-*-linux-x86_64.tar.gz 2>/dev/null | head -1)}"
WORK="$(mktemp -d)"
XVFB_PID=""
GUI_PID=""
cleanup() {
  [ -n "$GUI_PID" ] && kill "$GUI_PID" 2>/dev/null || true
  [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/home"
bare() { env -i HOME="$WORK/home" PATH=/usr/bin:/bin LANG=C.UTF-8 "$@"; }
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }

echo "bundle: $APP"
echo "unpacked: $(du -sm "$APP" | cut -f1) MiB ($(du -sm --exclude=models "$APP" | cut -f1) MiB without models/)"
[ -n "$TARBALL" ] && echo "tarball: $(du -m --apparent-size "$TARBALL" | cut -f1) MiB ($(basename "$TARBALL"))"

bare "$APP/restora" --help >/dev/null  # first run: page cache
for _ in 1 2 3 4 5; do
  t0=$(now); bare "$APP/restora" --help >/dev/null; t1=$(now)
  echo "$t1 - $t0" | bc
done | median | xargs printf 'restora --help: %s s (median of 5)\n'

DEMO="$ROOT/resources/demo/noisy-speech.flac"
for _ in 1 2 3; do
  t0=$(now)
  bare "$APP/restora" -q process "$DEMO" -o "$WORK/out.wav" --preset dialogue-clean --overwrite
  t1=$(now)
  echo "$t1 - $t0" | bc
done | median | xargs printf 'restora process demo (14.8 s, dialogue-clean): %s s (median of 3)\n'

shown() {  # a top-level window titled "Restora" or "<file> — Restora" is mapped and viewable
  local id
  for id in $(DISPLAY=:93 xwininfo -root -tree 2>/dev/null | grep -E '"([^"]* — )?Restora"' | awk '{print $1}'); do
    DISPLAY=:93 xwininfo -id "$id" 2>/dev/null | grep -q IsViewable && return 0
  done
  return 1
}
if command -v Xvfb >/dev/null && command -v xwininfo >/dev/null; then
  Xvfb :93 -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
  XVFB_PID=$!
  until DISPLAY=:93 xwininfo -root >/dev/null 2>&1; do sleep 0.1; done
  for _ in 1 2 3 4 5; do
    rm -rf "$WORK/home/.config"
    t0=$(now)
    env -i HOME="$WORK/home" PATH=/usr/bin:/bin LANG=C.UTF-8 DISPLAY=:93 "$APP/restora-gui" --demo \
      >"$WORK/gui.log" 2>&1 &
    GUI_PID=$!
    until shown; do
      if ! kill -0 "$GUI_PID" 2>/dev/null || [ "$(echo "$(now) - $t0 > 120" | bc)" = 1 ]; then
        echo "restora-gui did not show its window:" >&2; cat "$WORK/gui.log" >&2; exit 1
      fi
      sleep 0.05
    done
    t1=$(now)
    kill "$GUI_PID"; wait "$GUI_PID" 2>/dev/null || true
    GUI_PID=""
    echo "$t1 - $t0" | bc
  done | median | xargs printf 'restora-gui --demo to first window (Xvfb): %s s (median of 5)\n'
else
  echo "restora-gui: not measured (needs Xvfb and xwininfo)"
fi
