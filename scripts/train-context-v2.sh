#!/usr/bin/env bash
# Issue 27's first measurement: a channel-conditional context model trained
# alone over the shipped base codec (scc-base-v2), every part of which stays
# frozen, so its learning curve (held-out photos, against v2 itself) is the
# context model's gain on fixed transforms. Resumable: run it again.
# --minutes is this run's total; the learning rate decays over its last 60%.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/context-v2}
BASE=training-state/scc-base-v2.checkpoint.pt
STATE=training-state/scc-context-v2
mkdir -p "$WORK"
if [ ! -f "$WORK/checkpoint.pt" ] && [ -f "$STATE.checkpoint.pt" ]; then
    cp "$STATE.checkpoint.pt" "$WORK/checkpoint.pt"
    cp "$STATE".*log.jsonl "$STATE.val_reference.json" "$WORK/" 2>/dev/null || true
    for f in "$WORK"/scc-context-v2.*; do mv "$f" "$WORK/${f##*/scc-context-v2.}"; done
fi
exec nice -n 10 .venv/bin/scc train "${TRAIN_DATA:-../shared/data/train}" --workdir "$WORK" \
    --context-base "$BASE" --context-slices "${SLICES:-6}" \
    --ema 0.999 --val-minutes 10 --val-reference "$BASE" \
    --crop 192 --batch 8 --lr 5e-4 --threads "${THREADS:-1}" --minutes "${MINUTES:-90}" "$@"
