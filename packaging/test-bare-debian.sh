#!/usr/bin/env bash
# Runs the Linux bundle on a bare Debian 12 (debootstrap minbase: no Python, no development set-up), as root:
#
#   sudo packaging/test-bare-debian.sh [TARBALL]      default: dist/restora-*-linux-x86_64.tar.gz
#
# In the chroot: the CLI alone (restora --version, models check, the demo through dialogue-clean and stems-2,
# restora analyze of the result); then, with only what a desktop has for the GUI (libgl1 libegl1 libfontconfig1
# libasound2-data, and xvfb to stand in for the display), restora-gui on first launch (opens the demo) under
# Xvfb, and a screenshot in $OUT (default /tmp/restora-bare-debian.xwd). Needs debootstrap and network to
# Debian's archive; takes about 3 minutes. The chroot (/tmp/restora-bare-debian) is kept for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
TARBALL="$(realpath "${1:-$(ls dist/restora-*-linux-x86_64.tar.gz | head -1)}")"
ROOT_FS="${RESTORA_CHROOT:-/tmp/restora-bare-debian}"
OUT="${OUT:-/tmp/restora-bare-debian.xwd}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
[ -x "$ROOT_FS/bin/bash" ] || debootstrap --variant=minbase bookworm "$ROOT_FS" "$MIRROR" >/dev/null
mountpoint -q "$ROOT_FS/proc" || mount -t proc proc "$ROOT_FS/proc"
trap 'umount "$ROOT_FS/proc" 2>/dev/null || true' EXIT
rm -rf "$ROOT_FS/opt/restora" "$ROOT_FS/tmp/work"
mkdir -p "$ROOT_FS/tmp/work"
tar -C "$ROOT_FS/opt" -xzf "$TARBALL"
cp resources/demo/noisy-speech.flac "$ROOT_FS/tmp/work/"
cp /etc/resolv.conf "$ROOT_FS/etc/" 2>/dev/null || true

in_chroot() { chroot "$ROOT_FS" /usr/bin/env -i HOME=/tmp/work PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive /bin/bash -euo pipefail -c "cd /tmp/work; $1"; }

echo "== CLI on bare Debian 12 (minbase)"
in_chroot '! command -v python3 || { echo "python3 is installed in the chroot"; exit 1; }
  /opt/restora/restora --version
  /opt/restora/restora models check -q && echo "models check: ok"
  /opt/restora/restora -q process noisy-speech.flac -o clean.wav --preset dialogue-clean
  /opt/restora/restora -q process noisy-speech.flac -o stems --preset stems-2 && ls stems
  /opt/restora/restora analyze --json clean.wav'

echo "== GUI with libgl1 libegl1 libfontconfig1 libasound2-data, on Xvfb"
in_chroot 'apt-get update -qq && apt-get install -y -qq --no-install-recommends libgl1 libegl1 libfontconfig1 \
    libasound2-data xvfb xauth x11-apps >/dev/null
  rm -rf .config
  xvfb-run -a -s "-screen 0 1400x900x24" /bin/bash -c "/opt/restora/restora-gui > gui.log 2>&1 & p=\$!; sleep 10;
    xwd -root -silent > shot.xwd; kill \$p"
  cat gui.log'
cp "$ROOT_FS/tmp/work/shot.xwd" "$OUT"
echo "screenshot: $OUT (first launch: the demo recording should be open)"
