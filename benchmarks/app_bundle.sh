#!/usr/bin/env bash
# Size and start-up time of a built Linux bundle against the development venv on the same commands
# (docs/benchmarks.md, "App bundle"); the bundle runs with no Python on PATH and an empty HOME:
#
#   benchmarks/app_bundle.sh [APP_DIR [TARBALL]]     default: dist/restora and dist/restora-*-linux-x86_64.tar.gz
#
# Prints: unpacked size (all, and without models), tarball size; then, for the bundle and for .venv (its models
# from the store set-up filled), the median wall time of `restora --help` (5 runs), of `restora process` on the
# demo with the dialogue-clean preset (3 runs) and of the GUI from start to its first window mapped on Xvfb
# (5 runs; needs Xvfb and xwininfo, Debian: xvfb x11-utils), and the ratio bundle / venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
APP="$(cd "${1:-dist/restora}" && pwd)"
TARBALL="${2:-$(ls dist/restora-*-linux-x86_64.tar.gz 2>/dev/null | head -1)}"
VENV="$ROOT/.venv/bin"
STORE="$("$VENV/python" -c 'from restora.models import store; print(store.model_root())')"
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
BARE=(env -i HOME="$WORK/home" PATH=/usr/bin:/bin LANG=C.UTF-8)
VENV_ENV=("${BARE[@]}" RESTORA_MODELS="$STORE")
bare() { "${BARE[@]}" "$@"; }
venv() { "${VENV_ENV[@]}" "$@"; }
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
timed() {  # timed RUNS COMMAND...: median wall time (s) of RUNS runs, after one untimed run (page cache)
  local runs=$1 t0 t1
  shift
  "$@" >/dev/null
  for _ in $(seq "$runs"); do
    t0=$(now); "$@" >/dev/null; t1=$(now)
    echo "$t1 - $t0" | bc
  done | median
}
side_by_side() {  # side_by_side LABEL BUNDLE_S VENV_S
  if [ -z "$2" ] || [ -z "$3" ]; then echo "$1: a run failed" >&2; exit 1; fi
  printf '%s: bundle %s s, venv %s s, ratio %.2f\n' "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)"
}

echo "bundle: $APP"
echo "unpacked: $(du -sm "$APP" | cut -f1) MiB ($(du -sm --exclude=models "$APP" | cut -f1) MiB without models/)"
[ -n "$TARBALL" ] && echo "tarball: $(du -m --apparent-size "$TARBALL" | cut -f1) MiB ($(basename "$TARBALL"))"

side_by_side "restora --help (median of 5)" "$(timed 5 bare "$APP/restora" --help)" \
  "$(timed 5 venv "$VENV/restora" --help)"
DEMO="$ROOT/resources/demo/noisy-speech.flac"
process=(-q process "$DEMO" -o "$WORK/out.wav" --preset dialogue-clean --overwrite)
side_by_side "restora process demo, 14.8 s, dialogue-clean (median of 3)" \
  "$(timed 3 bare "$APP/restora" "${process[@]}")" "$(timed 3 venv "$VENV/restora" "${process[@]}")"

shown() {  # a top-level window titled "Restora" or "<file> — Restora" is mapped and viewable
  local id
  for id in $(DISPLAY=:93 xwininfo -root -tree 2>/dev/null | grep -E '"([^"]* — )?Restora"' | awk '{print $1}'); do
    DISPLAY=:93 xwininfo -id "$id" 2>/dev/null | grep -q IsViewable && return 0
  done
  return 1
}
gui_seconds() {  # gui_seconds ENV_ARRAY GUI_EXECUTABLE: median time (s) from start to the first window, 5 runs
  local -n envcmd=$1
  local t0 t1
  for _ in 1 2 3 4 5; do
    rm -rf "$WORK/home/.config"
    t0=$(now)
    # env execs the GUI, so $! is the GUI itself and the kill below ends it
    "${envcmd[@]}" DISPLAY=:93 "$2" --demo >"$WORK/gui.log" 2>&1 &
    GUI_PID=$!
    until shown; do
      if ! kill -0 "$GUI_PID" 2>/dev/null || [ "$(echo "$(now) - $t0 > 120" | bc)" = 1 ]; then
        echo "$2 did not show its window:" >&2; cat "$WORK/gui.log" >&2; exit 1
      fi
      sleep 0.05
    done
    t1=$(now)
    kill "$GUI_PID"; wait "$GUI_PID" 2>/dev/null || true
    GUI_PID=""
    echo "$t1 - $t0" | bc
  done | median
}
if command -v Xvfb >/dev/null && command -v xwininfo >/dev/null; then
  Xvfb :93 -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
  XVFB_PID=$!
  until DISPLAY=:93 xwininfo -root >/dev/null 2>&1; do sleep 0.1; done
  side_by_side "restora-gui --demo to first window, Xvfb (median of 5)" "$(gui_seconds BARE "$APP/restora-gui")" \
    "$(gui_seconds VENV_ENV "$VENV/restora-gui")"
else
  echo "restora-gui: not measured (needs Xvfb and xwininfo)"
fi
