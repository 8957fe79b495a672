#!/usr/bin/env bash
# Issue 26's periodic check (every 5 training hours): export the base v3
# campaign's averaged weights and measure Kodak at four qualities with real
# files against JPEG 2000 (results/kodak-base-v3-check/, written by scc bench).
# Whenever that beats the shipped base over the whole range, ship it (model
# card, README, make bench).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/base-v3c}
.venv/bin/scc export "$WORK/checkpoint.pt" "$WORK/check.npz" --data "${TRAIN_DATA:-../shared/data/train}" --force
.venv/bin/scc bench "${KODAK:-../shared/data/kodak}" --codecs scalecodec,jpeg2000 --model "$WORK/check.npz" \
    --qualities 2,4,7,10 --no-scalable --large 0 -o results/kodak-base-v3-check --force
