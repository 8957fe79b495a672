#!/usr/bin/env bash
# Issue 26's campaign: base v2 (N=64, M=192, ten levels; issue 12's 451
# minutes) with its transforms widened to N=128, function-preserving (the
# widened codec starts exactly at v2), then everything trains. Resumes from
# training-state/ when run again. --minutes is the campaign's total (30 h):
# the learning rate warms up over its first 2%, holds, and decays linearly
# over its last 60%. The weights' moving average (--ema) is what the learning
# curve measures every 15 minutes and what export ships. bf16 autocast is
# chosen at start-up from the CPU (it is logged).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/base-v3}
STATE=training-state/scc-base-v3
mkdir -p "$WORK"
if [ ! -f "$WORK/checkpoint.pt" ]; then
    if [ -f "$STATE.checkpoint.pt" ]; then
        cp "$STATE.checkpoint.pt" "$WORK/checkpoint.pt"
        cp "$STATE.train_log.jsonl" "$WORK/train_log.jsonl"
    fi
    # The learning curve continues v2's (the widened codec is v2 at first).
    src=$([ -f "$STATE.val_log.jsonl" ] && echo "$STATE" || echo training-state/scc-base-v2)
    cp "$src.val_log.jsonl" "$WORK/val_log.jsonl"
    cp training-state/scc-base-v2.val_reference.json "$WORK/val_reference.json"
fi
exec nice -n 10 .venv/bin/scc train "${TRAIN_DATA:-../shared/data/train}" --workdir "$WORK" \
    --channels 128 --latent-channels 192 \
    --lambdas 0.0008,0.0018,0.0035,0.0067,0.013,0.025,0.0483,0.0932,0.18,0.36 \
    --widen-from training-state/scc-base-v2.checkpoint.pt \
    --ema 0.999 --val-minutes 15 --val-reference training-state/scc-hyperprior-n64.checkpoint.pt \
    --crop 192 --batch 8 --lr 1e-4 --threads "${THREADS:-2}" --minutes "${MINUTES:-1800}" "$@"
