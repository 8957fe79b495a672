#!/usr/bin/env bash
# Issue 26's campaign, with issue 27's context model inside it: one model,
# one checkpoint, one learning curve. Resumes from training-state/ when run
# again. bf16 autocast is chosen at start-up from the CPU (it is logged).
#
# Phase 1 (training-state/scc-base-v3.*, 820.9 cumulative minutes; the script
# as of commit b2569cb): base v2 (N=64, M=192, ten levels; issue 12's 451
# minutes) widened to N=128 function-preserving, then 370 minutes of all of it.
#
# Phase 2 (this script): phase 1's codec and a channel-conditional context
# model (6 slices, networks 48 and 16 wide; started from the frozen-v2 run
# scripts/train-context-v2.sh made) train together; y's bits under the
# hyperprior alone stay in the loss for fine-grained streams. --minutes is
# this phase's total (what is left of phase 1's 30 hours): the learning rate
# warms up over its first 2%, holds, and decays linearly over its last 60%.
# The weights' moving average (--ema) is what the learning curve measures
# every 15 minutes (it continues phase 1's, and logs the hyperprior's BD
# beside the codec's) and what export ships.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/base-v3c}
STATE=training-state/scc-base-v3c
PHASE1=training-state/scc-base-v3
mkdir -p "$WORK"
if [ ! -f "$WORK/checkpoint.pt" ]; then
    if [ -f "$STATE.checkpoint.pt" ]; then
        cp "$STATE.checkpoint.pt" "$WORK/checkpoint.pt"
        cp "$STATE.train_log.jsonl" "$WORK/train_log.jsonl"
    fi
    src=$([ -f "$STATE.val_log.jsonl" ] && echo "$STATE" || echo "$PHASE1")
    cp "$src.val_log.jsonl" "$WORK/val_log.jsonl"
    cp training-state/scc-base-v2.val_reference.json "$WORK/val_reference.json"
fi
exec nice -n 10 .venv/bin/scc train "${TRAIN_DATA:-../shared/data/train}" --workdir "$WORK" \
    --channels 128 --latent-channels 192 \
    --lambdas 0.0008,0.0018,0.0035,0.0067,0.013,0.025,0.0483,0.0932,0.18,0.36 \
    --widen-from "$PHASE1.checkpoint.pt" \
    --context-slices 6 --context-hidden 48,16 --context-from training-state/scc-context-v2-b.checkpoint.pt \
    --ema 0.999 --val-minutes 15 --val-reference training-state/scc-hyperprior-n64.checkpoint.pt \
    --crop 192 --batch 8 --lr 1e-4 --threads "${THREADS:-2}" --minutes "${MINUTES:-1430}" "$@"
