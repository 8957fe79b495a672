#!/usr/bin/env bash
# Installs the peer codecs' command-line tools that `scc bench` drives, from
# Debian's packages, when any is missing. Without root (or sudo) it says what
# to install and carries on: the benchmark skips what it cannot find.
set -u
tools="time:/usr/bin/time cjpeg djpeg opj_compress opj_decompress cwebp dwebp avifenc avifdec cjxl djxl ffmpeg"
packages="time libjpeg-turbo-progs libopenjp2-tools webp libavif-bin libjxl-tools ffmpeg"
missing=0
for t in $tools; do
  path=${t#*:}
  if [ "$path" = "$t" ]; then command -v "$t" >/dev/null || missing=1; else [ -x "$path" ] || missing=1; fi
done
[ "$missing" = 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "install-peers: no apt-get; install the equivalents of: $packages" >&2; exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"
  else echo "install-peers: not root; run: sudo apt-get install $packages" >&2; exit 0; fi
fi
echo "install-peers: installing $packages" >&2
$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $packages >&2 \
  || echo "install-peers: apt-get failed; missing codecs will be skipped" >&2
