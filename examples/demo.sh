#!/usr/bin/env bash
# The main job on the sample photo: encode, inspect, cut to a byte budget,
# decode, and measure; then one spatially scalable stream decoded at several
# sizes and cut to what a smaller screen needs. Everything lands in demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-out
mkdir -p "$out"
src=examples/sample.png

echo "== encode $src at quality 4"
scc encode "$src" "$out/sample.scc" -q 4 --force
echo "== info"
scc info "$out/sample.scc"
echo "== truncate to at most 60000 bytes (whole chunks only)"
scc truncate "$out/sample.scc" "$out/sample-cut.scc" --bytes 60000 --force
echo "== decode"
scc decode "$out/sample-cut.scc" "$out/sample-decoded.png" --force
bytes=$(stat -c %s "$out/sample-cut.scc")
read -r w h < <(scc info "$out/sample-cut.scc" --json | python3 -c \
    'import json,sys; d=json.load(sys.stdin); print(d["width"], d["height"])')
echo "== result"
echo "stream: $bytes bytes, $(python3 -c "print(f'{8*$bytes/($w*$h):.4f}')") bpp for ${w}x${h}"
echo -n "quality of $out/sample-decoded.png vs $src: "
scc compare "$src" "$out/sample-decoded.png"

echo "== spatially scalable: a base layer and enhancement layers at 1.6x and 2.4x of it"
scc encode "$src" "$out/layers.scc" -q 4 --scales 1,1.6,2.4 --force
scc info "$out/layers.scc"
for s in 1 1.6 2 2.4 3; do
    scc decode "$out/layers.scc" "$out/layers-x$s.png" --scale "$s" --force
done
echo "== keep only what 1.6x needs, and decode it"
scc truncate "$out/layers.scc" "$out/layers-1.6.scc" --scale 1.6 --force
scc decode "$out/layers-1.6.scc" "$out/layers-1.6.png" --force
cmp "$out/layers-1.6.png" "$out/layers-x1.6.png" && echo "identical to decoding the whole stream at 1.6x"
